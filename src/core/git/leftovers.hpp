#pragma once
// Files a killed run leaves in a repository: temp objects and packs, and `.lock` files that would make every
// later ref update fail. Only called while depsync's own node lock is held, which proves no other depsync
// run is active; lock files younger than `lock_min_age` are kept in case plain git is writing right now.

#include <git2.h>

#include <chrono>
#include <cstddef>

namespace depsync::git {

// Returns how many files were removed.
std::size_t clear_leftovers(git_repository* repo, std::chrono::seconds lock_min_age);

}  // namespace depsync::git
