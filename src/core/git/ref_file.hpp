#pragma once
// Reading a ref straight from a repository's files, without libgit2: a loose ref file, else its line in
// packed-refs. For the checks that end a run early (a no-op pull or publish), so that such a run never
// starts libgit2. Anything unusual (a symbolic ref, an unreadable or malformed file) gives nullopt, and the
// caller takes its ordinary path through libgit2, which settles it.

#include <git2.h>

#include <filesystem>
#include <optional>
#include <string>

namespace depsync::git {

// The id `name` (e.g. "refs/heads/main") points at in the bare repository `git_dir`; nullopt when the ref
// does not exist or cannot be read this simply.
std::optional<git_oid> read_ref_file(const std::filesystem::path& git_dir, const std::string& name);

}  // namespace depsync::git
