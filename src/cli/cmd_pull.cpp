// depsync pull: fetch the newest release and apply it to this peer's deployment directory.

#include <iostream>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/sync/pull.hpp"

namespace depsync::cli {
namespace {

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
            std::cout << "pinned at r" << r.to->number << " (upstream at r" << r.upstream->number << ")\n";
            return;
        case sync::PullOutcome::planned:
            std::cout << "would apply " << sync::release_name(from) << " -> r" << r.to->number << " "
                      << counts_text(r.plan.counts) << "\n";
            for (const auto& line : sync::describe_plan(r.plan)) std::cout << "  " << line << "\n";
            for (const auto& p : r.plan.kept) std::cout << "  leave  " << p << "  (local change kept)\n";
            if (r.plan.empty()) std::cout << "  (no file changes)\n";
            return;
        case sync::PullOutcome::applied:
            std::cout << sync::release_name(from) << " -> r" << r.to->number << " "
                      << counts_text(r.plan.counts) << "\n";
            if (!r.backup_dir.empty())
                std::cout << "saved " << r.plan.backups << " local file(s) to " << r.backup_dir.string()
                          << "\n";
            if (!r.plan.kept.empty()) {
                std::cout << "left " << r.plan.kept.size() << " local change(s) alone:\n";
                for (const auto& p : r.plan.kept) std::cout << "  " << p << "\n";
            }
            return;
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
    cmd->callback([&ctx] {
        sync::Settings settings = make_settings(ctx.global);
        sync::PullOptions options;
        options.dry_run = ctx.cmd.dry_run;
        options.accept_rewrite = ctx.cmd.accept_rewrite;
        if (!ctx.cmd.to.empty()) options.to = ctx.cmd.to;
        print_result(sync::pull(settings, options));
    });
}

}  // namespace depsync::cli
