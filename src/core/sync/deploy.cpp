#include "core/sync/deploy.hpp"

#include <algorithm>
#include <ctime>
#include <vector>

#include "core/error.hpp"
#include "core/git/handle.hpp"
#include "core/git/repository.hpp"
#include "core/git/tree_io.hpp"
#include "core/sync/node_state.hpp"
#include "core/sync/scan.hpp"

namespace depsync::sync {
namespace {

git::Listing without(const git::Listing& listing, const fs::PathMatcher& matcher) {
    if (matcher.empty()) return listing;
    git::Listing out;
    for (const auto& [path, entry] : listing)
        if (!fs::matches_path_or_parent(matcher, path, entry.kind == git::EntryKind::directory))
            out.emplace(path, entry);
    return out;
}

git::Listing listing_of(git_repository* repo, const git_oid& commit, const fs::PathMatcher& skip) {
    git::CommitPtr c = git::lookup_commit(repo, commit);
    return without(git::read_tree(repo, *git_commit_tree_id(c.get())), skip);
}

std::string timestamp() {
    char buf[32];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::localtime_r(&now, &tm);
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
    return buf;
}

}  // namespace

fs::PathMatcher untouchable_paths(const Settings& settings) {
    fs::PathMatcher m(settings.exclude);
    for (const auto& p : settings.node_local) m.add(p);
    return m;
}

DeployResult deploy_release(const Settings& settings, git_repository* repo, const DeployRequest& request) {
    StatePaths state(settings.state);
    fs::PathMatcher skip = untouchable_paths(settings);
    // read_tree validates every path of the release before anything is touched.
    git::Listing target = listing_of(repo, request.target, skip);
    git::Listing old = request.from ? listing_of(repo, *request.from, skip) : git::Listing{};

    StatCache cache = StatCache::load(state.stat_cache());
    ScanOptions scan_options;
    scan_options.exclude = &skip;
    scan_options.remove_stale_temps = !request.dry_run;
    ScanResult local = scan_tree(settings.dir, scan_options, cache);

    DeployResult result;
    result.stale_temps_removed = local.stale_temps_removed;
    git::Listing interrupted;
    if (request.interrupted) interrupted = listing_of(repo, *request.interrupted, skip);
    result.plan =
        plan_update(old, target, local.listing, request.policy, request.interrupted ? &interrupted : nullptr);
    if (request.dry_run) return result;
    if (request.policy == LocalChanges::refuse && !result.plan.drift.empty()) {
        std::string list;
        for (const auto& p : result.plan.drift) list += "\n  " + p;
        throw Error(
            "cannot apply r" + std::to_string(request.target_number) +
            ": local changes on paths it changes (local_changes = refuse); nothing was applied:" + list);
    }

    write_record(state.journal(), record_now(request.target, request.target_number));
    git_odb* odb = nullptr;
    git::check(git_repository_odb(&odb, repo), "open object database");
    git::OdbPtr owned_odb(odb);
    ApplyContext ctx{settings.dir, odb, state.backups() / (timestamp() + "-" + request.backup_label), &cache};
    execute_plan(result.plan, ctx);
    cache.save(state.stat_cache());
    if (result.plan.backups > 0) result.backup_dir = ctx.backup_dir;
    return result;
}

void finish_deploy(const Settings& settings) {
    StatePaths state(settings.state);
    std::filesystem::remove(state.journal());
    prune_backups(settings);
}

void prune_backups(const Settings& settings) {
    StatePaths state(settings.state);
    std::error_code ec;
    std::vector<std::filesystem::path> dirs;
    for (const auto& e : std::filesystem::directory_iterator(state.backups(), ec))
        if (e.is_directory()) dirs.push_back(e.path());
    if (dirs.size() <= settings.backup_keep) return;
    // Folder names start with a sortable timestamp.
    std::sort(dirs.begin(), dirs.end());
    for (std::size_t i = 0; i + settings.backup_keep < dirs.size(); ++i)
        std::filesystem::remove_all(dirs[i], ec);
}

}  // namespace depsync::sync

namespace depsync::sync {

std::vector<BackupInfo> list_backups(const Settings& settings) {
    StatePaths state(settings.state);
    std::error_code ec;
    std::vector<BackupInfo> out;
    for (const auto& e : std::filesystem::directory_iterator(state.backups(), ec)) {
        if (!e.is_directory()) continue;
        BackupInfo info{e.path(), 0, 0};
        for (const auto& f : std::filesystem::recursive_directory_iterator(e.path(), ec)) {
            if (!f.is_regular_file() && !f.is_symlink()) continue;
            ++info.files;
            if (f.is_regular_file()) info.bytes += f.file_size();
        }
        out.push_back(std::move(info));
    }
    std::sort(out.begin(), out.end(),
              [](const BackupInfo& a, const BackupInfo& b) { return a.path < b.path; });
    return out;
}

}  // namespace depsync::sync
