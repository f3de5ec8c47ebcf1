#pragma once
// pull: fetch the newest release and apply it to this peer's deployment directory; pin and unpin hold a
// peer at one release.

#include <filesystem>
#include <optional>
#include <string>

#include "core/sync/apply.hpp"
#include "core/sync/node_repo.hpp"
#include "core/sync/release.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

struct PullOptions {
    bool dry_run = false;
    bool accept_rewrite = false;  // apply even when upstream history no longer contains the deployed release
    std::optional<std::string> to;  // apply this release (REV) instead of the newest
    bool pin = false;               // and hold the node there until unpin
    std::string pin_reason;  // pin: the operator's reason (check_pin_reason), kept in the pinned record
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
    std::string pin_reason;       // pinned by the operator: the reason given to pin (empty: none)
    std::string on_change_error;  // on_change failed: what happened (the run then exits 1)
    std::optional<std::uint64_t> followed_cut;  // upstream dropped releases up to this one (depsync gc)
};

PullResult pull(const Settings& settings, const PullOptions& options);

// The peer's repository, opened (created when missing) with what a killed run left cleared, and the
// remote's release branch and tags fetched into it. The caller holds the node lock.
NodeRepo open_and_fetch(const Settings& settings);

// The newest release of the repository this node follows, and where it was read.
struct NewestRelease {
    std::optional<Release> release;  // nullopt: nothing published yet
    std::string source;              // "the primary's repository PATH", "the remote URL (fetched now)", ...
};

// On the primary: its branch. On a peer: the remote's branch, fetched now under the node lock as a pull
// fetches; when the lock is busy or the fetch fails, the copy fetched last (`source` says so and why).
// Throws Error(usage) when the node was not initialised.
NewestRelease newest_release(const Settings& settings);

// Releases the pin; returns the release the node was pinned at, or nullopt when it was not pinned.
std::optional<std::uint64_t> unpin(const Settings& settings);

}  // namespace depsync::sync
