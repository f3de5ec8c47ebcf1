#include "core/sync/repair.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <optional>

#include "core/error.hpp"
#include "core/fs/lock.hpp"
#include "core/fs/path_safety.hpp"
#include "core/fs/pattern.hpp"
#include "core/git/repository.hpp"
#include "core/sync/audit.hpp"
#include "core/sync/deploy.hpp"
#include "core/sync/history.hpp"
#include "core/sync/node_repo.hpp"
#include "core/sync/node_state.hpp"
#include "core/sync/rollback.hpp"

namespace depsync::sync {
namespace {

// A named path as the operator wrote it ("carbonapps/" names the folder), as a release path; the refusal
// when it cannot be one.
std::string release_path(const std::string& named, std::vector<std::string>& refused) {
    std::string path = named;
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    if (std::optional<std::string> defect = fs::relative_path_defect(path))
        refused.push_back("'" + named + "' is no path of a release (" + *defect + ")");
    return path;
}

// The root a release path lies in, and the path relative to it ("" for the root itself); nullopt when no
// root of this node holds it.
std::optional<std::pair<Root, std::string>> locate(const Settings& settings, const std::string& path) {
    for (const Root& root : roots_of(settings)) {
        if (root.name.empty()) return std::make_pair(root, path);
        if (path == root.name) return std::make_pair(root, std::string());
        if (path.rfind(root.name + "/", 0) == 0)
            return std::make_pair(root, path.substr(root.name.size() + 1));
    }
    return std::nullopt;
}

struct OnDisk {
    bool exists = false;
    bool is_dir = false;
    std::string symlink_above;  // a folder on the way that is a symlink on disk (never followed)
};

// What lies at `rel` below `dir`, found with lstat one component at a time: a symlink is never followed.
OnDisk look_on_disk(const std::filesystem::path& dir, const std::string& rel) {
    OnDisk found;
    if (rel.empty()) {
        found.exists = found.is_dir = true;
        return found;
    }
    std::filesystem::path at = dir;
    for (std::size_t start = 0;;) {
        std::size_t end = std::min(rel.find('/', start), rel.size());
        at /= rel.substr(start, end - start);
        struct stat st {};
        if (::lstat(at.c_str(), &st) != 0) return found;
        if (end == rel.size()) {
            found.exists = true;
            found.is_dir = S_ISDIR(st.st_mode);
            return found;
        }
        if (S_ISLNK(st.st_mode)) {
            found.symlink_above = rel.substr(0, end);
            return found;
        }
        if (!S_ISDIR(st.st_mode)) return found;
        start = end + 1;
    }
}

// Why a repair cannot take `path` (a valid release path), or nullopt.
std::optional<std::string> refusal(const Settings& settings, const fs::PathMatcher& untouchable,
                                   const git::Listing& release, std::uint64_t number,
                                   const std::string& path) {
    std::optional<std::pair<Root, std::string>> where = locate(settings, path);
    if (!where) return "'" + path + "' lies in no root of this node";
    const auto& [root, rel] = *where;
    OnDisk disk = look_on_disk(root.dir, rel);
    if (!disk.symlink_above.empty())
        return "'" + path + "' lies below '" + disk.symlink_above +
               "', a symlink on disk, which depsync never follows (repair '" + disk.symlink_above +
               "' itself)";
    auto in_release = release.find(path);
    bool is_dir = disk.exists
                      ? disk.is_dir
                      : in_release != release.end() && in_release->second.kind == git::EntryKind::directory;
    if (!rel.empty() && fs::matches_path_or_parent(untouchable, rel, is_dir))
        return "'" + path + "' is matched by exclude or node_local, which depsync never touches";
    if (!disk.exists && in_release == release.end())
        return "'" + path + "' is neither in r" + std::to_string(number) + " nor on disk";
    return std::nullopt;
}

// The named paths as release paths; throws Error(usage) listing every one that cannot be repaired.
std::vector<std::string> checked_paths(const Settings& settings, const std::vector<std::string>& named,
                                       git_repository* repo, const Release& release) {
    std::vector<std::string> paths, refused;
    for (const std::string& n : named) paths.push_back(release_path(n, refused));
    if (refused.empty()) {
        const git::Listing listing = release_listing(repo, release.commit, tree_limits(settings));
        const fs::PathMatcher untouchable = untouchable_paths(settings);
        for (const std::string& p : paths)
            if (std::optional<std::string> why = refusal(settings, untouchable, listing, release.number, p))
                refused.push_back(*why);
    }
    if (refused.empty()) return paths;
    std::string list;
    for (const std::string& r : refused) list += (list.empty() ? " " : "; ") + r;
    throw Error("cannot repair; nothing was changed:" + list, ExitCode::usage);
}

// The release the directory holds, and on a peer its deployed record. A peer whose apply was interrupted
// completes it with a pull first: its directory is between two releases. On the primary an interrupted
// rollback is completed, as every run there does first.
std::pair<git_oid, std::optional<DeployedRecord>> current_release(const Settings& settings, NodeRepo& node,
                                                                  bool dry_run) {
    StatePaths state(settings.state);
    if (settings.role == Role::primary) {
        if (!dry_run)
            complete_interrupted_rollback(settings, node.repo.get());
        else if (std::filesystem::exists(state.journal()))
            throw Error(
                "cannot plan a repair: a rollback was interrupted (run 'depsync repair' without "
                "--dry-run, or a publish, to complete it first)",
                ExitCode::usage);
        node.tip = git::resolve_ref(node.repo.get(), primary_ref);
        std::optional<git_oid> safe;
        if (node.tip) safe = newest_safe_release(node.repo.get(), *node.tip, tree_limits(settings));
        if (!safe)
            throw Error("cannot repair: no release was published yet (run 'depsync publish')",
                        ExitCode::usage);
        return {*safe, std::nullopt};
    }
    if (std::optional<DeployedRecord> journal = read_record(state.journal()))
        throw Error("cannot repair: the apply of r" + std::to_string(journal->release) +
                        " was interrupted (run 'depsync pull' to complete it first)",
                    ExitCode::usage);
    std::optional<DeployedRecord> deployed = read_record(state.deployed());
    if (!deployed)
        throw Error("cannot repair: this node runs no release yet (run 'depsync pull')", ExitCode::usage);
    return {deployed->commit, deployed};
}

// Named paths the repair leaves as they are: nothing to do at or below them.
std::vector<std::string> matching_paths(const std::vector<std::string>& named, const Plan& plan) {
    auto lies_in = [](const std::string& p, const std::string& n) {
        return p == n || (p.size() > n.size() && p[n.size()] == '/' && p.compare(0, n.size(), n) == 0);
    };
    std::vector<std::string> out;
    for (const std::string& n : named) {
        bool touched = std::any_of(plan.steps.begin(), plan.steps.end(),
                                   [&](const Step& s) { return lies_in(s.path, n); });
        for (const auto* list : {&plan.kept, &plan.held_back})
            touched = touched || std::any_of(list->begin(), list->end(),
                                             [&](const std::string& p) { return lies_in(p, n); });
        if (!touched) out.push_back(n);
    }
    return out;
}

void require_state_folder(const Settings& settings) {
    struct stat st {};
    if (::stat(settings.state.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
        throw Error("state folder " + settings.state.string() + " does not exist (run 'depsync init " +
                        role_name(settings.role) + "' first)",
                    ExitCode::usage);
}

}  // namespace

RepairResult repair(const Settings& settings, const RepairOptions& options) {
    require_state_folder(settings);
    StatePaths state(settings.state);
    fs::NodeLock lock(state.lock(), settings.wait);
    NodeRepo node = open_node_repo(settings);
    const auto [current, deployed] = current_release(settings, node, options.dry_run);

    RepairResult result;
    result.release = describe_release(node.repo.get(), current);
    DeployRequest request;
    request.target = current;
    request.target_number = result.release.number;
    request.from = current;
    request.dry_run = options.dry_run;
    // Every drifted path is put back as the release has it, the local version saved first.
    request.policy = LocalChanges::overwrite;
    request.backup_label = "r" + std::to_string(result.release.number) + "-repair";
    if (deployed) request.held_back = {deployed->held_back.begin(), deployed->held_back.end()};
    if (!options.paths.empty())
        request.only = checked_paths(settings, options.paths, node.repo.get(), result.release);

    DeployResult applied = deploy_release(settings, node.repo.get(), request);
    result.plan = std::move(applied.plan);
    result.backup_dir = applied.backup_dir;
    if (request.only) result.matching = matching_paths(*request.only, result.plan);
    if (options.dry_run) {
        result.outcome = result.plan.empty() ? RepairOutcome::clean : RepairOutcome::planned;
        return result;
    }
    if (deployed) {
        // The release and the time it was applied stay; the paths repaired are no longer held back.
        DeployedRecord record = *deployed;
        record.held_back = result.plan.held_back;
        std::sort(record.held_back.begin(), record.held_back.end());
        write_record(state.deployed(), record);
    }
    finish_deploy(settings, {result.backup_dir});
    result.outcome = result.plan.empty() ? RepairOutcome::clean : RepairOutcome::repaired;
    if (result.outcome == RepairOutcome::repaired)
        audit({"repair",
               release_name(result.release.number) + ", " + std::to_string(result.plan.steps.size()) +
                   " step(s) to put its content back",
               result.release.number, current, std::nullopt});
    return result;
}

}  // namespace depsync::sync
