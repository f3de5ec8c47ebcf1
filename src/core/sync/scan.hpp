#pragma once
// Reads a deployment directory into a Listing: every folder, file, executable and symlink with its blob id.
// Files whose stat fields match the stat cache are not read; others are hashed (and, when publishing,
// stored). Symlinks are never followed.

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/fs/pattern.hpp"
#include "core/git/object_writer.hpp"
#include "core/git/tree_io.hpp"
#include "core/sync/open_roots.hpp"
#include "core/sync/settings.hpp"
#include "core/sync/stat_cache.hpp"
#include "core/sync/tree_read.hpp"

namespace depsync::sync {

// The folders whose entries may differ from the last publish's listing, as a watcher that saw every change
// reports them (listing paths, "" for an unnamed root). `folders` had an entry added, removed, renamed or
// changed; `subtrees` appeared as a whole (created or moved in): everything below them is new.
struct ChangedFolders {
    std::set<std::string> folders;
    std::set<std::string> subtrees;
    void merge(const ChangedFolders& other) {
        folders.insert(other.folders.begin(), other.folders.end());
        subtrees.insert(other.subtrees.begin(), other.subtrees.end());
    }
    bool empty() const { return folders.empty() && subtrees.empty(); }
};

// What an incremental scan reads: only the changed folders, the new subtrees and the folders above them,
// with the rules of a full scan; every other folder's entries are taken from `base`, the listing of the
// last publish (its stat cache entries are kept as they are). The listing equals a full scan's when
// `changed` names every folder that changed since `base` was read. Excluded entries, special files and
// unsafe names are reported only for the folders read.
struct IncrementalScan {
    const git::Listing* base = nullptr;
    const ChangedFolders* changed = nullptr;
    // Set: the result lists only what was read (the entries below each of ScanResult::read_folders), for
    // merge_scan to bring `base` up to date in place; the stat cache keeps every entry it does not read.
    // Unset: the result is the whole listing, the folders not read copied from `base`.
    bool partial = false;
};

struct ScanOptions {
    const fs::PathMatcher* exclude = nullptr;  // matched paths are skipped with everything below them
    git::ObjectWriter* writer = nullptr;       // when set, new blobs are written to the repository
    bool check_archives = false;               // report archives whose zip structure is incomplete
    bool full = false;                         // hash every file, ignoring the stat cache
    bool remove_stale_temps = false;           // delete depsync temp files left by a killed run
    // Publish: a file with more than one hard link that does not belong to the root's owner (or `owner`) is
    // not read, so a link to a file of someone else's (root's) never becomes release content.
    bool refuse_foreign_links = false;
    std::optional<uid_t> owner;  // the `owner` setting's user; unset: each root's owner
    // Archives whose zip structure is incomplete but that are taken as they are (publish: held still long
    // enough; see settled_scan): listed and reported as malformed while they still have this stat.
    const std::map<std::string, StatKey>* accept_malformed = nullptr;
    bool accept_every_malformed = false;  // a comparison (verify): every incomplete archive is taken so
    // Malformed archives as the last publish recorded them (path -> defect): a file the stat cache vouches
    // for is reported again, as it was not read.
    const std::map<std::string, std::string>* known_malformed = nullptr;
    const IncrementalScan* incremental = nullptr;  // set: read only the changed folders (IncrementalScan)
};

// An archive whose zip structure is incomplete.
struct ArchiveDefect {
    std::string path;
    std::string defect;  // find_zip_defect's reason
    StatKey stat;        // the file's stat fields when it was checked
};

struct ScanResult {
    git::Listing listing;
    std::vector<std::string> changing;  // changed while being read
    std::vector<std::string> recent;    // hashed files modified within the last 200 ms: maybe still written
    std::vector<ArchiveDefect> incomplete;  // not listed: maybe still being written
    std::vector<ArchiveDefect> malformed;   // listed as they are (accept_malformed, known_malformed)
    std::vector<std::string> skipped;       // sockets, devices, unnamable entries
    std::size_t hashed = 0;
    std::size_t stale_temps_removed = 0;
    std::set<std::string> holds_excluded;  // folders holding excluded (or node-local) entries: not removable
    bool cache_changed = false;            // the stat cache differs from what was loaded (worth saving)
    std::set<std::string> read_folders;    // an incremental scan's folders read ("" for an unnamed root)
};

// Scans `root` (opened without following symlinks); `cache` is replaced by the entries seen in this scan.
// Throws Error when root is missing or is a symlink.
ScanResult scan_tree(const std::filesystem::path& root, const ScanOptions& options, StatCache& cache);

// Brings `base` (the listing a partial incremental scan read against) up to date with what the scan read:
// every folder it read gets the entries the scan found there, and a folder that is gone loses everything
// below it, in `base` and in the stat cache. Returns what changed, path by path (folders included).
std::vector<git::EntryChange> merge_scan(git::Listing& base, const ScanResult& partial, StatCache& cache);

// The fingerprint of what decides which entries a scan lists: the roots and the exclude patterns.
git_oid scan_fingerprint(const std::vector<Root>& roots, const std::vector<std::string>& patterns);

// Scans every root of a node through its open descriptor; a named root's paths are prefixed with "name/" (and
// the folder "name" listed). `read`, when given, is the tree as read_tree read it just before with
// options.exclude (for the no-change check): its folders are used instead of walking the tree again.
ScanResult scan_roots(const OpenRoots& roots, const ScanOptions& options, StatCache& cache,
                      const TreeRead* read = nullptr);

}  // namespace depsync::sync
