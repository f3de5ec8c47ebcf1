#pragma once
// Helpers for the fault suite (tests/e2e/fault_*_test.cpp): bigger release trees and the changes between
// them, a reader that validates archives while depsync writes, the "old or new, never partial" check, temp
// and lock leftovers, a tmpfs the test mounts, and byte-level damage to repository objects.
// Nothing here knows Catch2; failures are returned as data or thrown as std::runtime_error.

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "support/tree_compare.hpp"

namespace depsync::testing {

// --- Release trees -----------------------------------------------------------------------------------------

struct FaultTreeShape {
    std::size_t capps = 60;     // CApps of 100 KB .. 2.5 MB
    std::size_t big_capps = 2;  // CApps of `big_capp_bytes`
    std::uint64_t big_capp_bytes = 6u << 20;
    std::size_t xml_files = 1900;  // Synapse XML artifacts spread over the synapse folders
};

// Fills `root` with an MI layout (every folder of layout_folders(), several empty) and the files of `shape`.
// Deterministic for a seed. Returns the number of files written.
std::size_t build_fault_tree(const std::filesystem::path& root, std::uint64_t seed,
                             const FaultTreeShape& shape = {});

// The next release of a tree built by build_fault_tree: CApps bumped (renamed), rebuilt in place, deleted and
// added; XML files edited, deleted and added; one folder emptied, one removed with its files, one created;
// one file's exec bit flipped. Returns a one-line summary.
std::string mutate_fault_tree(const std::filesystem::path& root, std::uint64_t seed);

// Writes `count` XML files of `bytes` each into `folder` (created), named <prefix><n>.xml.
void write_small_files(const std::filesystem::path& folder, const std::string& prefix, std::size_t count,
                       std::size_t bytes, std::uint64_t seed);

// --- What a hot-deploying reader sees ----------------------------------------------------------------------

// A thread that walks `dir` over and over and validates every visible (not dot-prefixed) *.car with
// find_zip_defect, as MI's deployer would open it. Folders and files vanishing under it are skipped.
class ArchiveWatcher {
  public:
    explicit ArchiveWatcher(std::filesystem::path dir);
    ~ArchiveWatcher();
    ArchiveWatcher(const ArchiveWatcher&) = delete;
    ArchiveWatcher& operator=(const ArchiveWatcher&) = delete;

    void stop();
    std::uint64_t archives_checked() const { return m_checked.load(); }
    std::uint64_t sweeps() const { return m_sweeps.load(); }
    // "path: reason" for every invalid archive seen (empty when all were valid).
    std::vector<std::string> defects() const;

  private:
    void sweep(int dir_fd, const std::string& prefix);

    std::filesystem::path m_dir;
    std::atomic<bool> m_stop{false};
    std::atomic<std::uint64_t> m_checked{0};
    std::atomic<std::uint64_t> m_sweeps{0};
    mutable std::mutex m_mutex;
    std::vector<std::string> m_defects;
    std::thread m_thread;
};

// "path: reason" for every visible *.car below `dir` that is not a complete zip (one pass).
std::vector<std::string> invalid_archives(const std::filesystem::path& dir);

// --- Describing trees quickly ------------------------------------------------------------------------------

// describe_tree with a memory: a file whose (device, inode, size, mtime, ctime) was seen before is not read
// again. depsync writes every new content to a new inode and the test does not edit files in place behind
// ctime's back, so a hit always has the remembered bytes. Digests are tree_compare's, so listings of either
// kind compare.
class TreeDescriber {
  public:
    TreeListing describe(const std::filesystem::path& root);
    std::uint64_t bytes_hashed() const { return m_hashed; }

  private:
    struct Key {
        std::uint64_t dev, ino, size;
        std::int64_t mtime, ctime;
        bool operator<(const Key& o) const;
    };
    void walk(const std::filesystem::path& root, const std::string& prefix, TreeListing& out);
    std::map<Key, std::string> m_digests;
    std::uint64_t m_hashed = 0;
};

// --- Old or new, never partial -----------------------------------------------------------------------------

// True for depsync's temp names (".depsync-tmp.*") anywhere in a relative path.
bool is_depsync_temp(const std::string& relative_path);

// Relative paths of every ".depsync-tmp.*" entry below `dir`.
std::vector<std::string> temp_files_in(const std::filesystem::path& dir);

// One line per path of `now` that holds neither its content in `old_tree` nor in `new_tree` (type, bytes,
// exec bit), per path missing although both releases have it, and per entry neither release has (depsync
// temp files excepted). Empty when every path is old or new.
std::vector<std::string> old_or_new_violations(const TreeListing& now, const TreeListing& old_tree,
                                               const TreeListing& new_tree);

// The listing without depsync temp files.
TreeListing without_temps(const TreeListing& listing);

// --- Repositories ------------------------------------------------------------------------------------------

// `git ARGS...` without user or system config.
ProcessResult run_git(const std::vector<std::string>& args);

// `git fsck --strict --no-dangling` on a bare repository: the lines that report a problem (dangling objects
// and notices are not problems). Empty when the repository is valid. A failing fsck adds its exit code.
std::vector<std::string> fsck_problems(const std::filesystem::path& repo);

// Files a killed run can leave in a repository: *.lock anywhere, objects/tmp_*, objects/pack/pack_git2_*.
std::vector<std::string> repo_leftovers(const std::filesystem::path& repo);

// The loose object file of `oid` (hex) in `repo`, or nullopt when the object is packed or absent.
std::optional<std::filesystem::path> loose_object_path(const std::filesystem::path& repo,
                                                       const std::string& oid);

// Flips `count` bytes in the middle of `file`. With `Inode::fresh` the damaged content is written to a new
// file renamed over the old one (hard links elsewhere keep the good bytes); `Inode::same` damages in place.
enum class Inode { fresh, same };
void flip_bytes(const std::filesystem::path& file, std::size_t count, Inode inode);

// Sets a file's mtime `seconds_ago` in the past.
void age_file(const std::filesystem::path& file, int seconds_ago);

// --- A tmpfs mounted by the test ---------------------------------------------------------------------------

class TmpfsMount {
  public:
    // Mounts a tmpfs of `size_mib` on `dir` (created). Check error(): when mounting is not permitted the
    // object holds the reason and nothing is mounted.
    TmpfsMount(std::filesystem::path dir, unsigned size_mib);
    ~TmpfsMount();
    TmpfsMount(const TmpfsMount&) = delete;
    TmpfsMount& operator=(const TmpfsMount&) = delete;

    bool mounted() const { return m_mounted; }
    const std::string& error() const { return m_error; }
    // Changes the size (remount); throws std::runtime_error when it fails.
    void resize(unsigned size_mib);
    std::uint64_t free_bytes() const;

  private:
    std::filesystem::path m_dir;
    bool m_mounted = false;
    std::string m_error;
};

// --- Small things ------------------------------------------------------------------------------------------

// Whether `text` contains `needle`.
inline bool contains(const std::string& text, const std::string& needle) {
    return text.find(needle) != std::string::npos;
}

// Seconds since some fixed point (steady clock), for timing runs.
double now_seconds();

}  // namespace depsync::testing
