#pragma once
// Fetching from a repository on a local path without building a pack.
//
// libgit2 serves local and file:// remotes by packing in-process with delta search, which takes tens of
// seconds on archives that do not delta. Objects are immutable files named by their content, so moving them
// between object databases directly is the fast path: loose objects are hard-linked (or copied across file
// systems), packed ones are read and written loose. Objects are copied children first (blobs, then trees,
// then the commit), so an object present locally always has its whole subtree present, even after a kill.

#include <git2.h>

#include <filesystem>

#include "core/git/fetch.hpp"

namespace depsync::git {

FetchOutcome fetch_local(git_repository* repo, const std::filesystem::path& source,
                         const FetchRequest& request);

}  // namespace depsync::git
