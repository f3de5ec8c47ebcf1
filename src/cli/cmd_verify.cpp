// depsync verify: what differs locally from the deployed release; depsync backups: what pulls saved.

#include <iostream>
#include <optional>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/printable.hpp"
#include "core/sync/deploy.hpp"
#include "core/sync/history.hpp"
#include "core/sync/node_repo.hpp"
#include "core/sync/release.hpp"

namespace depsync::cli {
namespace {

void run_verify(Context& ctx) {
    sync::Settings settings = make_settings(ctx.global);
    sync::VerifyResult r = sync::verify_directory(settings, ctx.cmd.full);
    std::optional<git::SignatureCheck> signature;
    if (!settings.allowed_signers.empty())
        signature =
            sync::release_signature(settings, sync::open_node_repo(settings).repo.get(), r.release->commit);
    if (ctx.cmd.json) {
        Json modified = Json::array(), added = Json::array(), missing = Json::array(),
             malformed = Json::array();
        for (const auto& [path, defect] : r.malformed)
            malformed.push_back(Json{{"path", path}, {"defect", defect}});
        for (const auto& c : r.changes)
            (c.status == 'M' ? modified : c.status == 'A' ? added : missing).push_back(c.path);
        Json o = {{"release", static_cast<std::uint64_t>(r.release->number)},
                  {"clean", r.changes.empty()},
                  {"modified", modified},
                  {"added", added},
                  {"missing", missing},
                  {"signature", signature ? git::signature_state_name(signature->state) : "not checked"}};
        if (settings.role == sync::Role::primary) o["malformed"] = malformed;
        std::cout << json_text(o) << "\n";
    } else if (r.changes.empty()) {
        std::cout << "clean: the directory matches r" << r.release->number << "\n";
    } else {
        for (const auto& c : r.changes) std::cout << c.status << " " << printable(c.path) << "\n";
    }
    if (!ctx.cmd.json)
        for (const auto& [path, defect] : r.malformed)
            std::cout << "malformed archive: " << printable(path) << " (" << printable(defect) << ")\n";
    if (signature && !ctx.cmd.json)
        std::cout << "signature of r" << r.release->number << ": " << printable(signature_text(*signature))
                  << "\n";
    if (!r.changes.empty()) ctx.exit_code = ExitCode::drift;
}

}  // namespace

void add_verify(CLI::App& app, Context& ctx) {
    auto* verify =
        app.add_subcommand("verify", "List local differences from the deployed release (exit 4 if any)");
    verify->add_flag("--full", ctx.cmd.full, "Hash every file (also catches edits that kept size and mtime)");
    verify->add_flag("--json", ctx.cmd.json, "Machine-readable output");
    verify->footer(
        "Lines 'M path' (modified), 'A path' (added locally), 'D path' (missing). On the primary, a line\n"
        "'malformed archive: PATH (WHY)' marks an archive whose zip structure is incomplete.\n"
        "Exit 0 when clean, 4 when anything differs. Paths matched by exclude or node_local are ignored.\n"
        "With allowed_signers set, a last line gives the release's signature: 'signature of rN: good "
        "(SIGNER)'.\n"
        "Example: depsync verify --full");
    verify->callback([&ctx] { run_verify(ctx); });

    auto* backups =
        app.add_subcommand("backups", "List local files saved by pulls before they were overwritten");
    backups->footer(
        "Backups live in STATE/backup/<time>-rN/ with the files' relative paths; the newest\n"
        "backup_keep (default 10) are kept, older ones are removed after each pull.\n"
        "Example: depsync backups");
    backups->callback([&ctx] {
        auto list = sync::list_backups(make_settings(ctx.global));
        if (list.empty()) std::cout << "no backups\n";
        for (const auto& b : list)
            std::cout << printable(b.path.string()) << "  " << b.files << " file(s), " << b.bytes
                      << " bytes\n";
    });
}

}  // namespace depsync::cli
