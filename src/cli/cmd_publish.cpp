// depsync publish: commit the deployment directory as the next release (primary).

#include <iostream>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/git/handle.hpp"
#include "core/printable.hpp"
#include "core/sync/publish.hpp"
#include "core/sync/recorded_run.hpp"

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

void run_publish(const Context& ctx) {
    sync::Settings settings = make_settings(ctx.global);
    sync::PublishResult r;
    sync::run_recorded(settings, [&] {
        r = sync::publish(settings, {ctx.cmd.message});
        return std::string();
    });
    if (!r.published) {
        // -q: a run that changed nothing prints nothing (a mirror push it made is still reported).
        if (!ctx.global.quiet)
            std::cout << "nothing to publish: "
                      << sync::release_name(r.release ? std::optional(r.release->number) : std::nullopt)
                      << " is current\n";
    } else {
        std::cout << "published r" << r.release->number << " " << git::short_hex(r.release->commit) << " "
                  << counts_text(r.counts) << "\n";
    }
    // A warning that stays until the file is fixed: with -q only a publish that changed something repeats it.
    if (r.published || !ctx.global.quiet) std::cout << malformed_archive_lines(r.malformed);
    print_mirrors(r);
}

}  // namespace

void add_publish(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("publish", "Publish the deployment directory as a new release (primary)");
    cmd->add_option("-m,--message", ctx.cmd.message, "Release message");
    cmd->footer(
        "Prints 'published rN <id> (+added ~modified -deleted)' or 'nothing to publish: rN is current'.\n"
        "Archives (.car .zip .jar .mar .aar) still being written are waited for (--settle), then refused;\n"
        "one that held still for twice --settle is published as it is, with a 'malformed archive' line.\n"
        "Example: depsync publish -m 'deploy Orders 1.0.1'");
    cmd->callback([&ctx] { run_publish(ctx); });
}

}  // namespace depsync::cli
