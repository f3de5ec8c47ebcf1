#pragma once
// publish: snapshot the primary's deployment directory into its repository as the next release.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/git/tree_ids.hpp"
#include "core/git/tree_io.hpp"
#include "core/sync/release.hpp"
#include "core/sync/settings.hpp"
#include "core/sync/stat_cache.hpp"
#include "core/sync/transfer.hpp"

namespace depsync::sync {

struct ChangedFolders;

// What a watcher keeps between its publishes, so that one costs what changed and not what the directory
// holds: the stat cache as the last publish left it and that publish's listing, which is the release the
// branch names for as long as the `published` record says so. Loading and saving the cache, and reading
// the current release's trees back from the repository, were most of a watcher's publish on a large tree.
// A publish uses the memory only with `changed`, and only while the branch, the `published` record and the
// fingerprint of the roots and patterns still match it; otherwise it reads the state folder as always.
// With it, a publish reads only the changed folders, brings `listing` up to date in place, and writes
// only the trees above a change: its cost follows what changed, not what the directory holds.
struct PublishMemory {
    std::optional<StatCache> cache;       // empty until a publish has filled it
    std::optional<git::Listing> listing;  // the release `tree` as its publish scanned it
    git::TreeIds trees;                   // the tree of every folder of `listing`
    git_oid tree{};
    git_oid fingerprint{};
    bool unsaved = false;  // the cache is newer than the state folder's copy

    // Writes the cache to the state folder when it is newer (a watcher does so once it is idle, and when it
    // stops). The copy there stays truthful meanwhile: it names the tree it describes, and a file whose
    // stat fields changed since is read again by whoever uses it.
    void save(const Settings& settings);
};

struct PublishOptions {
    std::string message;
    // Set by a watcher that saw every change since the last publish: only these folders are read, the rest
    // of the listing is the last publish's (see IncrementalScan). Unset (a publish run by hand), or when the
    // stat cache does not describe the current release, the whole directory is read.
    const ChangedFolders* changed = nullptr;
    // Set by a watcher: read and filled by each publish (see PublishMemory).
    PublishMemory* memory = nullptr;
};

struct PublishResult {
    bool published = false;          // false: the tree equals the current release
    std::optional<Release> release;  // the new release, or the current one when nothing was published
    git::ChangeCounts counts;
    std::vector<MirrorReport> mirrors;
    // Archives in the directory whose zip structure is incomplete, published as they are (path, defect).
    std::vector<std::pair<std::string, std::string>> malformed;
};

PublishResult publish(const Settings& settings, const PublishOptions& options);

// The host name of this machine.
std::string host_name();

}  // namespace depsync::sync
