#include "core/sync/deploy.hpp"

#include <optional>
#include <set>
#include <vector>

#include <spdlog/spdlog.h>

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
    for (auto& p : part.held_back) p = prefixed(root, p);
    total.steps.insert(total.steps.end(), part.steps.begin(), part.steps.end());
    total.drift.insert(total.drift.end(), part.drift.begin(), part.drift.end());
    total.kept.insert(total.kept.end(), part.kept.begin(), part.kept.end());
    total.held_back.insert(total.held_back.end(), part.held_back.begin(), part.held_back.end());
    total.counts.added += part.counts.added;
    total.counts.modified += part.counts.modified;
    total.counts.deleted += part.counts.deleted;
    total.backups += part.backups;
}

// The release paths of `paths` that lie in `root`, relative to it ("" for the root itself).
std::vector<std::string> in_root(const std::vector<std::string>& paths, const Root& root) {
    if (root.name.empty()) return paths;
    std::vector<std::string> out;
    for (const std::string& p : paths) {
        if (p == root.name)
            out.emplace_back();
        else if (p.rfind(root.name + "/", 0) == 0)
            out.push_back(p.substr(root.name.size() + 1));
    }
    return out;
}

}  // namespace

fs::PathMatcher untouchable_paths(const Settings& settings) {
    return fs::PathMatcher(untouchable_patterns(settings));
}

git::Listing release_part(git_repository* repo, const git_oid& commit, const Root& root,
                          const fs::PathMatcher& skip, const git::TreeLimits& limits) {
    return without(root_part(git::read_tree(repo, git::commit_tree(repo, commit), limits), root), skip);
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
    git::Listing all = git::read_tree(repo, git::commit_tree(repo, commit), tree_limits(settings));
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

namespace {

// Plans the update of every root (into `total`, with paths named as in the release); returns each root's
// plan, with paths relative to it, for staging.
std::vector<Plan> plan_roots(const Settings& settings, git_repository* repo, const DeployRequest& request,
                             const fs::PathMatcher& skip, const ScanResult& local, Plan& total) {
    const git::TreeLimits limits = tree_limits(settings);
    std::vector<Plan> plans;
    for (const Root& root : roots_of(settings)) {
        git::Listing target = release_part(repo, request.target, root, skip, limits);
        // Folders that hold node-local or excluded files stay, even when the release does not have them, or
        // has a file in their place (then that file is not written: the folder is listed as kept).
        std::set<std::string> holding;
        for (const auto& dir : local.holds_excluded) {
            if (!root.name.empty() && dir.rfind(root.name + "/", 0) != 0) continue;
            std::string rel = root.name.empty() ? dir : dir.substr(root.name.size() + 1);
            holding.insert(rel);
            if (!target.count(rel)) target[rel] = git::Entry{git::EntryKind::directory, {}};
        }
        git::Listing old =
            request.from ? release_part(repo, *request.from, root, skip, limits) : git::Listing{};
        git::Listing interrupted;
        if (request.interrupted) interrupted = release_part(repo, *request.interrupted, root, skip, limits);
        plans.push_back(plan_update(old, target, root_part(local.listing, root), request.policy,
                                    request.interrupted ? &interrupted : nullptr));
        keep_folders_holding(plans.back(), target, holding, request.policy, false);
        std::vector<std::string> held = in_root({request.held_back.begin(), request.held_back.end()}, root);
        const std::set<std::string> held_before(held.begin(), held.end());
        separate_held_back(plans.back(), old, target, held_before);
        if (request.only) restrict_plan(plans.back(), in_root(*request.only, root), held_before);
        merge_plan(total, plans.back(), root);
    }
    return plans;
}

void refuse_local_changes(const DeployRequest& request, const Plan& plan) {
    if (request.policy != LocalChanges::refuse || plan.drift.empty()) return;
    std::string list;
    for (const auto& p : plan.drift) list += (list.empty() ? " " : ", ") + p;
    throw Error("cannot apply r" + std::to_string(request.target_number) +
                ": local changes on paths it changes (local_changes = refuse); nothing was applied:" + list);
}

// The journal as it was before this run, put back when the apply fails with every directory as it was, so
// that status does not report an interrupted apply that never began.
class JournalBefore {
  public:
    explicit JournalBefore(std::filesystem::path file)
        : m_file(std::move(file)), m_text(fs::read_file(m_file)) {}
    void restore() const noexcept {
        try {
            if (m_text)
                fs::write_file_atomically(m_file, *m_text);
            else
                std::filesystem::remove(m_file);
        } catch (const std::exception& e) {
            spdlog::warn("cannot restore {}: {}", m_file.string(), e.what());
        }
    }

  private:
    std::filesystem::path m_file;
    std::optional<std::string> m_text;
};

// Stages every root (and saves its local changes) before any of them changes: a full disk, a name the file
// system cannot hold or a damaged object fails the pull with every directory as it was.
std::vector<StagedPlan> stage_roots(const std::vector<Plan>& plans, const std::vector<ApplyContext>& contexts,
                                    Backup& backup, const JournalBefore& journal) {
    std::vector<StagedPlan> staged;
    try {
        for (std::size_t i = 0; i < plans.size(); ++i) {
            staged.emplace_back(plans[i], contexts[i]);
            staged.back().stage();
        }
    } catch (...) {
        staged.clear();  // removes the temp files and the folders created for them
        backup.discard();
        journal.restore();
        throw;
    }
    return staged;
}

// Commits every staged root. A failure is undone, in this root and in the roots committed before it: the
// directories are back on the release they held. Only what cannot be undone keeps the journal (and the
// backup), for the next pull to complete the update.
void commit_roots(std::vector<StagedPlan>& staged, Backup& backup, const JournalBefore& journal,
                  std::uint64_t target_number) {
    std::size_t committed = 0;
    try {
        for (; committed < staged.size(); ++committed) staged[committed].commit();
    } catch (const std::exception& e) {
        bool undone = staged[committed].undone();
        for (std::size_t i = committed; i-- > 0;) undone = staged[i].revert() && undone;
        staged.clear();
        if (undone) {
            backup.discard();
            journal.restore();
        }
        throw Error(std::string(e.what()) +
                    (undone ? "; every change was undone, the directory is as it was"
                            : "; some changes could not be undone: the next pull completes the update to r" +
                                  std::to_string(target_number)));
    }
    for (StagedPlan& s : staged) s.finish();
}

}  // namespace

DeployResult deploy_release(const Settings& settings, git_repository* repo, const DeployRequest& request) {
    StatePaths state(settings.state);
    fs::PathMatcher skip = untouchable_paths(settings);
    // read_tree validates every path of the release before anything is touched.
    check_roots(settings, repo, request.target);

    StatCache cache = StatCache::load(state.stat_cache());
    ScanOptions scan_options;
    scan_options.exclude = &skip;
    scan_options.remove_stale_temps = !request.dry_run;
    // Each root is opened once: the scan, the staging, the commit and the backups all go through it.
    OpenRoots open = open_roots(roots_of(settings));
    ScanResult local = scan_roots(open, scan_options, cache);

    DeployResult result;
    result.stale_temps_removed = local.stale_temps_removed;
    std::vector<Plan> plans = plan_roots(settings, repo, request, skip, local, result.plan);
    spdlog::debug("planned r{}: {} steps, {} local changes overwritten or blocked, {} kept",
                  request.target_number, result.plan.steps.size(), result.plan.drift.size(),
                  result.plan.kept.size());
    if (request.dry_run) return result;
    refuse_local_changes(request, result.plan);

    git::OdbPtr odb = git::open_odb(repo);
    Backup backup(new_backup_dir(settings, request.backup_label), settings.backup_max_bytes);
    std::vector<ApplyContext> contexts;
    for (const OpenRoot& root : open)
        contexts.push_back(ApplyContext{root.dir,
                                        odb.get(),
                                        &backup,
                                        {},
                                        &cache,
                                        root.name.empty() ? std::string() : root.name + "/",
                                        settings.owner,
                                        root.fd.get()});
    // The journal is written first, so that a kill at any point leaves it and the next pull clears the temp
    // files and completes the apply.
    const JournalBefore journal(state.journal());
    write_record(state.journal(), record_now(request.target, request.target_number));
    std::vector<StagedPlan> staged = stage_roots(plans, contexts, backup, journal);
    spdlog::debug("staged r{}: new versions written beside the files they replace", request.target_number);
    commit_roots(staged, backup, journal, request.target_number);
    spdlog::debug("committed r{}", request.target_number);
    try {
        cache.save(state.stat_cache());
    } catch (const std::exception& e) {
        spdlog::warn("cannot save the stat cache: {} (the next scan reads every file)", e.what());
    }
    if (backup.used()) result.backup_dir = backup.dir();
    return result;
}

void finish_deploy(const Settings& settings, const std::vector<std::filesystem::path>& this_run) {
    StatePaths state(settings.state);
    std::filesystem::remove(state.journal());
    prune_backups(settings, this_run);
}

}  // namespace depsync::sync
