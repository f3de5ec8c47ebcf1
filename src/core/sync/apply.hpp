#pragma once
// Turning a deployment directory from one release into another, safely for a hot-deploying reader.
//
// plan_update compares, path by path, the release deployed now, the release to deploy and what is on disk.
// A StagedPlan then works in two phases, so that the server never sees a partial file, never sees two
// versions of a renamed archive side by side, and never sees a half-applied release:
//   stage (nothing visible changes): check every path against the file systems (name and path lengths,
//      folders that must become files, backup paths and sizes, free space); create new folders; write
//      every new or changed file to a dot-prefixed temp name in its final folder (invisible to the
//      hot-deployer) and flush them; save the local changes the release overwrites or removes to the
//      backup (policy `overwrite`). Any failure removes all of it again.
//   commit (visible): move the removed files aside to temp names and remove the folders the release
//      removes, then rename the temp files into place (exchanging them with the old versions). Every step
//      is logged: when one fails, the steps done are undone in reverse order, so each path is back as it
//      was. finish() then deletes the old versions moved aside.
// A kill at any point leaves only temp names besides old or new files; the journal makes the next pull
// complete the update and its scan removes the temp names.
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <git2.h>

#include "core/git/tree_io.hpp"
#include "core/sync/settings.hpp"
#include "core/sync/stat_cache.hpp"

namespace depsync::sync {

// change_mode: only the exec bit differs, the content is the release's: the file is chmod-ed in place (same
// inode, same mtime), so the server does not redeploy it.
enum class StepKind { make_dir, write, remove_file, remove_dir, change_mode };

struct Step {
    StepKind kind;
    std::string path;
    git::Entry entry;     // what to write (write, make_dir), the mode to give (change_mode)
    bool backup = false;  // the local content differs from the deployed release: save it first
};

struct Plan {
    std::vector<Step> steps;
    git::ChangeCounts counts;        // what the release itself changes
    std::vector<std::string> drift;  // local changes the update overwrites, removes or is blocked by
    std::vector<std::string> kept;   // local changes left alone (keep, or extra files), and what they block
    // Of those, the ones on paths the release changes (or held back before and still differing): the local
    // version wins over the release's (`kept over release change`); the deployed record names them.
    std::vector<std::string> held_back;
    std::size_t backups = 0;
    bool empty() const { return steps.empty(); }
};

// `deployed`: the listing of the release applied now (empty before the first); `target`: the one to apply;
// `local`: what is on disk (excluded and node-local paths already left out of all three).
// `interrupted`: the target of an apply that was killed half-way, whose files on disk are not local changes.
Plan plan_update(const git::Listing& deployed, const git::Listing& target, const git::Listing& local,
                 LocalChanges policy, const git::Listing* interrupted = nullptr);

class Backup;

struct ApplyContext {
    std::filesystem::path dir;
    git_odb* odb = nullptr;
    // Where local changes are saved: `backup`, shared by the roots of one run (paths are then saved as
    // cache_prefix + path), or else a folder of its own, `backup_dir`, created on first use and unbounded.
    Backup* backup = nullptr;
    std::filesystem::path backup_dir;
    StatCache* cache = nullptr;  // updated with the files written
    std::string cache_prefix;    // "name/" for a named root: the cache is keyed by release paths
    std::string owner;  // `owner` setting ("USER[:GROUP]"); empty: created entries get the owner of `dir`
    int dir_fd = -1;    // `dir` as opened once for the run (OpenRoot); -1: opened here without symlinks
};

class Executor;

// Carries out a plan in two phases, so that several roots can all be staged before any of them changes.
// stage(): when it fails, or when the object is destroyed without commit(), the temp files, the folders it
// created and its own backup are removed again and nothing visible has changed. commit(): when it fails,
// what it did is undone before it throws (undone() says whether all of it could be). revert() undoes a
// commit that succeeded (another root failed); finish() makes it final. Destroyed after commit() without
// finish(), the commit is reverted.
class StagedPlan {
  public:
    StagedPlan(const Plan& plan, const ApplyContext& ctx);
    ~StagedPlan();
    StagedPlan(StagedPlan&&) noexcept;
    StagedPlan& operator=(StagedPlan&&) = delete;
    StagedPlan(const StagedPlan&) = delete;
    StagedPlan& operator=(const StagedPlan&) = delete;

    void stage();
    void commit();
    // Returns whether every step of the commit could be undone.
    bool revert();
    void finish();
    // After a failed commit(): whether the directory is back as it was.
    bool undone() const;

  private:
    std::unique_ptr<Executor> m_impl;
};

// A folder of the release's that must become a file or symlink but holds entries the update does not
// remove (kept local changes, excluded or node-local files) stays a folder: its replacement is not written
// and it is listed in `kept` (under refuse, with `policy_blocks`, as drift).
void keep_folders_holding(Plan& plan, const git::Listing& target, const std::set<std::string>& holding,
                          LocalChanges policy, bool policy_blocks);

// Moves the kept paths the release changes from `deployed` to `target`, and those in `held_before` (held
// back by an earlier apply, still kept), from plan.kept to plan.held_back.
void separate_held_back(Plan& plan, const git::Listing& deployed, const git::Listing& target,
                        const std::set<std::string>& held_before);

// Narrows a plan to the paths named in `only` and what lies below them ("" names everything), plus what
// creating them needs: a folder above one that must be created, and a local file removed where that folder
// goes. Drift and kept paths outside them are dropped, held-back ones stay; a path of `held_before` whose
// step is dropped stays held back.
void restrict_plan(Plan& plan, const std::vector<std::string>& only,
                   const std::set<std::string>& held_before);

// stage(), commit(), finish(): on failure nothing visible has changed.
void execute_plan(const Plan& plan, const ApplyContext& ctx);

// The plan's steps in the order the apply performs them (StagedPlan's phases): folders created while staging,
// then the commit's files moved away, folders removed (deepest first), folders that can be created only once
// a file in their place is gone, files written, modes changed. A hot-deployer sees an old version leave
// before a new one comes.
std::vector<const Step*> steps_in_apply_order(const Plan& plan);

// One line per step in the order the apply performs them, for --dry-run.
std::vector<std::string> describe_plan(const Plan& plan);

}  // namespace depsync::sync
