// depsync rollback (primary), pin and unpin (peer): choose which release runs.

#include <iostream>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/git/handle.hpp"
#include "core/printable.hpp"
#include "core/sync/pull.hpp"
#include "core/sync/recorded_run.hpp"
#include "core/sync/rollback.hpp"

namespace depsync::cli {

namespace {

// pin REV [--reason TEXT]: apply a release on this peer and hold it there.
void add_pin(CLI::App& app, Context& ctx) {
    auto* pin = app.add_subcommand("pin", "Apply a release on this peer and hold it there until unpin");
    pin->add_option("REV", ctx.cmd.rev, "Release: rN, commit id, tag, or 'previous'")->required();
    pin->add_option(
        "--reason", ctx.cmd.reason,
        "Why the node is held (one line, at most 200 bytes): status and the cluster view show it");
    pin->footer(
        "Later pulls fetch and report 'pinned at rK (upstream at rN)' but change nothing; status and\n"
        "cluster status show the pin, its time and reason as expected, not as a node behind.\n"
        "Example: depsync pin r41 --reason 'CHG-1042: payments freeze until Friday'");
    pin->callback([&ctx] {
        sync::PullOptions options;
        options.to = ctx.cmd.rev;
        options.pin = true;
        options.pin_reason = ctx.cmd.reason;
        sync::Settings settings = make_settings(ctx.global);
        sync::PullResult r;
        sync::run_recorded(settings, [&] {
            r = sync::pull(settings, options);
            return r.on_change_error;
        });
        if (r.outcome == sync::PullOutcome::reverted) {
            // on_change failed with on_change_failure = revert: held at the release it ran before, not at
            // REV.
            std::cout << "not pinned at r" << r.to->number << ": reverted to "
                      << sync::release_name(r.from->number)
                      << " and held there: " << printable(r.on_change_error) << "\n";
            ctx.exit_code = ExitCode::failure;
            return;
        }
        std::cout << "pinned at r" << r.to->number << " (upstream at r" << r.upstream->number << ")";
        if (!options.pin_reason.empty()) std::cout << " because: " << printable(options.pin_reason);
        std::cout << "\n";
        if (!r.on_change_error.empty()) {
            std::cout << printable(r.on_change_error) << "\n";
            ctx.exit_code = ExitCode::failure;
        }
    });
}

}  // namespace

void add_rollback(CLI::App& app, Context& ctx) {
    auto* rollback =
        app.add_subcommand("rollback", "Make an earlier release current again, cluster-wide (primary)");
    rollback->add_option("REV", ctx.cmd.rev, "Release to restore: rN, commit id, tag, or 'previous'")
        ->required();
    rollback->add_option("-m,--message", ctx.cmd.message, "Release message");
    rollback->add_flag("--force", ctx.cmd.force, "Save unpublished local changes to backup, then roll back");
    rollback->footer(
        "Creates a new release whose content is exactly REV's and applies it to this directory;\n"
        "history is never rewritten, peers follow on their next pull.\n"
        "Prints 'rollback: rN restores rK'. Example: depsync rollback previous -m 'Orders 1.0.1 broke'");
    rollback->callback([&ctx] {
        sync::Settings settings = make_settings(ctx.global);
        sync::RollbackResult r;
        sync::run_recorded(settings, [&] {
            r = sync::rollback(settings, {ctx.cmd.rev, ctx.cmd.message, ctx.cmd.force});
            return std::string();
        });
        if (!r.created) {
            std::cout << "nothing to roll back: r" << r.release.number << " already has the content of r"
                      << r.restored.number << "\n";
            return;
        }
        std::cout << "rollback: r" << r.release.number << " restores r" << r.restored.number << "\n";
        if (!r.backup_dir.empty())
            std::cout << "saved unpublished changes to " << printable(r.backup_dir.string()) << "\n";
    });

    add_pin(app, ctx);

    auto* unpin = app.add_subcommand("unpin", "Release the pin; the next pull moves to the newest release");
    unpin->footer(
        "Also releases a node held after a failed on_change (status shows 'held').\n"
        "Prints 'unpinned (was pinned at rK)' or 'not pinned'. Example: depsync unpin && depsync pull");
    unpin->callback([&ctx] {
        sync::Settings settings = make_settings(ctx.global);
        std::optional<std::uint64_t> was;
        sync::run_recorded(settings, [&] {
            was = sync::unpin(settings);
            return std::string();
        });
        if (was) {
            std::cout << "unpinned (was pinned at r" << *was
                      << "); the next pull moves to the newest release\n";
        } else {
            std::cout << "not pinned\n";
        }
    });
}

}  // namespace depsync::cli
