#pragma once
// What a scan learned about each file: its stat fields and its blob id. A file whose stat fields are
// unchanged is not read again, which makes scanning an unchanged tree cost one lstat per entry.
//
// Entries whose mtime falls within 100 ms of the moment they were read are stored as "racy": a write in the
// same timestamp tick would not change the stat fields, so they are hashed again next time.

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>

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
};

// The wall clock in nanoseconds, comparable with file timestamps.
std::int64_t now_ns();

class StatCache {
  public:
    // Loads the cache; a missing or unreadable file gives an empty cache (everything is hashed once).
    static StatCache load(const std::filesystem::path& file);
    void save(const std::filesystem::path& file) const;

    const CachedFile* find(const std::string& path, const StatKey& stat) const;
    // `read_at_ns`: when the file's stat was taken; a file modified shortly before that is stored as racy.
    void put(const std::string& path, const StatKey& stat, const git_oid& oid, std::int64_t read_at_ns);
    // Keeps an entry that was found unchanged (and so is not racy).
    void keep(const std::string& path, const CachedFile& file) { m_files[path] = file; }
    void erase(const std::string& path) { m_files.erase(path); }
    void clear() { m_files.clear(); }
    std::size_t size() const { return m_files.size(); }

  private:
    std::unordered_map<std::string, CachedFile> m_files;
};

}  // namespace depsync::sync
