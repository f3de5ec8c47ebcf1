#pragma once
// What is in a deployment tree, decided in one place. The folder reader lists a folder, takes each entry's
// lstat and classifies it by the rules every walk shares: depsync's temp names are no part of the tree,
// excluded and node-local paths are skipped with everything below them, a name no release may hold is
// reported rather than listed, and the kind of an entry comes from its lstat. The scan (scan.hpp) and the
// no-change check (tree_unchanged) consume what it read; neither applies a rule of its own.

#include <sys/stat.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/fs/pattern.hpp"
#include "core/fs/unique_fd.hpp"
#include "core/sync/open_roots.hpp"
#include "core/sync/stat_cache.hpp"

namespace depsync::sync {

// What an entry of a folder is to the tree, in the order the rules are applied.
enum class EntryClass : unsigned char {
    vanished,     // its lstat found it removed since the listing: not there
    stat_failed,  // its lstat failed otherwise (the errno is in EntryStat::error)
    temp,         // a depsync temp file (an apply's, or a killed run's): never part of the tree
    excluded,     // matches an exclude or node_local pattern: skipped with everything below it
    unnamable,    // a name no release may hold (fs::name_defect): reported, not listed
    folder,
    file,  // a regular file
    symlink,
    special,  // a socket, FIFO or device: reported, not listed
};

struct EntryStat {
    struct stat st {};
    int error = 0;  // errno of a failed lstat
};

// One folder as read: its names sorted bytewise, each one's lstat and class and, when the whole tree was
// read at once (read_tree), the folders below it.
struct FolderRead {
    std::string path;       // relative path, as in a listing ("" for an unnamed root)
    std::size_t strip = 0;  // length of "name/" for a named root: patterns are relative to the root
    fs::UniqueFd fd;        // read_tree's folders: kept open for the scan that may follow
    std::vector<std::string> names;
    std::vector<EntryStat> stats;
    std::vector<EntryClass> classes;
    std::vector<std::unique_ptr<FolderRead>> below;  // read_tree: per name, the folder read (or null)
    bool unreadable = false;
};

// Reads the folder open at `dir_fd` into `f` (whose path and strip the caller set): names, lstat and class
// of each entry. False, with errno set, when the folder cannot be listed.
bool read_folder(int dir_fd, FolderRead& f, const fs::PathMatcher* exclude);

// Opens the folder `name` below `dir_fd`, refusing a symlink; an invalid descriptor on failure (errno set).
fs::UniqueFd open_folder(int dir_fd, const std::string& name);

// Every folder of a node's roots, read at once: the no-change check compares it with the stat cache, and
// the scan that follows a failed check uses it instead of walking the tree again.
struct TreeRead {
    std::vector<std::unique_ptr<FolderRead>> tops;  // one per root, in the order of the roots
};

// Reads every folder below the roots on this thread and a second one, each taking the next folder waiting:
// on an unchanged tree the lstat calls are nearly all the work, and the kernel serves them on both CPUs.
// A folder that cannot be read is marked unreadable (the check fails on it, the scan reads it again).
TreeRead read_tree(const OpenRoots& roots, const fs::PathMatcher* exclude);

// True when `read` holds exactly the entries of `snapshot`, each with the stat fields it was saved with
// (and none of them racy): then the tree is the snapshot's tree, and nothing needs reading. No listing is
// built; any difference, or anything a full scan would report, gives false.
bool tree_unchanged(const TreeRead& read, CacheSnapshot& snapshot);

}  // namespace depsync::sync
