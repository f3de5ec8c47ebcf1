// depsync publish: commit the deployment directory as the next release (primary).

#include <chrono>
#include <iostream>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/git/handle.hpp"
#include "core/printable.hpp"
#include "core/sync/metrics.hpp"
#include "core/sync/publish.hpp"
#include "core/sync/run_record.hpp"

namespace depsync::cli {

namespace {
// Mirror lines come after the result line, which scripts read first.
void print_mirrors(const sync::PublishResult& r) {
    for (const auto& m : r.mirrors) {
        if (m.pushed) std::cout << "mirror " << printable(m.url) << ": pushed\n";
        if (!m.error.empty())
            std::cout << "mirror " << printable(m.url) << ": FAILED, retried on the next publish\n";
    }
}
}  // namespace

void add_publish(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("publish", "Publish the deployment directory as a new release (primary)");
    cmd->add_option("-m,--message", ctx.cmd.message, "Release message");
    cmd->footer(
        "Prints 'published rN <id> (+added ~modified -deleted)' or 'nothing to publish: rN is current'.\n"
        "Archives (.car .zip .jar .mar .aar) still being written are waited for (--settle), then refused.\n"
        "Example: depsync publish -m 'deploy Orders 1.0.1'");
    cmd->callback([&ctx] {
        sync::Settings settings = make_settings(ctx.global);
        auto start = std::chrono::steady_clock::now();
        auto elapsed = [&] {
            return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        };
        sync::PublishResult r;
        try {
            r = sync::publish(settings, {ctx.cmd.message});
        } catch (const Error& e) {
            // As for pull: a lost race for the lock or a usage error is not a failed run of this node.
            if (e.code() != ExitCode::locked && e.code() != ExitCode::usage)
                sync::record_failure(settings, elapsed(), e.what());
            throw;
        }
        sync::record_run(settings.state, elapsed(), "");
        sync::write_metrics(settings);
        if (!r.published) {
            std::cout << "nothing to publish: "
                      << sync::release_name(r.release ? std::optional(r.release->number) : std::nullopt)
                      << " is current\n";
            print_mirrors(r);
            return;
        }
        std::cout << "published r" << r.release->number << " " << git::short_hex(r.release->commit) << " "
                  << counts_text(r.counts) << "\n";
        print_mirrors(r);
    });
}

}  // namespace depsync::cli
