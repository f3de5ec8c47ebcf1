#pragma once
// gc: keep the release repository bounded.
//
// On the primary, releases beyond the retention (the newest `keep` releases and every release newer than
// `keep_days` days are kept) are dropped: the kept releases are written again as a new history whose oldest
// commit has no parent and carries the cut's trailers (retention_cut.hpp); each rewritten commit keeps its
// tree, message, author, committer and release number. With signing_key, each is signed again, and only
// when its own signature verifies against the signing key or allowed_signers. Tags follow their releases;
// tags of dropped releases are deleted. Then every reachable object is packed into one pack and everything
// else is deleted.
//
// A peer follows such a cut without --accept-rewrite when the new history proves it replaces the node's
// (plan_retention_cut). On a peer, gc deletes what its fetched copy no longer needs.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <git2.h>

#include "core/git/prune.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

struct GcOptions {
    std::size_t keep = 30;    // newest releases kept (at least 1)
    unsigned keep_days = 30;  // releases newer than this many days are kept too
    bool dry_run = false;
};

struct GcResult {
    bool primary = true;
    std::uint64_t first_kept = 0;  // release numbers; 0 when there is no release
    std::uint64_t last = 0;
    std::size_t kept = 0;
    std::size_t dropped = 0;
    std::uint64_t last_dropped = 0;  // releases r<first dropped>..r<last_dropped> were dropped
    std::uint64_t first_dropped = 0;
    std::vector<std::string> tags_removed;
    std::vector<std::string> tags_moved;
    git::PruneReport prune;  // bytes_before/after also in a dry run (after == before)
};

GcResult gc(const Settings& settings, const GcOptions& options);

// Peer: deletes tags and objects its fetched copy no longer needs (keeping upstream history and the
// releases the node runs or is pinned at).
git::PruneReport prune_peer_repository(const Settings& settings, git_repository* repo);

}  // namespace depsync::sync
