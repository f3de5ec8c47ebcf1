#pragma once
// rollback (primary): make an earlier release current again for the whole cluster, as a new release whose
// tree is exactly the earlier one's, applied to the primary's own directory with the same safe apply as pull.
// History is never rewritten; peers converge on their next ordinary pull.

#include <filesystem>
#include <optional>
#include <string>

#include "core/sync/release.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

struct RollbackOptions {
    std::string rev;
    std::string message;
    bool force = false;  // save unpublished local changes to backup and proceed
};

struct RollbackResult {
    bool created = false;  // false: the current release already has that content
    Release release;       // the new release (or the current one)
    Release restored;
    std::filesystem::path backup_dir;  // where unpublished changes were saved
};

RollbackResult rollback(const Settings& settings, const RollbackOptions& options);

// A rollback killed after it started applying left a journal naming its commit; this completes it.
// Called with the node's lock held, before publishing or rolling back again.
void complete_interrupted_rollback(const Settings& settings, git_repository* repo);

}  // namespace depsync::sync
