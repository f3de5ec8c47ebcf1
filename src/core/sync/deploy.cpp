#include "core/sync/deploy.hpp"

#include <algorithm>
#include <ctime>
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/git/handle.hpp"
#include "core/git/repository.hpp"
#include "core/git/tree_io.hpp"
#include "core/sync/node_state.hpp"
#include "core/sync/release.hpp"
#include "core/sync/scan.hpp"

namespace depsync::sync {
namespace {

// The part of a release listing that belongs to one root, with paths relative to it.
git::Listing root_part(const git::Listing& listing, const Root& root) {
    if (root.name.empty()) return listing;
    git::Listing out;
    std::string prefix = root.name + "/";
    for (auto it = listing.lower_bound(prefix);
         it != listing.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
        out.emplace(it->first.substr(prefix.size()), it->second);
    return out;
}

git::Listing without(const git::Listing& listing, const fs::PathMatcher& matcher) {
    if (matcher.empty()) return listing;
    git::Listing out;
    for (const auto& [path, entry] : listing)
        if (!fs::matches_path_or_parent(matcher, path, entry.kind == git::EntryKind::directory))
            out.emplace(path, entry);
    return out;
}

std::string prefixed(const Root& root, const std::string& path) {
    return root.name.empty() ? path : root.name + "/" + path;
}

// Adds one root's plan to the combined plan, with paths named as in the release.
void merge_plan(Plan& total, Plan part, const Root& root) {
    for (Step& s : part.steps) s.path = prefixed(root, s.path);
    for (auto& p : part.drift) p = prefixed(root, p);
    for (auto& p : part.kept) p = prefixed(root, p);
    total.steps.insert(total.steps.end(), part.steps.begin(), part.steps.end());
    total.drift.insert(total.drift.end(), part.drift.begin(), part.drift.end());
    total.kept.insert(total.kept.end(), part.kept.begin(), part.kept.end());
    total.counts.added += part.counts.added;
    total.counts.modified += part.counts.modified;
    total.counts.deleted += part.counts.deleted;
    total.backups += part.backups;
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

git::Listing release_part(git_repository* repo, const git_oid& commit, const Root& root,
                          const fs::PathMatcher& skip) {
    git::CommitPtr c = git::lookup_commit(repo, commit);
    return without(root_part(git::read_tree(repo, *git_commit_tree_id(c.get())), root), skip);
}

void check_roots(const Settings& settings, git_repository* repo, const git_oid& commit) {
    if (settings.roots.empty()) {
        Release r = describe_release(repo, commit);
        if (!r.roots.empty())
            throw Error("release r" + std::to_string(r.number) + " carries several roots (" + r.roots +
                            ") but this node has a single 'dir': map them with root = NAME=PATH entries",
                        ExitCode::usage);
        return;
    }
    git::CommitPtr c = git::lookup_commit(repo, commit);
    git::Listing all = git::read_tree(repo, *git_commit_tree_id(c.get()));
    for (const auto& [path, entry] : all) {
        if (path.find('/') != std::string::npos) continue;
        bool mapped = false;
        for (const Root& r : settings.roots) mapped = mapped || r.name == path;
        if (!mapped || entry.kind != git::EntryKind::directory)
            throw Error("release has '" + path + "', which is not a root of this node (add root = \"" + path +
                            "=/local/path\" to the config)",
                        ExitCode::usage);
    }
}

DeployResult deploy_release(const Settings& settings, git_repository* repo, const DeployRequest& request) {
    StatePaths state(settings.state);
    fs::PathMatcher skip = untouchable_paths(settings);
    std::vector<Root> roots = roots_of(settings);
    // read_tree validates every path of the release before anything is touched.
    check_roots(settings, repo, request.target);

    StatCache cache = StatCache::load(state.stat_cache());
    ScanOptions scan_options;
    scan_options.exclude = &skip;
    scan_options.remove_stale_temps = !request.dry_run;
    // Each root is opened once: the scan, the staging, the commit and the backups all go through it.
    OpenRoots open = open_roots(roots);
    ScanResult local = scan_roots(open, scan_options, cache);

    DeployResult result;
    result.stale_temps_removed = local.stale_temps_removed;
    std::vector<Plan> plans;
    for (const Root& root : roots) {
        git::Listing target = release_part(repo, request.target, root, skip);
        // Folders that hold node-local or excluded files stay, even when the release does not have them.
        for (const auto& dir : local.holds_excluded) {
            if (!root.name.empty() && dir.rfind(root.name + "/", 0) != 0) continue;
            std::string rel = root.name.empty() ? dir : dir.substr(root.name.size() + 1);
            if (!target.count(rel)) target[rel] = git::Entry{git::EntryKind::directory, {}};
        }
        git::Listing old = request.from ? release_part(repo, *request.from, root, skip) : git::Listing{};
        git::Listing interrupted;
        if (request.interrupted) interrupted = release_part(repo, *request.interrupted, root, skip);
        plans.push_back(plan_update(old, target, root_part(local.listing, root), request.policy,
                                    request.interrupted ? &interrupted : nullptr));
        merge_plan(result.plan, plans.back(), root);
    }
    if (request.dry_run) return result;
    if (request.policy == LocalChanges::refuse && !result.plan.drift.empty()) {
        std::string list;
        for (const auto& p : result.plan.drift) list += (list.empty() ? " " : ", ") + p;
        throw Error(
            "cannot apply r" + std::to_string(request.target_number) +
            ": local changes on paths it changes (local_changes = refuse); nothing was applied:" + list);
    }

    git_odb* odb = nullptr;
    git::check(git_repository_odb(&odb, repo), "open object database");
    git::OdbPtr owned_odb(odb);
    std::filesystem::path backup_dir = state.backups() / (timestamp() + "-" + request.backup_label);
    std::vector<ApplyContext> contexts;
    for (const OpenRoot& root : open)
        contexts.push_back(ApplyContext{root.dir, odb, backup_dir / root.name, &cache,
                                        root.name.empty() ? std::string() : root.name + "/", settings.owner,
                                        root.fd.get()});
    // The journal is written first, so that a kill at any point leaves it and the next pull clears the temp
    // files and completes the apply. Every root is staged before any of them changes: a full disk or a
    // damaged object fails the pull with every directory as it was, and the journal as it was before this
    // run, so status does not report an interrupted apply that never began.
    const std::optional<std::string> previous_journal = fs::read_file(state.journal());
    write_record(state.journal(), record_now(request.target, request.target_number));
    std::vector<StagedPlan> staged;
    try {
        for (std::size_t i = 0; i < roots.size(); ++i) {
            staged.emplace_back(plans[i], contexts[i]);
            staged.back().stage();
        }
    } catch (...) {
        staged.clear();  // removes the temp files and the folders created for them
        if (previous_journal)
            fs::write_file_atomically(state.journal(), *previous_journal);
        else
            std::filesystem::remove(state.journal());
        throw;
    }
    for (StagedPlan& s : staged) s.commit();
    cache.save(state.stat_cache());
    if (result.plan.backups > 0) result.backup_dir = backup_dir;
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
    // Oldest first by modification time (names sort wrongly within one second: -r10 before -r9).
    std::sort(dirs.begin(), dirs.end(), [&](const auto& a, const auto& b) {
        return std::filesystem::last_write_time(a, ec) < std::filesystem::last_write_time(b, ec);
    });
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
