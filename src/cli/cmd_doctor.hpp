#pragma once
// `depsync doctor`, and what `cluster doctor` prints of every node's `doctor --json` answer (cmd_doctor.cpp;
// cmd_cluster.cpp asks).

#include <vector>

#include "cli/context.hpp"
#include "core/sync/cluster.hpp"

namespace depsync::cli {

// doctor: this node checked, each problem with its fix.
void add_doctor(CLI::App& app, Context& ctx);

// Prints one summary per node (text, or with `json` an array) and returns whether every node answered and
// is healthy.
bool print_cluster_doctor(const std::vector<sync::ClusterNode>& nodes,
                          const std::vector<sync::NodeCall>& calls, bool json);

}  // namespace depsync::cli
