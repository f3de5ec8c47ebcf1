#pragma once
// log, diff and verify: reading releases and comparing them with each other and with the directory.
// All of it works from the node's local repository (a peer's fetched copy), without network.

#include <optional>
#include <string>
#include <vector>

#include "core/git/tree_io.hpp"
#include "core/sync/node_repo.hpp"
#include "core/sync/release.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

struct LogEntry {
    Release release;
    git::ChangeCounts counts;  // against its first parent
};

// Newest first, at most `limit` releases (0: all).
std::vector<LogEntry> release_log(const NodeRepo& node, std::size_t limit);

// Paths that differ from release `from` to release `to`.
std::vector<git::PathChange> diff_releases(const NodeRepo& node, const git_oid& from, const git_oid& to);

struct VerifyResult {
    std::optional<Release> release;        // the release the directory should hold
    std::vector<git::PathChange> changes;  // M modified, A added locally, D missing
    std::size_t hashed = 0;
};

// Compares the directory with the release it should hold. `full` hashes every file, ignoring the stat cache.
VerifyResult verify_directory(const Settings& settings, bool full);

// The listing of a release's tree.
git::Listing release_listing(git_repository* repo, const git_oid& commit);

}  // namespace depsync::sync
