// depsync gc: keep the release repository bounded (primary), prune the fetched copy (peer).

#include <iostream>

#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/sync/gc.hpp"
#include "core/sync/recorded_run.hpp"
#include "core/units.hpp"

namespace depsync::cli {
namespace {

std::string range(std::uint64_t first, std::uint64_t last) {
    return first == last ? "r" + std::to_string(first)
                         : "r" + std::to_string(first) + "..r" + std::to_string(last);
}

std::string size_change(const git::PruneReport& p) {
    std::string change = p.bytes_before >= p.bytes_after
                             ? "reclaimed " + human_bytes(p.bytes_before - p.bytes_after)
                             : "grew by " + human_bytes(p.bytes_after - p.bytes_before);
    return human_bytes(p.bytes_before) + " -> " + human_bytes(p.bytes_after) + " (" + change + ")";
}

void print_text(const sync::GcResult& r, bool dry_run) {
    if (!r.primary) {
        std::cout << (dry_run
                          ? "gc (dry run): fetched releases take " + human_bytes(r.prune.bytes_before) + "\n"
                          : "gc: fetched releases " + size_change(r.prune) + "\n");
        return;
    }
    if (r.last == 0) {
        std::cout << "gc: no release yet; repository " << human_bytes(r.prune.bytes_before) << "\n";
        return;
    }
    std::string kept = range(r.first_kept, r.last) + " (" + std::to_string(r.kept) + " release" +
                       (r.kept == 1 ? "" : "s") + ")";
    std::string dropped = r.dropped ? range(r.first_dropped, r.last_dropped) : std::string();
    if (dry_run) {
        std::cout << "gc (dry run): would keep " << kept
                  << (r.dropped ? " and drop " + dropped : std::string(", nothing to drop"))
                  << "; repository " << human_bytes(r.prune.bytes_before) << " now\n";
        return;
    }
    std::cout << "gc: kept " << kept << "; "
              << (r.dropped ? "dropped " + dropped : std::string("nothing to drop")) << "\n";
    std::cout << "gc: repository " << size_change(r.prune) << "\n";
}

void print_json(const sync::GcResult& r, bool dry_run) {
    Json o = {{"role", r.primary ? "primary" : "peer"}, {"dry_run", dry_run}};
    if (r.primary) {
        auto dropped_or_null = [&r](std::uint64_t n) { return r.dropped ? Json(n) : Json(nullptr); };
        o["first_kept"] = r.first_kept;
        o["last"] = r.last;
        o["kept"] = static_cast<std::uint64_t>(r.kept);
        o["dropped"] = static_cast<std::uint64_t>(r.dropped);
        o["first_dropped"] = dropped_or_null(r.first_dropped);
        o["last_dropped"] = dropped_or_null(r.last_dropped);
        o["tags_removed"] = r.tags_removed;
    }
    std::uint64_t reclaimed =
        r.prune.bytes_before > r.prune.bytes_after ? r.prune.bytes_before - r.prune.bytes_after : 0;
    o["bytes_before"] = r.prune.bytes_before;
    o["bytes_after"] = r.prune.bytes_after;
    o["reclaimed"] = reclaimed;
    std::cout << json_text(o) << "\n";
}

}  // namespace

void add_gc(CLI::App& app, Context& ctx) {
    auto* gc = app.add_subcommand("gc", "Drop releases beyond the retention and pack the repository");
    gc->add_option("--keep", ctx.cmd.keep, "Newest releases kept (default: config gc_keep, 30)")
        ->check(CLI::Range(1, 1000000));
    gc->add_option("--keep-days", ctx.cmd.keep_days,
                   "Releases newer than this many days are kept too (default: config gc_keep_days, 30)")
        ->check(CLI::Range(0, 100000));
    gc->add_flag("--dry-run", ctx.cmd.dry_run, "Report what would be kept and dropped; change nothing");
    gc->add_flag("--json", ctx.cmd.json, "Print the result as one JSON object");
    gc->footer(
        "Primary: keeps the newest N releases and every release newer than D days; older ones are dropped\n"
        "(the kept releases are written again as a history starting at the oldest kept one, which records\n"
        "the cut; numbers, trees and messages stay). Tags of dropped releases are deleted; everything still\n"
        "reachable is packed and the rest deleted. Peers follow the cut on their next pull without\n"
        "--accept-rewrite and prune their fetched copy; 'depsync gc' on a peer prunes it by hand.\n"
        "Prints 'gc: kept rK..rN (M releases); dropped r1..rJ' and the space reclaimed.\n"
        "Example: depsync gc --keep 20 --keep-days 14");
    gc->callback([&ctx] {
        sync::GcOptions options;
        options.keep = ctx.cmd.keep > 0 ? static_cast<std::size_t>(ctx.cmd.keep) : ctx.global.gc_keep;
        options.keep_days =
            ctx.cmd.keep_days >= 0 ? static_cast<unsigned>(ctx.cmd.keep_days) : ctx.global.gc_keep_days;
        options.dry_run = ctx.cmd.dry_run;
        sync::Settings settings = make_settings(ctx.global);
        sync::GcResult r;
        auto run = [&] {
            r = sync::gc(settings, options);
            return std::string();
        };
        sync::run_recorded_unless_dry(settings, options.dry_run, run);
        if (ctx.cmd.json)
            print_json(r, options.dry_run);
        else
            print_text(r, options.dry_run);
    });
}

}  // namespace depsync::cli
