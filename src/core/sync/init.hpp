#pragma once
// init: create what a node needs (folders, repository, state). Safe to run again: it reports what exists.

#include <string>
#include <vector>

#include "core/sync/settings.hpp"

namespace depsync::sync {

// Returns one line per thing created or found.
std::vector<std::string> init_node(const Settings& settings);

}  // namespace depsync::sync
