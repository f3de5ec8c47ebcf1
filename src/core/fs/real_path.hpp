#pragma once
// Comparing configured paths as the kernel will see them: with every symlink resolved, so two names for one
// folder (or a folder reached through a link into another) are recognised as the same place.

#include <filesystem>

namespace depsync::fs {

// The absolute path `path` names with its symlinks resolved: the real path of its nearest existing ancestor
// with the rest (which does not exist yet) appended. For comparing paths, never for opening them: a later
// change on disk can make the answer stale.
std::filesystem::path resolved_path(const std::filesystem::path& path);

// Whether `inner` is `outer` or lies below it, comparing whole components of both as given.
bool is_within(const std::filesystem::path& inner, const std::filesystem::path& outer);

}  // namespace depsync::fs
