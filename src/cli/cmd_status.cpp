// depsync status: which release this node runs (local state only).

#include <iostream>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/git/handle.hpp"
#include "core/printable.hpp"
#include "core/sync/status.hpp"

namespace depsync::cli {
namespace {

std::string release_line(const std::optional<sync::Release>& r) {
    if (!r) return "none";
    return "r" + std::to_string(r->number) + " " + git::short_hex(r->commit) + " " + iso_time(r->time) +
           " (" + printable(r->node) + ")";
}

void add_release(JsonObject& o, const std::string& prefix, const std::optional<sync::Release>& r) {
    if (!r) {
        o.add_null(prefix + "release").add_null(prefix + "commit").add_null(prefix + "time");
        return;
    }
    o.add(prefix + "release", static_cast<std::uint64_t>(r->number))
        .add(prefix + "commit", git::to_hex(r->commit))
        .add(prefix + "time", iso_time(r->time));
}

// Keys for the cluster view and monitoring: held, the last runs' facts, releases behind. Empty texts are
// null.
void add_run_facts(JsonObject& o, const sync::NodeStatus& s) {
    auto text_or_null = [&o](const char* key, const std::string& value) {
        if (value.empty()) {
            o.add_null(key);
        } else {
            o.add(key, value);
        }
    };
    o.add("held", s.held);
    text_or_null("held_reason", s.held_reason);
    text_or_null("last_success", s.run.last_success ? iso_time(s.run.last_success) : "");
    text_or_null("last_error", s.run.last_error);
    o.add("consecutive_failures", s.run.consecutive_failures);
    text_or_null("on_change_error", s.run.on_change_error);
    if (s.releases_behind) {
        o.add("releases_behind", *s.releases_behind);
    } else {
        o.add_null("releases_behind");
    }
}

void print_run_facts(const sync::NodeStatus& s) {
    if (s.releases_behind && *s.releases_behind > 0)
        std::cout << "behind:   " << *s.releases_behind << " release(s) (run 'depsync pull')\n";
    if (s.held)
        std::cout << "held:     " << printable(s.held_reason) << " (run 'depsync unpin' to release)\n";
    std::cout << "last ok:  " << (s.run.last_success ? iso_time(s.run.last_success) : "never") << "\n";
    if (!s.run.last_error.empty())
        std::cout << "error:    " << printable(s.run.last_error) << " (" << s.run.consecutive_failures
                  << " failed run(s) in a row)\n";
    if (!s.run.on_change_error.empty())
        std::cout << "on_change: " << printable(s.run.on_change_error) << "\n";
}

}  // namespace

void add_status(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("status", "Show the release this node runs");
    cmd->add_flag("--json", ctx.cmd.json, "Machine-readable output");
    cmd->footer(
        "Local state only (no network): release, drift, and on peers the newest fetched release, how many\n"
        "releases behind, pinned or held, last successful run and last error.\n"
        "Example: depsync status --json");
    cmd->callback([&ctx] {
        sync::NodeStatus s = sync::read_status(make_settings(ctx.global));
        if (ctx.cmd.json) {
            JsonObject o;
            o.add("role", sync::role_name(s.role)).add("node", s.node).add("dir", s.dir);
            add_release(o, "", s.release);
            if (s.drift) {
                o.add("drift", static_cast<std::uint64_t>(*s.drift));
            } else {
                o.add_null("drift");
            }
            if (s.role == sync::Role::peer) {
                add_release(o, "upstream_", s.upstream);
                o.add("pinned", s.pinned).add("interrupted", s.interrupted);
            }
            add_run_facts(o, s);
            std::cout << o.str() << "\n";
            return;
        }
        std::cout << "role:     " << sync::role_name(s.role) << "\n"
                  << "node:     " << printable(s.node) << "\n"
                  << "dir:      " << printable(s.dir) << "\n"
                  << "release:  " << release_line(s.release) << "\n";
        if (s.drift)
            std::cout << "drift:    " << *s.drift << " path(s) differ locally (see 'depsync verify')\n";
        if (s.role == sync::Role::peer) {
            std::cout << "upstream: " << release_line(s.upstream)
                      << (s.pinned ? "  (pinned: pull holds this node)" : "") << "\n";
            if (s.interrupted)
                std::cout << "note:     an apply was interrupted; the next pull completes it\n";
        }
        print_run_facts(s);
    });
}

}  // namespace depsync::cli
