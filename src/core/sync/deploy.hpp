#pragma once
// Making a node's deployment directory hold a given release: the shared core of pull, pin, pull --to and the
// primary's rollback. Scans the directory, plans against the release it held before, and applies.
//
// The journal (state/journal) names the target before the first file is touched. The caller records the
// outcome (deployed record or branch update) and then calls finish_deploy(), which removes the journal.

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <git2.h>

#include "core/fs/pattern.hpp"
#include "core/git/tree_io.hpp"
#include "core/sync/apply.hpp"
#include "core/sync/backup.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

struct DeployRequest {
    git_oid target{};
    std::uint64_t target_number = 0;
    std::optional<git_oid> from;         // the release the directory held; nullopt before the first
    std::optional<git_oid> interrupted;  // target of a killed apply (from the journal)
    bool dry_run = false;
    LocalChanges policy = LocalChanges::overwrite;
    std::string backup_label;  // suffix of the backup folder name, e.g. "r12"
    // Release paths held back before this apply (the deployed record's): still kept, they stay held back.
    std::set<std::string> held_back;
    // repair: act only on these release paths and what lies below them (nullopt: every path).
    std::optional<std::vector<std::string>> only;
};

struct DeployResult {
    Plan plan;
    std::filesystem::path backup_dir;  // set when local files were saved
    std::size_t stale_temps_removed = 0;
};

// Paths neither published nor touched: untouchable_patterns (`exclude` plus `node_local`).
fs::PathMatcher untouchable_paths(const Settings& settings);

// A release's listing for one root (paths relative to it), without untouchable paths.
git::Listing release_part(git_repository* repo, const git_oid& commit, const Root& root,
                          const fs::PathMatcher& skip, const git::TreeLimits& limits);

// Throws Error(usage) when the release has a top-level folder that is not one of this node's named roots.
void check_roots(const Settings& settings, git_repository* repo, const git_oid& commit);

// Applies the release. On failure the directory is as it was (every change undone) and the journal as it was
// before; only when a change of the commit phase cannot be undone does the journal stay, so that the next
// pull completes the update.
DeployResult deploy_release(const Settings& settings, git_repository* repo, const DeployRequest& request);
// Removes the journal and prunes old backups, never the ones this run saved (`this_run`).
void finish_deploy(const Settings& settings, const std::vector<std::filesystem::path>& this_run = {});

}  // namespace depsync::sync
