#pragma once
// The cluster as its nodes describe themselves: each node's `status --json` read back into a NodeView, and
// the comparison that says how far each node is behind the newest release any of them knows.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/sync/cluster.hpp"

namespace depsync::cli {

struct NodeView {
    std::string target;      // the nodes file's entry
    bool reachable = false;  // the node answered (ssh connected, or the local binary ran)
    std::string error;       // why its status is unknown: unreachable, or status failed there
    std::string name, role, commit, last_success, last_error, on_change_error, held_reason;
    std::optional<std::uint64_t> release, upstream, drift, behind;
    std::uint64_t consecutive_failures = 0;
    bool held = false, pinned = false, interrupted = false;
    bool on_newest = false;  // reachable, status read, and running the newest release
    // The node's name when it answered, else its nodes file entry.
    const std::string& label() const { return name.empty() ? target : name; }
};

struct ClusterView {
    std::vector<NodeView> nodes;
    std::optional<std::uint64_t> newest;  // the newest release any node runs or has fetched
    bool converged = false;               // every node reachable and on the newest release
};

// A node's view from its `status --json` call.
NodeView view_of(const sync::ClusterNode& node, const sync::NodeCall& status_call);
// Fills newest, behind, on_newest and converged.
ClusterView compare(std::vector<NodeView> nodes);

struct ReleaseView {
    std::uint64_t number = 0;
    std::string commit, time, node, message;
    std::uint64_t added = 0, modified = 0, deleted = 0;
};
// Releases from a `log --json` answer.
std::vector<ReleaseView> releases_of(const std::string& log_json);

}  // namespace depsync::cli
