// depsync log and diff: what each release changed, from the node's local repository.

#include <iostream>
#include <optional>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/git/handle.hpp"
#include "core/printable.hpp"
#include "core/sync/history.hpp"
#include "core/sync/release.hpp"

namespace depsync::cli {
namespace {

// The release the node's directory holds (primary: the branch; peer: the deployed one).
bool is_current(const sync::NodeRepo& node, const sync::LogEntry& e) {
    return node.current && git_oid_equal(&*node.current, &e.release.commit);
}

void run_log(Context& ctx) {
    sync::Settings settings = make_settings(ctx.global);
    sync::NodeRepo node = sync::open_node_repo(settings);
    auto entries = sync::release_log(node, ctx.cmd.limit, sync::tree_limits(settings));
    if (ctx.cmd.json) {
        Json items = Json::array();
        for (const auto& e : entries) {
            Json o = {{"release", static_cast<std::uint64_t>(e.release.number)},
                      {"commit", git::to_hex(e.release.commit)},
                      {"time", iso_time(e.release.time)},
                      {"node", e.release.node},
                      {"host", e.release.host},
                      {"message", e.release.subject},
                      {"added", static_cast<std::uint64_t>(e.counts.added)},
                      {"modified", static_cast<std::uint64_t>(e.counts.modified)},
                      {"deleted", static_cast<std::uint64_t>(e.counts.deleted)},
                      {"unsafe", or_null(e.unsafe)},
                      {"restores", or_null(e.release.restores)},
                      {"current", is_current(node, e)}};
            if (auto sig = sync::release_signature(settings, node.repo.get(), e.release.commit)) {
                o["signature"] = git::signature_state_name(sig->state);
                o["signer"] = sig->state == git::SignatureState::good ? Json(sig->principal) : Json(nullptr);
            }
            items.push_back(std::move(o));
        }
        std::cout << json_text(items) << "\n";
        return;
    }
    if (entries.empty()) std::cout << "no releases yet\n";
    for (const auto& e : entries) {
        std::cout << "r" << e.release.number << "  " << git::short_hex(e.release.commit) << "  "
                  << iso_time(e.release.time) << "  " << printable(e.release.node)
                  << printable(e.release.host.empty() || e.release.host == e.release.node
                                   ? ""
                                   : "@" + e.release.host)
                  << "  " << counts_text(e.counts) << "  " << printable(e.release.subject);
        if (e.release.restores) std::cout << "  [restores r" << *e.release.restores << "]";
        if (is_current(node, e)) std::cout << "  [current]";
        if (e.unsafe) std::cout << "  [unsafe: " << printable(*e.unsafe) << "; not applied]";
        if (auto sig = sync::release_signature(settings, node.repo.get(), e.release.commit))
            std::cout << "  [signature: " << printable(signature_text(*sig)) << "]";
        std::cout << "\n";
    }
}

void run_diff(Context& ctx) {
    sync::Settings settings = make_settings(ctx.global);
    sync::NodeRepo node = sync::open_node_repo(settings);
    git_oid from = sync::resolve_release(node, ctx.cmd.rev);
    git_oid to;
    if (!ctx.cmd.rev2.empty()) {
        to = sync::resolve_release(node, ctx.cmd.rev2);
    } else if (node.current) {
        to = *node.current;
    } else {
        throw Error("this node runs no release yet: name both releases", ExitCode::usage);
    }
    auto changes = sync::diff_releases(node, from, to, sync::tree_limits(settings));
    if (ctx.cmd.json) {
        Json items = Json::array();
        for (const auto& c : changes)
            items.push_back(Json{{"status", std::string(1, c.status)}, {"path", c.path}});
        Json o = {{"from", static_cast<std::uint64_t>(sync::describe_release(node.repo.get(), from).number)},
                  {"to", static_cast<std::uint64_t>(sync::describe_release(node.repo.get(), to).number)},
                  {"changes", items}};
        std::cout << json_text(o) << "\n";
        return;
    }
    if (changes.empty()) {
        std::cout << "no differences between r" << sync::describe_release(node.repo.get(), from).number
                  << " and r" << sync::describe_release(node.repo.get(), to).number << "\n";
        return;
    }
    for (const auto& c : changes) std::cout << c.status << " " << printable(c.path) << "\n";
}

}  // namespace

void add_history(CLI::App& app, Context& ctx) {
    auto* log = app.add_subcommand("log", "List releases, newest first (works offline on a peer)");
    log->add_option("-n,--max-count", ctx.cmd.limit, "How many releases (0: all)")->capture_default_str();
    log->add_flag("--json", ctx.cmd.json, "Machine-readable output");
    log->footer(
        "Each line: rN, commit, time, node@host, (+added ~modified -deleted), message; rollbacks say\n"
        "which release they restored, and [current] marks the release this node runs. With\n"
        "allowed_signers set, each line ends with the signature: [signature: good (SIGNER)], unsigned,\n"
        "unknown key or bad. Example: depsync log -n 5");
    log->callback([&ctx] { run_log(ctx); });

    auto* diff = app.add_subcommand("diff", "Paths that differ between two releases");
    diff->add_option("REV", ctx.cmd.rev, "Release: rN, commit id (7+ hex), tag, or 'previous'")->required();
    diff->add_option("REV2", ctx.cmd.rev2, "Second release (default: the one this node runs)");
    diff->add_flag("--json", ctx.cmd.json, "Machine-readable output");
    diff->footer(
        "Lines 'A path', 'M path', 'D path' (folders end in '/'; renames show as D + A).\n"
        "Example: depsync diff r3 r5");
    diff->callback([&ctx] { run_diff(ctx); });
}

}  // namespace depsync::cli
