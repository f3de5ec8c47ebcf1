// depsync pull: fetch the newest release and apply it to this peer's deployment directory.

#include <chrono>
#include <iostream>
#include <random>
#include <thread>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/printable.hpp"
#include "core/sync/pull.hpp"
#include "core/sync/recorded_run.hpp"

namespace depsync::cli {
namespace {

// What the apply left as it was: the conflicts first (a kept local change over a path the release changed),
// then the local changes the release does not touch. In a dry run (`indent`), one line per path.
void print_left_alone(const sync::Plan& plan, const std::string& indent) {
    if (!indent.empty()) {
        for (const auto& p : plan.held_back)
            std::cout << indent << "leave  " << printable(p) << "  (kept over release change)\n";
        for (const auto& p : plan.kept)
            std::cout << indent << "leave  " << printable(p) << "  (local change kept)\n";
        return;
    }
    if (!plan.held_back.empty()) {
        std::size_t n = plan.held_back.size();
        std::cout << "kept over release change: " << n << (n == 1 ? " path" : " paths")
                  << " held back ('depsync repair' restores the release):\n";
        for (const auto& p : plan.held_back) std::cout << "  " << printable(p) << "\n";
    }
    if (!plan.kept.empty()) {
        std::cout << "left " << plan.kept.size() << " local change(s) alone:\n";
        for (const auto& p : plan.kept) std::cout << "  " << printable(p) << "\n";
    }
}

void print_result(const sync::PullResult& r) {
    auto from = r.from ? std::optional(r.from->number) : std::nullopt;
    switch (r.outcome) {
        case sync::PullOutcome::nothing_upstream:
            std::cout << "nothing published upstream yet\n";
            return;
        case sync::PullOutcome::up_to_date:
            std::cout << "up to date at " << sync::release_name(from) << "\n";
            return;
        case sync::PullOutcome::pinned:
            std::cout << (r.held_reason.empty() ? "pinned" : "held") << " at r" << r.to->number
                      << " (upstream at r" << r.upstream->number << ")";
            if (r.held_reason.empty() && !r.pin_reason.empty())
                std::cout << " because: " << printable(r.pin_reason);
            if (!r.held_reason.empty())
                std::cout << ": " << printable(r.held_reason) << "; run 'depsync unpin' to release";
            std::cout << "\n";
            return;
        case sync::PullOutcome::reverted:
            std::cout << sync::release_name(from) << " -> r" << r.to->number << " "
                      << counts_text(r.plan.counts) << "\nreverted to " << sync::release_name(from)
                      << " and held there: " << printable(r.on_change_error) << "\n";
            return;
        case sync::PullOutcome::planned:
            std::cout << "would apply " << sync::release_name(from) << " -> r" << r.to->number << " "
                      << counts_text(r.plan.counts) << "\n";
            for (const auto& line : sync::describe_plan(r.plan)) std::cout << "  " << printable(line) << "\n";
            print_left_alone(r.plan, "  ");
            if (r.plan.empty()) std::cout << "  (no file changes)\n";
            return;
        case sync::PullOutcome::applied:
            std::cout << sync::release_name(from) << " -> r" << r.to->number << " "
                      << counts_text(r.plan.counts) << "\n";
            if (!r.backup_dir.empty())
                std::cout << "saved " << r.plan.backups << " local file(s) to "
                          << printable(r.backup_dir.string()) << "\n";
            print_left_alone(r.plan, "");
            return;
    }
}

void run_pull(Context& ctx) {
    sync::Settings settings = make_settings(ctx.global);
    sync::PullOptions options;
    options.dry_run = ctx.cmd.dry_run;
    options.accept_rewrite = ctx.cmd.accept_rewrite;
    if (!ctx.cmd.to.empty()) options.to = ctx.cmd.to;
    if (ctx.cmd.jitter > 0) {
        std::mt19937_64 rng(std::random_device{}());
        std::uniform_real_distribution<double> delay(0, ctx.cmd.jitter);
        std::this_thread::sleep_for(std::chrono::duration<double>(delay(rng)));
    }
    sync::PullResult r;
    auto run = [&] {
        r = sync::pull(settings, options);
        return r.on_change_error;
    };
    sync::run_recorded_unless_dry(settings, options.dry_run, run);
    // -q: a run that changed nothing prints nothing (cron mails, the journal of a timer every minute).
    const bool no_op = r.outcome == sync::PullOutcome::up_to_date || r.outcome == sync::PullOutcome::pinned ||
                       r.outcome == sync::PullOutcome::nothing_upstream;
    if (!(ctx.global.quiet && no_op)) print_result(r);
    if (!r.on_change_error.empty()) {
        if (r.outcome != sync::PullOutcome::reverted) std::cout << printable(r.on_change_error) << "\n";
        ctx.exit_code = ExitCode::failure;
    }
}

}  // namespace

void add_pull(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("pull", "Fetch the newest release and apply it here (peer)");
    cmd->add_flag("--dry-run", ctx.cmd.dry_run, "List the planned changes; touch nothing");
    cmd->add_option("--to", ctx.cmd.to,
                    "Apply this release once (rN, commit id, tag, 'previous'), without pinning");
    cmd->add_flag("--accept-rewrite", ctx.cmd.accept_rewrite,
                  "Apply even when upstream history no longer contains the deployed release");
    cmd->footer(
        "Prints 'rN -> rM (+added ~modified -deleted)' or 'up to date at rN'.\n"
        "Only changed files are written, each to a dot-prefixed temp file renamed into place;\n"
        "removals happen before new files appear. Exit 3 when another run holds the lock (see --wait).\n"
        "Example (cron): * * * * * root depsync -q pull");
    cmd->add_option("--jitter", ctx.cmd.jitter,
                    "Wait a random 0..SECONDS first, so a cluster's cron runs do not all start at once");
    cmd->callback([&ctx] { run_pull(ctx); });
}

}  // namespace depsync::cli
