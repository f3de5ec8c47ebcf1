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
    std::string pinned_at, pin_reason;  // pin_reason: cut to max_pin_reason bytes
    std::optional<std::uint64_t> release, upstream, drift, behind, pinned_release;
    std::uint64_t consecutive_failures = 0;
    bool held = false, pinned = false, on_pin = false, interrupted = false;
    bool on_newest = false;  // reachable, status read, and running the newest release
    bool converged = false;  // on the newest release, or on its pin (an operator's; a hold is no pin here)
    // The node's name when it answered, else its nodes file entry.
    const std::string& label() const { return name.empty() ? target : name; }
};

// The newest release, and where that was learnt ("the primary's repository PATH", ...).
struct NewestKnown {
    std::optional<std::uint64_t> release;  // nullopt: nothing published
    std::string source;
};

struct ClusterView {
    std::vector<NodeView> nodes;
    std::optional<std::uint64_t> newest;  // the newest release (see compare)
    std::string newest_source;            // where newest comes from
    bool converged = false;               // every node reachable and on the newest release or its pin
};

// How a node's row reads: "on newest", "pinned" (on its pin), "held", "behind", "unreachable", "status
// failed".
std::string state_of(const NodeView& node);

// A node's view from its `status --json` call.
NodeView view_of(const sync::ClusterNode& node, const sync::NodeCall& status_call);
// Fills newest, behind, on_newest and converged. The newest release is `known`'s (the repository this machine
// follows) when given, else the newest any node runs or has fetched.
ClusterView compare(std::vector<NodeView> nodes, const std::optional<NewestKnown>& known = std::nullopt);

// The summary after the table: "all 3 node(s) on r42", "all 3 node(s) on r42 or their pin (1 pinned)",
// "2 of 3 node(s) on r42, 1 on its pin, 1 unreachable"; `noun` is "node(s)" or "nodes".
std::string verdict_text(const ClusterView& view, const std::string& noun);

struct ReleaseView {
    std::uint64_t number = 0;
    std::string commit, time, node, message;
    std::uint64_t added = 0, modified = 0, deleted = 0;
    std::optional<std::uint64_t> restores;  // a rollback: the release it restores (Depsync-Restores)
};
// Releases from a `log --json` answer.
std::vector<ReleaseView> releases_of(const std::string& log_json);

}  // namespace depsync::cli
