#pragma once
// What a scan learned about each file: its stat fields and its blob id. A file whose stat fields are
// unchanged is not read again, which makes scanning an unchanged tree cost one lstat per entry.
//
// Entries whose mtime falls within 100 ms of the moment they were read are stored as "racy": a write in the
// same timestamp tick would not change the stat fields, so they are hashed again next time.
//
// The file also lists folders and symlinks, in the order a scan visits the tree, and may name the tree it
// describes: a publish then checks in one pass, without building a listing, that nothing changed.

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/git/tree_ids.hpp"
#include "core/git/tree_io.hpp"

namespace depsync::sync {

struct StatKey {
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    std::uint64_t size = 0;
    std::uint64_t ino = 0;
    std::uint32_t mode = 0;

    static StatKey of(const struct stat& st);
    bool operator==(const StatKey& o) const {
        return mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns && size == o.size && ino == o.ino &&
               mode == o.mode;
    }
};

struct CachedFile {
    StatKey stat;
    git_oid oid{};
    bool racy = false;
    bool seen = false;  // found in the current scan (entries never seen are dropped at its end)
};

// The wall clock in nanoseconds, comparable with file timestamps.
std::int64_t now_ns();

// A 20-byte id (a tree, or the fingerprint of the settings a scan depends on) stored with the cache.
using CacheTag = git_oid;

class StatCache {
  public:
    // Loads the cache; a missing or unreadable file gives an empty cache (everything is hashed once).
    static StatCache load(const std::filesystem::path& file);
    // Saves every entry in the order a scan visits them. `tree` and `fingerprint`, when given, say that
    // the entries are exactly the tree `tree` as scanned with settings of that fingerprint (see
    // CacheSnapshot); a cache saved without them never vouches for a tree.
    void save(const std::filesystem::path& file, const CacheTag* tree = nullptr,
              const CacheTag* fingerprint = nullptr) const;

    // The entry of an unchanged file (same stat fields, not racy), marked as seen; nullptr otherwise.
    const CachedFile* find(const std::string& path, const StatKey& stat);
    // `read_at_ns`: when the file's stat was taken; a file modified shortly before that is stored as racy.
    // The entry is marked as seen.
    void put(const std::string& path, const StatKey& stat, const git_oid& oid, std::int64_t read_at_ns);
    // Records a folder or a symlink as scanned (marked as seen), so that the saved cache lists every entry
    // of the tree. Never a hit for find().
    void put_other(const std::string& path, const StatKey& stat, git::EntryKind kind, const git_oid& oid,
                   std::int64_t read_at_ns);
    // Starts a scan: no entry has been seen.
    void forget_seen();
    // Ends a scan: drops the entries it did not see; returns how many.
    std::size_t drop_unseen();
    void erase(const std::string& path) {
        m_files.erase(path);
        m_others.erase(path);
    }
    void clear() {
        m_files.clear();
        m_others.clear();
    }
    // Marks the entry of `path` as seen without looking at the file (an incremental scan keeps what the last
    // one read of a folder that did not change); its entry, or nullptr.
    const CachedFile* keep(const std::string& path);
    // Every entry as a listing (a file's kind from its cached mode; a folder's id is its tree's once
    // name_folders has named it, otherwise zero).
    git::Listing listing() const;
    // Names every folder by its tree in `ids` (zero for a folder `ids` does not know). A scan zeroes the id
    // of every folder it reads; a publish names them once it has written the release's trees.
    void name_folders(const git::TreeIds& ids);
    // True when every folder has a tree id: the listing then is the tree's as read from the repository.
    bool folders_named() const;
    // The tree and settings fingerprint the loaded file was saved with (see save), when it named them.
    const std::optional<CacheTag>& tree() const { return m_tree; }
    const std::optional<CacheTag>& fingerprint() const { return m_fingerprint; }
    // The number of files (folders and symlinks are not counted).
    std::size_t size() const { return m_files.size(); }

  private:
    struct Other {
        CachedFile entry;
        git::EntryKind kind;
    };
    std::unordered_map<std::string, CachedFile> m_files;
    std::unordered_map<std::string, Other> m_others;
    std::optional<CacheTag> m_tree;
    std::optional<CacheTag> m_fingerprint;
};

// A saved cache read as it lies in the file, without building any table: the entries in the order a scan
// visits them, for checking in one pass that a tree is exactly as it was (sync::tree_unchanged).
class CacheSnapshot {
  public:
    struct Entry {
        std::string_view path;
        StatKey stat;
        git::EntryKind kind = git::EntryKind::file;
        bool racy = false;
    };
    // nullopt when the file is missing, damaged, or does not vouch for a tree (saved without one).
    static std::optional<CacheSnapshot> read(const std::filesystem::path& file);
    const CacheTag& tree() const { return m_tree; }
    const CacheTag& fingerprint() const { return m_fingerprint; }
    // The next entry in visit order; false at the end.
    bool next(Entry& out);
    // True once every entry has been read and the file held nothing more.
    bool at_end() const { return m_left == 0 && m_pos == m_data.size(); }

  private:
    std::string m_data;
    std::size_t m_pos = 0;
    std::uint64_t m_left = 0;
    CacheTag m_tree{};
    CacheTag m_fingerprint{};
};

}  // namespace depsync::sync
