#include "cli/cluster_view.hpp"

#include <algorithm>
#include <stdexcept>

#include "cli/output.hpp"
#include "core/sync/node_state.hpp"

namespace depsync::cli {
namespace {

// The objects of a document that is one flat object or an array of them (what status --json and log --json
// print); throws std::runtime_error on anything else.
std::vector<nlohmann::json> flat_objects(const std::string& text) {
    nlohmann::json document = parse_json(text);
    std::vector<nlohmann::json> objects;
    if (document.is_array()) {
        objects.assign(document.begin(), document.end());
    } else {
        objects.push_back(std::move(document));
    }
    for (const nlohmann::json& o : objects) {
        if (!o.is_object()) throw std::runtime_error("cannot read JSON (expected an object)");
        for (const auto& item : o.items())
            if (item.value().is_structured())
                throw std::runtime_error("cannot read JSON (" + item.key() + " is not a plain value)");
    }
    return objects;
}

std::string text_of(const nlohmann::json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

std::optional<std::uint64_t> number_of(const nlohmann::json& o, const char* key) {
    auto it = o.find(key);
    if (it == o.end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<std::uint64_t>();
}

bool flag_of(const nlohmann::json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

NodeView view_of(const sync::ClusterNode& node, const sync::NodeCall& call) {
    NodeView v;
    v.target = node.target;
    v.reachable = call.reached;
    if (!call.ok()) {
        v.error = call.error;
        return v;
    }
    nlohmann::json o;
    try {
        std::vector<nlohmann::json> objects = flat_objects(call.out);
        if (objects.size() != 1) throw std::runtime_error("expected one object");
        o = objects[0];
    } catch (const std::exception& e) {
        v.error = std::string("unexpected answer to status --json (") + e.what() + ")";
        return v;
    }
    v.name = text_of(o, "node");
    v.role = text_of(o, "role");
    v.commit = text_of(o, "commit");
    v.release = number_of(o, "release");
    v.upstream = number_of(o, "upstream_release");
    v.drift = number_of(o, "drift");
    v.last_success = text_of(o, "last_success");
    v.last_error = text_of(o, "last_error");
    v.on_change_error = text_of(o, "on_change_error");
    v.held_reason = text_of(o, "held_reason");
    v.consecutive_failures = number_of(o, "consecutive_failures").value_or(0);
    v.held = flag_of(o, "held");
    v.pinned = flag_of(o, "pinned");
    v.on_pin = flag_of(o, "on_pin");
    v.pinned_release = number_of(o, "pinned_release");
    v.pinned_at = text_of(o, "pinned_at");
    // Operator text from the node: a pin set by this version is bounded already, a hand-edited one is cut.
    v.pin_reason = text_of(o, "pin_reason").substr(0, sync::max_pin_reason);
    v.interrupted = flag_of(o, "interrupted");
    return v;
}

std::string state_of(const NodeView& n) {
    if (!n.reachable) return "unreachable";
    if (!n.error.empty()) return "status failed";
    if (n.on_newest) return "on newest";
    if (n.held) return "held";
    if (n.converged) return "pinned";
    return "behind";
}

ClusterView compare(std::vector<NodeView> nodes, const std::optional<NewestKnown>& known) {
    ClusterView view;
    if (known) {
        view.newest = known->release;
        view.newest_source = known->source;
    } else {
        for (const NodeView& n : nodes) {
            if (!n.error.empty()) continue;
            for (const auto& r : {n.release, n.upstream})
                if (r) view.newest = std::max(view.newest.value_or(0), *r);
        }
        view.newest_source = "the newest release any node runs or has fetched";
    }
    view.converged = true;
    for (NodeView& n : nodes) {
        if (n.error.empty()) {
            std::uint64_t runs = n.release.value_or(0), newest = view.newest.value_or(0);
            n.behind = newest > runs ? newest - runs : 0;
            n.on_newest = *n.behind == 0;
            // A pin is the operator's intent: a node that runs it is where it should be.
            n.converged = n.on_newest || (n.pinned && n.on_pin && !n.held);
        }
        view.converged = view.converged && n.converged;
    }
    view.nodes = std::move(nodes);
    return view;
}

std::string verdict_text(const ClusterView& view, const std::string& noun) {
    std::size_t on_newest = 0, on_pin = 0, unreachable = 0;
    for (const NodeView& n : view.nodes) {
        on_newest += n.on_newest ? 1 : 0;
        on_pin += n.converged && !n.on_newest ? 1 : 0;
        unreachable += n.reachable ? 0 : 1;
    }
    std::string newest = view.newest ? "r" + std::to_string(*view.newest) : "no release";
    std::string all = std::to_string(view.nodes.size());
    if (view.converged)
        return "all " + all + " " + noun + " on " + newest +
               (on_pin ? " or their pin (" + std::to_string(on_pin) + " pinned)" : "");
    std::string text = std::to_string(on_newest) + " of " + all + " " + noun + " on " + newest;
    if (on_pin) text += ", " + std::to_string(on_pin) + " on their pin";
    if (unreachable) text += ", " + std::to_string(unreachable) + " unreachable";
    return text;
}

std::vector<ReleaseView> releases_of(const std::string& log_json) {
    std::vector<ReleaseView> out;
    for (const nlohmann::json& o : flat_objects(log_json)) {
        ReleaseView r;
        r.number = number_of(o, "release").value_or(0);
        r.commit = text_of(o, "commit");
        r.time = text_of(o, "time");
        r.node = text_of(o, "node");
        r.message = text_of(o, "message");
        r.added = number_of(o, "added").value_or(0);
        r.modified = number_of(o, "modified").value_or(0);
        r.deleted = number_of(o, "deleted").value_or(0);
        r.restores = number_of(o, "restores");
        out.push_back(r);
    }
    return out;
}

}  // namespace depsync::cli
