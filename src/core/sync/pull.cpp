#include "core/sync/pull.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <ctime>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/fs/lock.hpp"
#include "core/git/fetch.hpp"
#include "core/git/repository.hpp"
#include "core/sync/node_state.hpp"
#include "core/sync/scan.hpp"

namespace depsync::sync {
namespace {

void require_state(const StatePaths& state) {
    struct stat st {};
    if (::stat(state.root.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
        throw Error("state folder " + state.root.string() + " does not exist (run 'depsync init peer' first)",
                    ExitCode::usage);
}

git::Listing without(const git::Listing& listing, const fs::PathMatcher& matcher) {
    if (matcher.empty()) return listing;
    git::Listing out;
    for (const auto& [path, entry] : listing)
        if (!fs::matches_path_or_parent(matcher, path, entry.kind == git::EntryKind::directory))
            out.emplace(path, entry);
    return out;
}

std::string backup_folder_name(std::uint64_t release) {
    char buf[32];
    std::time_t now = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&now));
    return std::string(buf) + "-r" + std::to_string(release);
}

}  // namespace

PullResult pull(const Settings& settings, const PullOptions& options) {
    if (settings.role != Role::peer)
        throw Error("cannot pull: this node is the primary (pull runs on peers)", ExitCode::usage);
    StatePaths state(settings.state);
    require_state(state);
    fs::NodeLock lock(state.lock(), settings.wait);

    git::RepositoryPtr repo = git::init_bare(state.repo(), release_branch);
    git::fetch_branch(repo.get(), {settings.remote, primary_ref, upstream_ref});

    PullResult result;
    std::optional<git_oid> upstream = git::resolve_ref(repo.get(), upstream_ref);
    std::optional<DeployedRecord> deployed = read_record(state.deployed());
    std::optional<DeployedRecord> journal = read_record(state.journal());
    if (deployed) result.from = describe_release(repo.get(), deployed->commit);
    if (!upstream) {
        result.outcome = PullOutcome::nothing_upstream;
        return result;
    }
    result.to = describe_release(repo.get(), *upstream);
    if (deployed && !journal && git_oid_equal(&deployed->commit, &*upstream)) {
        result.outcome = PullOutcome::up_to_date;
        return result;
    }
    if (deployed && !options.accept_rewrite && !git::contains(repo.get(), *upstream, deployed->commit))
        throw Error("cannot pull: upstream history no longer contains the deployed release r" +
                    std::to_string(deployed->release) + " (" + git::short_hex(deployed->commit) +
                    "); it was rewritten or is another repository. Nothing was applied (use --accept-rewrite "
                    "to apply it anyway)");

    fs::PathMatcher skip(settings.exclude);
    for (const auto& p : settings.node_local) skip.add(p);
    git::Listing target = without(git::read_tree(repo.get(), result.to->tree), skip);
    git::Listing old = deployed ? without(git::read_tree(repo.get(), result.from->tree), skip) : git::Listing{};

    StatCache cache = StatCache::load(state.stat_cache());
    ScanOptions scan_options;
    scan_options.exclude = &skip;
    scan_options.remove_stale_temps = !options.dry_run;
    ScanResult local = scan_tree(settings.dir, scan_options, cache);
    result.stale_temps_removed = local.stale_temps_removed;

    result.plan = plan_update(old, target, local.listing, settings.local_changes);
    result.plan.counts = git::count_changes(old, target);
    if (options.dry_run) {
        result.outcome = PullOutcome::planned;
        return result;
    }
    if (settings.local_changes == LocalChanges::refuse && !result.plan.drift.empty()) {
        std::string list;
        for (const auto& p : result.plan.drift) list += "\n  " + p;
        throw Error("cannot pull: local changes on paths this release changes (local_changes = refuse); "
                    "nothing was applied:" + list);
    }

    // The journal names the target before the first file is touched, so an interrupted run is recognised.
    DeployedRecord target_record{*upstream, result.to->number, std::time(nullptr)};
    write_record(state.journal(), target_record);
    ApplyContext ctx{settings.dir, nullptr, state.backups() / backup_folder_name(result.to->number), &cache};
    git_odb* odb = nullptr;
    git::check(git_repository_odb(&odb, repo.get()), "open object database");
    git::OdbPtr owned_odb(odb);
    ctx.odb = odb;
    execute_plan(result.plan, ctx);
    cache.save(state.stat_cache());
    write_record(state.deployed(), target_record);
    std::filesystem::remove(state.journal());
    if (result.plan.backups > 0) result.backup_dir = ctx.backup_dir;
    result.outcome = PullOutcome::applied;
    return result;
}

}  // namespace depsync::sync
