// depsync watch: publish by itself after changes settle (primary).

#include <iostream>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/git/handle.hpp"
#include "core/sync/watch.hpp"

namespace depsync::cli {

void add_watch(CLI::App& app, Context& ctx) {
    auto* cmd =
        app.add_subcommand("watch", "Publish automatically after the directory has been quiet (primary)");
    cmd->add_option("-m,--message", ctx.cmd.message,
                    "Release message (default 'published by depsync watch')");
    cmd->footer(
        "Watches the deployment directory with inotify; after --settle seconds without changes it\n"
        "publishes (a burst of copies becomes one release; half-written archives wait). Runs until\n"
        "SIGTERM/SIGINT, which stop it between releases. Meant for a systemd service (see examples/).\n"
        "Example: depsync -v watch --settle 10");
    cmd->callback([&ctx] {
        sync::WatchOptions options;
        if (!ctx.cmd.message.empty()) options.message = ctx.cmd.message;
        sync::watch(make_settings(ctx.global), options, [](const sync::PublishResult& r) {
            if (r.published)
                std::cout << "published r" << r.release->number << " " << git::short_hex(r.release->commit)
                          << " " << counts_text(r.counts) << "\n"
                          << malformed_archive_lines(r.malformed) << std::flush;
        });
    });
}

}  // namespace depsync::cli
