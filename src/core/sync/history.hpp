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
    git::ChangeCounts counts;           // against its first parent
    std::optional<std::string> unsafe;  // why no node applies this release (pushed by plain git), if so
};

// Newest first, at most `limit` releases (0: all). A release no node would apply is listed, marked.
std::vector<LogEntry> release_log(const NodeRepo& node, std::size_t limit, const git::TreeLimits& limits);

// Paths that differ from release `from` to release `to`.
std::vector<git::PathChange> diff_releases(const NodeRepo& node, const git_oid& from, const git_oid& to,
                                           const git::TreeLimits& limits);

struct VerifyResult {
    std::optional<Release> release;        // the release the directory should hold
    std::vector<git::PathChange> changes;  // M modified, A added locally, D missing
    std::size_t hashed = 0;
    // Primary: archives in the directory whose zip structure is incomplete (path, defect); publish takes
    // them as they are once they hold still.
    std::vector<std::pair<std::string, std::string>> malformed;
};

// Compares the directory with the release it should hold. `full` hashes every file, ignoring the stat cache.
VerifyResult verify_directory(const Settings& settings, bool full);

// The listing of a release's tree (throws git::UnsafeTree for a release no node applies).
git::Listing release_listing(git_repository* repo, const git_oid& commit, const git::TreeLimits& limits);

// `commit`, or when its tree is unsafe (a plain-git push no node applied) its nearest first-parent ancestor
// whose tree is safe: the release a directory that followed this history holds. nullopt when there is none.
std::optional<git_oid> newest_safe_release(git_repository* repo, const git_oid& commit,
                                           const git::TreeLimits& limits);

}  // namespace depsync::sync
