#pragma once
// A node's roots, each opened once for the whole run. The scan, the staging and commit of an apply, its
// backups, verify and publish all work through these descriptors, never through the path again: a root (or a
// folder above it) replaced by a symlink during the run changes nothing, and one that is a symlink before
// the run is refused.

#include <filesystem>
#include <string>
#include <vector>

#include "core/fs/unique_fd.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

struct OpenRoot {
    std::string name;           // as in Root: "" for a single directory
    std::filesystem::path dir;  // for messages only
    fs::UniqueFd fd;
};
using OpenRoots = std::vector<OpenRoot>;

// Opens every root without following a symlink in any component of its path. Throws Error(usage) when one
// is missing, is a symlink, or lies below one.
OpenRoots open_roots(const std::vector<Root>& roots);

}  // namespace depsync::sync
