#pragma once
// pull: fetch the newest release and apply it to this peer's deployment directory.

#include <filesystem>
#include <optional>

#include "core/sync/apply.hpp"
#include "core/sync/release.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

struct PullOptions {
    bool dry_run = false;
    bool accept_rewrite = false;  // apply even when upstream history no longer contains the deployed release
};

enum class PullOutcome { nothing_upstream, up_to_date, planned, applied };

struct PullResult {
    PullOutcome outcome = PullOutcome::up_to_date;
    std::optional<Release> from;
    std::optional<Release> to;
    Plan plan;
    std::filesystem::path backup_dir;  // set when local changes were saved
    std::size_t stale_temps_removed = 0;
};

PullResult pull(const Settings& settings, const PullOptions& options);

}  // namespace depsync::sync
