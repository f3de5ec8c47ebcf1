#pragma once
// Files a killed run leaves in a repository: temp objects and packs, and `.lock` files that would make every
// later ref update fail. Only called while depsync's own node lock is held, which proves no other depsync
// run is active; lock files younger than `lock_min_age` may belong to a plain git writing right now: they are
// kept, or with `wait_for_young_locks` waited for until they are gone or old enough to be cleared.

#include <git2.h>

#include <chrono>
#include <cstddef>

namespace depsync::git {

// Returns how many files were removed.
std::size_t clear_leftovers(git_repository* repo, std::chrono::seconds lock_min_age,
                            bool wait_for_young_locks = false);

}  // namespace depsync::git
