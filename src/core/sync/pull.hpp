#pragma once
// pull: fetch the newest release and apply it to this peer's deployment directory; pin and unpin hold a
// peer at one release.

#include <filesystem>
#include <optional>
#include <string>

#include "core/sync/apply.hpp"
#include "core/sync/release.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

struct PullOptions {
    bool dry_run = false;
    bool accept_rewrite = false;  // apply even when upstream history no longer contains the deployed release
    std::optional<std::string> to;  // apply this release (REV) instead of the newest
    bool pin = false;               // and hold the node there until unpin
};

enum class PullOutcome { nothing_upstream, up_to_date, pinned, planned, applied, reverted };

struct PullResult {
    PullOutcome outcome = PullOutcome::up_to_date;
    std::optional<Release> from;      // deployed before this run
    std::optional<Release> to;        // applied (or planned) by this run; the pinned release when pinned
    std::optional<Release> upstream;  // newest release fetched
    Plan plan;
    std::filesystem::path backup_dir;  // set when local changes were saved
    std::size_t stale_temps_removed = 0;
    std::string held_reason;      // pinned because on_change failed (empty: pinned by the operator)
    std::string on_change_error;  // on_change failed: what happened (the run then exits 1)
    std::optional<std::uint64_t> followed_cut;  // upstream dropped releases up to this one (depsync gc)
};

PullResult pull(const Settings& settings, const PullOptions& options);

// Releases the pin; returns the release the node was pinned at, or nullopt when it was not pinned.
std::optional<std::uint64_t> unpin(const Settings& settings);

}  // namespace depsync::sync
