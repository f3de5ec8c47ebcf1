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

// ", 1 path held back (...)" after the release line; empty when nothing is held back.
std::string held_back_text(std::size_t held_back) {
    if (held_back == 0) return "";
    return ", " + std::to_string(held_back) + (held_back == 1 ? " path" : " paths") +
           " held back (local change kept over the release's; 'depsync repair' restores the release)";
}

void add_release(Json& o, const std::string& prefix, const std::optional<sync::Release>& r) {
    o[prefix + "release"] = r ? Json(static_cast<std::uint64_t>(r->number)) : Json(nullptr);
    o[prefix + "commit"] = r ? Json(git::to_hex(r->commit)) : Json(nullptr);
    o[prefix + "time"] = r ? Json(iso_time(r->time)) : Json(nullptr);
}

// Keys for the cluster view and monitoring: held, the last runs' facts, releases behind. Empty texts are
// null.
void add_run_facts(Json& o, const sync::NodeStatus& s) {
    o["held"] = s.held;
    o["held_reason"] = text_or_null(s.held_reason);
    o["last_success"] = text_or_null(s.run.last_success ? iso_time(s.run.last_success) : "");
    o["last_error"] = text_or_null(s.run.last_error);
    o["consecutive_failures"] = s.run.consecutive_failures;
    o["on_change_error"] = text_or_null(s.run.on_change_error);
    o["releases_behind"] = or_null(s.releases_behind);
    // Plain values only: cluster views, older ones too, read every key as one.
    std::string paths;
    for (const auto& archive : s.run.malformed_archives) paths += (paths.empty() ? "" : "\n") + archive.first;
    o["malformed_archives"] = s.run.malformed_archives.size();
    o["malformed_archive_paths"] = text_or_null(paths);
}

std::string status_json(const sync::NodeStatus& s) {
    Json o = {{"role", sync::role_name(s.role)}, {"node", s.node}, {"dir", s.dir}};
    add_release(o, "", s.release);
    o["drift"] = s.drift ? Json(static_cast<std::uint64_t>(*s.drift)) : Json(nullptr);
    o["held_back"] = static_cast<std::uint64_t>(s.held_back);
    if (s.role == sync::Role::peer) {
        add_release(o, "upstream_", s.upstream);
        o["pinned"] = s.pinned;
        o["pinned_release"] = or_null(s.pinned_release);
        o["pinned_at"] = text_or_null(s.pinned ? iso_time(s.pinned_at) : "");
        o["pin_reason"] = text_or_null(s.pin_reason);
        o["on_pin"] = s.on_pin;
        o["interrupted"] = s.interrupted;
    }
    add_run_facts(o, s);
    return json_text(o);
}

// An operator's pin: the release, since when and why, and how to follow releases again.
void print_pin(const sync::NodeStatus& s) {
    std::cout << "pinned:   " << sync::release_name(s.pinned_release) << " since " << iso_time(s.pinned_at)
              << (s.pin_reason.empty() ? " (no reason given)" : " because: " + printable(s.pin_reason))
              << "\n";
    std::string runs = sync::release_name(s.release ? std::optional(s.release->number) : std::nullopt);
    if (!s.on_pin)
        std::cout << "          this node runs " << runs
                  << ", not its pin: the next 'depsync pull' returns it to "
                  << sync::release_name(s.pinned_release) << "\n";
    else if (s.releases_behind && *s.releases_behind > 0)
        std::cout << "          " << *s.releases_behind << " newer release(s) wait\n";
    std::cout << "          run 'depsync unpin', then 'depsync pull', to follow releases again\n";
}

void print_run_facts(const sync::NodeStatus& s) {
    // Behind its upstream is news only for a node that follows releases; a pin or hold says why it does not.
    if (s.releases_behind && *s.releases_behind > 0 && !s.pinned)
        std::cout << "behind:   " << *s.releases_behind << " release(s) (run 'depsync pull')\n";
    if (s.pinned && !s.held) print_pin(s);
    if (s.held && s.releases_behind && *s.releases_behind > 0)
        std::cout << "behind:   " << *s.releases_behind << " release(s) (held, see below)\n";
    if (s.held)
        std::cout << "held:     " << printable(s.held_reason) << " (run 'depsync unpin' to release)\n";
    std::cout << "last ok:  " << (s.run.last_success ? iso_time(s.run.last_success) : "never") << "\n";
    if (!s.run.last_error.empty())
        std::cout << "error:    " << printable(s.run.last_error) << " (" << s.run.consecutive_failures
                  << " failed run(s) in a row)\n";
    if (!s.run.on_change_error.empty())
        std::cout << "on_change: " << printable(s.run.on_change_error) << "\n";
    std::cout << malformed_archive_lines(s.run.malformed_archives);
}

void run_status(const Context& ctx) {
    sync::NodeStatus s = sync::read_status(make_settings(ctx.global));
    if (ctx.cmd.json) {
        std::cout << status_json(s) << "\n";
        return;
    }
    std::cout << "role:     " << sync::role_name(s.role) << "\n"
              << "node:     " << printable(s.node) << "\n"
              << "dir:      " << printable(s.dir) << "\n"
              << "release:  " << release_line(s.release) << held_back_text(s.held_back) << "\n";
    if (s.drift) std::cout << "drift:    " << *s.drift << " path(s) differ locally (see 'depsync verify')\n";
    if (s.role == sync::Role::peer) {
        std::cout << "upstream: " << release_line(s.upstream) << "\n";
        if (s.interrupted) std::cout << "note:     an apply was interrupted; the next pull completes it\n";
    }
    print_run_facts(s);
}

}  // namespace

void add_status(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("status", "Show the release this node runs");
    cmd->add_flag("--json", ctx.cmd.json, "Machine-readable output");
    cmd->footer(
        "Local state only (no network): release, drift, and on peers the newest fetched release, how many\n"
        "releases behind, the pin (release, since when, reason) or hold, last successful run and last\n"
        "error.\n"
        "Example: depsync status --json");
    cmd->callback([&ctx] { run_status(ctx); });
}

}  // namespace depsync::cli
