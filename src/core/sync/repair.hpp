#pragma once
// repair: put the content of the release a node runs back where the directory drifted from it, without a
// new release and without network (a peer reads its fetched copy, the primary its own repository).
//
// Drift is what verify reports: a file modified or deleted locally is written again from the release, and
// a file or folder added locally (in no release path) is removed, as a pull with local_changes = overwrite
// would do. Every local file replaced or removed is saved to the backup first (backup_max_bytes,
// backup_keep), and the apply is the pull's: staged to dot-temp files, committed with an undo log, under the
// journal and the node lock. Paths matched by exclude or node_local are never touched. Paths held back by a
// pull under local_changes = keep are repaired like any drift, and the deployed record forgets them.

#include <filesystem>
#include <string>
#include <vector>

#include "core/sync/apply.hpp"
#include "core/sync/release.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

struct RepairOptions {
    std::vector<std::string> paths;  // release paths (a folder names what lies below it); empty: all drift
    bool dry_run = false;
};

enum class RepairOutcome { clean, planned, repaired };

struct RepairResult {
    RepairOutcome outcome = RepairOutcome::clean;
    Release release;                    // the release the directory holds
    Plan plan;                          // what was (or would be) done
    std::vector<std::string> matching;  // named paths that already match the release
    std::filesystem::path backup_dir;   // set when local files were saved
};

// Throws Error(usage), before anything is touched, for a node that runs no release yet, an apply that was
// interrupted (a pull completes it first), or a named path that is unsafe (absolute, '..', a control
// character...), lies below a symlink on disk, is matched by exclude or node_local, or is neither in the
// release nor on disk.
RepairResult repair(const Settings& settings, const RepairOptions& options);

}  // namespace depsync::sync
