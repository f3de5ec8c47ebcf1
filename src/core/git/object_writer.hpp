#pragma once
// Streams files into a repository's object database as loose objects, without holding them in memory.
//
// libgit2's loose backend deflates at a fixed level, which dominates the cost of publishing archives that are
// already compressed (and level 0 produces objects neither libgit2 nor git can read). This writer hashes with
// OpenSSL's SHA-1 and frames content as a valid zlib stream, stored (no compression) for archives and at
// level 1 for everything else. Objects are written to a temp file in objects/ and linked into place, so a
// killed run leaves at most a temp file, never a partial object.

#include <git2.h>

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

namespace depsync::git {

enum class Compression { store, fast };

class ObjectWriter {
  public:
    // objects_dir: the repository's objects/ folder.
    explicit ObjectWriter(std::filesystem::path objects_dir);

    // Reads exactly `size` bytes from fd (from its current offset) and writes them as a blob.
    // Throws FileChanged when the file does not hold exactly `size` bytes any more.
    git_oid write_blob(int fd, std::uint64_t size, Compression compression);
    git_oid write_blob(const std::string& content);
    // Any object from memory (used when copying objects between repositories).
    git_oid write_raw(git_object_t type, const void* data, std::size_t len);
    // Hard-links (or copies) an existing loose object file of another repository into this one.
    void adopt_loose(const std::filesystem::path& loose_file, const git_oid& oid);

    // An object the next sync() must make durable though this writer did not write it: one libgit2 wrote
    // (trees, commits), or one already stored that a new release names and an interrupted run may have left
    // unflushed.
    void must_flush(const git_oid& oid);

    // Makes every object written or named since the last sync durable, and nothing else: each loose object
    // file is fsynced, then each fan-out folder that holds one, then objects/ (a new fan-out folder is an
    // entry there). An object held only in a pack is skipped (packs are flushed when written). A run with
    // more than `syncfs_threshold` objects flushes with one syncfs instead (see object_writer.cpp for why).
    void sync();
    // The whole file system this repository is on, with one syncfs: also what earlier, killed runs left
    // unflushed, which the local fetch relies on (it skips objects already present).
    void sync_file_system();

    std::uint64_t objects_written() const { return m_written; }
    std::uint64_t bytes_written() const { return m_bytes; }

  private:
    std::filesystem::path m_objects_dir;
    std::set<std::string> m_unflushed;  // hex ids
    std::uint64_t m_written = 0;
    std::uint64_t m_bytes = 0;
};

// The blob id of `size` bytes read from fd, as git would compute it; nothing is written.
git_oid hash_blob(int fd, std::uint64_t size);
git_oid hash_blob(const std::string& content);
// The id of any object from memory, as git would compute it (no libgit2).
git_oid hash_object(git_object_t type, const void* data, std::size_t len);

// Thrown when a file's size no longer matches what was stat'ed: it is still being written.
struct FileChanged {};

}  // namespace depsync::git
