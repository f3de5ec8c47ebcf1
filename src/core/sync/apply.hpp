#pragma once
// Turning a deployment directory from one release into another, safely for a hot-deploying reader.
//
// plan_update compares, path by path, the release deployed now, the release to deploy and what is on disk.
// execute_plan then works in this order, so that the server never sees a partial file and never sees two
// versions of a renamed archive side by side:
//   1. create new folders;
//   2. write every new or changed file to a dot-prefixed temp name in its final folder (invisible to the
//      hot-deployer) and flush them; a full disk fails here, before anything visible has changed;
//   3. save local changes that will be overwritten or removed (policy `overwrite`), then remove the files
//      and folders the release removes;
//   4. rename the temp files into place.

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <git2.h>

#include "core/git/tree_io.hpp"
#include "core/sync/settings.hpp"
#include "core/sync/stat_cache.hpp"

namespace depsync::sync {

enum class StepKind { make_dir, write, remove_file, remove_dir };

struct Step {
    StepKind kind;
    std::string path;
    git::Entry entry;     // what to write (write, make_dir)
    bool backup = false;  // the local content differs from the deployed release: save it first
};

struct Plan {
    std::vector<Step> steps;
    git::ChangeCounts counts;        // what the release itself changes
    std::vector<std::string> drift;  // local changes the update overwrites, removes or is blocked by
    std::vector<std::string> kept;   // local changes left alone (keep, or extra files), and what they block
    std::size_t backups = 0;
    bool empty() const { return steps.empty(); }
};

// `deployed`: the listing of the release applied now (empty before the first); `target`: the one to apply;
// `local`: what is on disk (excluded and node-local paths already left out of all three).
// `interrupted`: the target of an apply that was killed half-way, whose files on disk are not local changes.
Plan plan_update(const git::Listing& deployed, const git::Listing& target, const git::Listing& local,
                 LocalChanges policy, const git::Listing* interrupted = nullptr);

struct ApplyContext {
    std::filesystem::path dir;
    git_odb* odb = nullptr;
    std::filesystem::path backup_dir;  // where local changes are saved (created on first use)
    StatCache* cache = nullptr;        // updated with the files written
    std::string cache_prefix;          // "name/" for a named root: the cache is keyed by release paths
    std::string owner;  // `owner` setting ("USER[:GROUP]"); empty: created entries get the owner of `dir`
    int dir_fd = -1;    // `dir` as opened once for the run (OpenRoot); -1: opened here without symlinks
};

class Executor;

// Carries out a plan in two phases, so that several roots can all be staged before any of them changes.
// stage() does steps 1 and 2; when it fails, or when the object is destroyed without commit(), the temp
// files and the folders it created are removed again and nothing visible has changed. commit() does steps
// 3 and 4.
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

  private:
    std::unique_ptr<Executor> m_impl;
};

// stage() then commit(): on failure before step 3 nothing visible has changed.
void execute_plan(const Plan& plan, const ApplyContext& ctx);

// One line per step, for --dry-run.
std::vector<std::string> describe_plan(const Plan& plan);

}  // namespace depsync::sync
