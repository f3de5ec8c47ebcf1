// depsync repair: put the deployed release's content back where the directory drifted from it.

#include <iostream>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/printable.hpp"
#include "core/sync/recorded_run.hpp"
#include "core/sync/repair.hpp"

namespace depsync::cli {
namespace {

const char* outcome_name(sync::RepairOutcome outcome) {
    switch (outcome) {
        case sync::RepairOutcome::clean:
            return "clean";
        case sync::RepairOutcome::planned:
            return "planned";
        case sync::RepairOutcome::repaired:
            return "repaired";
    }
    return "";
}

const char* action_name(sync::StepKind kind) {
    switch (kind) {
        case sync::StepKind::make_dir:
            return "create_folder";
        case sync::StepKind::write:
            return "write";
        case sync::StepKind::remove_file:
            return "remove";
        case sync::StepKind::remove_dir:
            return "remove_folder";
        case sync::StepKind::change_mode:
            return "chmod";
    }
    return "";
}

void print_json(const sync::RepairResult& r, bool dry_run) {
    Json steps = Json::array();
    for (const sync::Step* s : sync::steps_in_apply_order(r.plan))
        steps.push_back(Json{{"action", action_name(s->kind)}, {"path", s->path}, {"backup", s->backup}});
    Json o = {{"release", r.release.number},
              {"dry_run", dry_run},
              {"outcome", outcome_name(r.outcome)},
              {"steps", steps},
              {"left", r.plan.kept},
              {"matching", r.matching},
              {"held_back", static_cast<std::uint64_t>(r.plan.held_back.size())},
              {"backup", text_or_null(r.backup_dir.string())}};
    std::cout << json_text(o) << "\n";
}

void print_text(const sync::RepairResult& r) {
    const std::string release = "r" + std::to_string(r.release.number);
    if (r.outcome == sync::RepairOutcome::clean && r.matching.empty())
        std::cout << "nothing to repair: the directory matches " << release << "\n";
    if (r.outcome != sync::RepairOutcome::clean)
        std::cout << (r.outcome == sync::RepairOutcome::planned ? "would repair " : "repaired ") << release
                  << ":\n";
    for (const auto& line : sync::describe_plan(r.plan)) std::cout << "  " << printable(line) << "\n";
    for (const auto& p : r.plan.kept)
        std::cout << "  leave  " << printable(p) << "  (a folder holding excluded or node-local files)\n";
    for (const auto& p : r.matching)
        std::cout << "  " << printable(p) << " already matches " << release << "\n";
    if (!r.backup_dir.empty())
        std::cout << "saved " << r.plan.backups << " local file(s) to " << printable(r.backup_dir.string())
                  << "\n";
    if (std::size_t n = r.plan.held_back.size())
        std::cout << "still held back: " << n << (n == 1 ? " path" : " paths") << " (see 'depsync status')\n";
}

void run_repair(const Context& ctx) {
    sync::RepairOptions options;
    options.paths = ctx.cmd.paths;
    options.dry_run = ctx.cmd.dry_run;
    sync::Settings settings = make_settings(ctx.global);
    sync::RepairResult r;
    auto run = [&] {
        r = sync::repair(settings, options);
        return std::string();
    };
    sync::run_recorded_unless_dry(settings, options.dry_run, run);
    if (ctx.cmd.json)
        print_json(r, options.dry_run);
    else
        print_text(r);
}

}  // namespace

void add_repair(CLI::App& app, Context& ctx) {
    auto* cmd = app.add_subcommand("repair", "Put the deployed release's content back where files drifted");
    cmd->add_option("PATH", ctx.cmd.paths,
                    "Repair only these release paths (a folder: everything below it); default: all drift");
    cmd->add_flag("--dry-run", ctx.cmd.dry_run, "List what would be written and removed; touch nothing");
    cmd->add_flag("--json", ctx.cmd.json, "Machine-readable output");
    cmd->footer(
        "Drift is what 'depsync verify' lists: modified and missing files are written again from the\n"
        "release this node runs, files added locally are removed; exclude and node_local paths are never\n"
        "touched. Local versions are saved to backup first; files are replaced as a pull replaces them.\n"
        "No network: a peer reads its fetched releases, the primary its repository (there it discards\n"
        "unpublished changes). Clears the paths 'status' reports held back. Example: depsync repair");
    cmd->callback([&ctx] { run_repair(ctx); });
}

}  // namespace depsync::cli
