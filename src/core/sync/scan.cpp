#include "core/sync/scan.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/error.hpp"
#include "core/fs/no_follow.hpp"
#include "core/fs/path_safety.hpp"
#include "core/fs/unique_fd.hpp"
#include "core/fs/zip_check.hpp"
#include "core/progress.hpp"

namespace depsync::sync {
namespace {

// The lstat of every entry of a folder, in order. (Splitting one folder between two threads was measured
// and did not help: the second thread often ran only after the first had finished. Folders are read in
// parallel by the no-change check's Collector instead.)
struct EntryStat {
    struct stat st {};
    int error = 0;  // errno of a failed lstat
};

std::vector<EntryStat> stat_entries(int dir_fd, const std::vector<std::string>& names) {
    std::vector<EntryStat> out(names.size());
    for (std::size_t i = 0; i < names.size(); ++i)
        if (::fstatat(dir_fd, names[i].c_str(), &out[i].st, AT_SYMLINK_NOFOLLOW) < 0) out[i].error = errno;
    return out;
}

// A folder's names (without "." and ".."), sorted bytewise; false when it cannot be read.
bool read_names(int dir_fd, std::vector<std::string>& names) {
    int dup = ::dup(dir_fd);
    if (dup < 0) return false;
    DIR* d = ::fdopendir(dup);
    if (!d) {
        ::close(dup);
        return false;
    }
    // A root's descriptor is read by every scan of a run, and its duplicates share one offset: from the
    // start.
    ::rewinddir(d);
    while (dirent* e = ::readdir(d)) {
        const char* n = e->d_name;
        if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
        names.emplace_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return true;
}

}  // namespace

// One folder as the collecting walk read it: its names sorted, each one's lstat, and the folders below it.
struct FolderRead {
    std::string path;       // relative path, as in a listing ("" for an unnamed root)
    std::size_t strip = 0;  // length of "name/" for a named root: patterns are relative to the root
    fs::UniqueFd fd;
    std::vector<std::string> names;
    std::vector<EntryStat> stats;
    std::vector<char> skip;                          // a temp file or excluded: not part of the tree
    std::vector<std::unique_ptr<FolderRead>> below;  // per name: the folder read, for names that are folders
    bool unreadable = false;
};

namespace {

class Scanner {
  public:
    Scanner(const ScanOptions& options, StatCache& cache, std::size_t strip, uid_t owner)
        : m_options(options), m_cache(cache), m_strip(strip), m_owner(owner) {}

    ScanResult result;

    // `read`: this folder as the no-change check read it just before (names and lstat results), or null.
    void scan_dir(int dir_fd, const std::string& prefix, const FolderRead* read = nullptr) {
        std::vector<std::string> listed;
        std::vector<EntryStat> statted;
        if (!read || read->unreadable) {
            listed = list(dir_fd, prefix);
            statted = stat_entries(dir_fd, listed);
            read = nullptr;
        }
        const std::vector<std::string>& names = read ? read->names : listed;
        const std::vector<EntryStat>& stats = read ? read->stats : statted;
        for (std::size_t i = 0; i < names.size(); ++i) {
            const std::string& name = names[i];
            std::string path = prefix.empty() ? name : prefix + "/" + name;
            const struct stat& st = stats[i].st;
            if (stats[i].error != 0) {
                if (stats[i].error == ENOENT) continue;  // removed while we looked
                throw_errno("stat " + path, stats[i].error);
            }
            if (name.compare(0, fs::temp_prefix.size(), fs::temp_prefix) == 0) {
                if (m_options.remove_stale_temps && ::unlinkat(dir_fd, name.c_str(), 0) == 0)
                    ++result.stale_temps_removed;
                continue;
            }
            bool is_dir = S_ISDIR(st.st_mode);
            // Patterns are relative to the root, whatever name the root has in the release.
            if (m_options.exclude &&
                m_options.exclude->matches(std::string_view(path).substr(m_strip), is_dir)) {
                for (auto slash = path.rfind('/'); slash != std::string::npos && slash > 0;
                     slash = path.rfind('/', slash - 1))
                    result.holds_excluded.insert(path.substr(0, slash));
                continue;
            }
            if (fs::name_defect(name)) {
                result.skipped.push_back(path);
                continue;
            }
            if (is_dir) {
                const FolderRead* below = read ? read->below[i].get() : nullptr;
                fs::UniqueFd sub;
                if (!below)
                    sub = fs::UniqueFd(
                        ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                if (!below && !sub) throw_errno("open folder " + path);
                m_cache.put_other(path, StatKey::of(st), git::EntryKind::directory, {}, m_start);
                result.listing.emplace(path, git::Entry{git::EntryKind::directory, {}});
                scan_dir(below ? below->fd.get() : sub.get(), path, below);
            } else if (S_ISLNK(st.st_mode)) {
                scan_symlink(dir_fd, name, std::move(path), st);
            } else if (S_ISREG(st.st_mode)) {
                if (m_options.refuse_foreign_links && st.st_nlink > 1 && st.st_uid != m_owner) {
                    spdlog::warn(
                        "not published: {} has {} hard links and belongs to uid {}, not to the "
                        "directory's owner (uid {})",
                        path, st.st_nlink, st.st_uid, m_owner);
                    continue;
                }
                scan_file(dir_fd, name, std::move(path), st);
            } else {
                result.skipped.push_back(path);
            }
        }
    }

  private:
    const ScanOptions& m_options;
    StatCache& m_cache;
    std::size_t m_strip;  // length of "name/" for a named root
    uid_t m_owner;        // the root's owner: whose files may have several links
    std::int64_t m_start = now_ns();
    Progress m_progress{m_options.writer ? "publish: reading changed files" : "comparing files"};

    static std::vector<std::string> list(int dir_fd, const std::string& prefix) {
        std::vector<std::string> names;
        if (!read_names(dir_fd, names)) throw_errno("read folder " + prefix);
        return names;
    }

    void scan_symlink(int dir_fd, const std::string& name, std::string path, const struct stat& st) {
        std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
        ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
        if (n < 0) throw_errno("read symlink " + path);
        target.resize(static_cast<std::size_t>(n));
        git_oid oid = m_options.writer ? m_options.writer->write_blob(target) : git::hash_blob(target);
        m_cache.put_other(path, StatKey::of(st), git::EntryKind::symlink, oid, m_start);
        result.listing.emplace(std::move(path), git::Entry{git::EntryKind::symlink, oid});
    }

    void scan_file(int dir_fd, const std::string& name, std::string path, const struct stat& st) {
        git::EntryKind kind = (st.st_mode & S_IXUSR) ? git::EntryKind::executable : git::EntryKind::file;
        StatKey key = StatKey::of(st);
        if (!m_options.full) {
            if (const CachedFile* hit = m_cache.find(path, key)) {
                result.listing.emplace(std::move(path), git::Entry{kind, hit->oid});
                return;
            }
        }
        // Non-blocking, no symlink, and only the regular file just listed: something put in its place (a FIFO
        // would block this open forever) is not read.
        std::string refused;
        fs::UniqueFd fd = fs::open_listed_file(dir_fd, name, st, refused);
        if (!fd) {
            if (refused.empty() && errno == ENOENT) return;  // removed while we looked
            if (refused.empty()) throw_errno("open " + path);
            // Read as a file that changed: publish looks again (and skips a FIFO or device then), a
            // comparison lists it as differing from every release.
            spdlog::warn("{} was not read: {}", path, refused);
            result.changing.push_back(path);
            if (!m_options.writer) result.listing[path] = git::Entry{kind, {}};
            return;
        }
        if (m_options.check_archives && fs::is_archive_name(name)) {
            if (auto defect = fs::find_zip_defect(fd.get())) {
                result.incomplete.emplace_back(path, *defect);
                return;
            }
        }
        git_oid oid;
        try {
            bool archive = fs::is_archive_name(name);
            oid = m_options.writer
                      ? m_options.writer->write_blob(
                            fd.get(), key.size, archive ? git::Compression::store : git::Compression::fast)
                      : git::hash_blob(fd.get(), key.size);
        } catch (const git::FileChanged&) {
            result.changing.push_back(path);
            // When only comparing, a file being written differs from any release: list it with a null id.
            if (!m_options.writer) result.listing[path] = git::Entry{kind, {}};
            return;
        }
        struct stat after {};
        if (::fstat(fd.get(), &after) < 0) throw_errno("stat " + path);
        StatKey after_key = StatKey::of(after);
        if (!(after_key == key)) {
            result.changing.push_back(path);
            return;
        }
        ++result.hashed;
        m_progress.add(1, key.size);
        if (key.mtime_ns >= now_ns() - 200'000'000) result.recent.push_back(path);
        m_cache.put(path, key, oid, m_start);
        result.listing.emplace(std::move(path), git::Entry{kind, oid});
    }
};

}  // namespace

ScanResult scan_roots(const OpenRoots& roots, const ScanOptions& options, StatCache& cache) {
    ScanResult total;
    cache.forget_seen();
    for (const OpenRoot& root : roots) {
        uid_t owner = 0;
        if (options.owner) {
            owner = *options.owner;
        } else {
            struct stat st {};
            if (::fstat(root.fd.get(), &st) < 0) throw_errno("stat " + root.dir.string());
            owner = st.st_uid;
        }
        Scanner scanner(options, cache, root.name.empty() ? 0 : root.name.size() + 1, owner);
        if (!root.name.empty()) total.listing[root.name] = git::Entry{git::EntryKind::directory, {}};
        const FolderRead* walked = nullptr;
        if (options.reuse)
            for (const auto& top : options.reuse->tops)
                if (top->path == root.name) walked = top.get();
        scanner.scan_dir(root.fd.get(), root.name, walked);
        ScanResult& r = scanner.result;
        total.listing.merge(r.listing);
        total.changing.insert(total.changing.end(), r.changing.begin(), r.changing.end());
        total.recent.insert(total.recent.end(), r.recent.begin(), r.recent.end());
        total.incomplete.insert(total.incomplete.end(), r.incomplete.begin(), r.incomplete.end());
        total.skipped.insert(total.skipped.end(), r.skipped.begin(), r.skipped.end());
        total.hashed += r.hashed;
        total.holds_excluded.merge(r.holds_excluded);
        total.stale_temps_removed += r.stale_temps_removed;
    }
    std::size_t dropped = cache.drop_unseen();
    total.cache_changed = total.hashed > 0 || dropped > 0;
    return total;
}

namespace {

// Reads a tree's folders on this thread and a second one, each taking the next folder waiting: on an
// unchanged tree the lstat calls are nearly all the work, and the kernel serves them on both CPUs.
class Collector {
  public:
    explicit Collector(const fs::PathMatcher* exclude) : m_exclude(exclude) {}

    void run(const std::vector<FolderRead*>& roots) {
        m_waiting = roots;
        std::thread helper;
        try {
            helper = std::thread([this] { work(); });
        } catch (const std::system_error&) {
            // no second thread to be had: this one reads everything
        }
        work();
        if (helper.joinable()) helper.join();
    }

  private:
    const fs::PathMatcher* m_exclude;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::vector<FolderRead*> m_waiting;
    int m_reading = 0;

    void work() {
        std::unique_lock<std::mutex> lock(m_mutex);
        for (;;) {
            m_changed.wait(lock, [&] { return !m_waiting.empty() || m_reading == 0; });
            if (m_waiting.empty()) return;  // nothing waiting and nobody reading: done
            FolderRead* folder = m_waiting.back();
            m_waiting.pop_back();
            ++m_reading;
            lock.unlock();
            std::vector<FolderRead*> found = read(*folder);
            lock.lock();
            m_waiting.insert(m_waiting.end(), found.begin(), found.end());
            --m_reading;
            m_changed.notify_all();
        }
    }

    std::vector<FolderRead*> read(FolderRead& f) {
        std::vector<FolderRead*> found;
        if (!read_names(f.fd.get(), f.names)) {
            f.unreadable = true;
            return found;
        }
        f.stats = stat_entries(f.fd.get(), f.names);
        f.skip.assign(f.names.size(), 0);
        f.below.resize(f.names.size());
        std::string path;
        for (std::size_t i = 0; i < f.names.size(); ++i) {
            const std::string& name = f.names[i];
            if (name.compare(0, fs::temp_prefix.size(), fs::temp_prefix) == 0) {
                f.skip[i] = 1;
                continue;
            }
            if (f.stats[i].error != 0) continue;  // the comparison fails on it
            bool is_dir = S_ISDIR(f.stats[i].st.st_mode);
            path = f.path.empty() ? name : f.path + "/" + name;
            if (m_exclude && m_exclude->matches(std::string_view(path).substr(f.strip), is_dir)) {
                f.skip[i] = 1;
                continue;
            }
            if (!is_dir || fs::name_defect(name)) continue;
            auto sub = std::make_unique<FolderRead>();
            sub->path = path;
            sub->strip = f.strip;
            sub->fd = fs::UniqueFd(
                ::openat(f.fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!sub->fd) continue;  // the comparison fails on it
            found.push_back(sub.get());
            f.below[i] = std::move(sub);
        }
        return found;
    }
};

// Compares folders as collected with the snapshot's entries, in the order a Scanner visits them.
bool same_as_snapshot(const FolderRead& f, CacheSnapshot& snapshot, std::string& path) {
    if (f.unreadable) return false;
    const std::size_t base = path.size();
    for (std::size_t i = 0; i < f.names.size(); ++i) {
        if (f.skip[i]) continue;
        if (f.stats[i].error != 0) return false;
        const std::string& name = f.names[i];
        const struct stat& st = f.stats[i].st;
        if (fs::name_defect(name)) return false;  // the full scan reports it
        path.resize(base);
        if (base > 0) path += '/';
        path += name;
        CacheSnapshot::Entry was;
        if (!snapshot.next(was) || was.path != path) return false;
        if (S_ISDIR(st.st_mode)) {
            if (was.kind != git::EntryKind::directory || !f.below[i] ||
                !same_as_snapshot(*f.below[i], snapshot, path))
                return false;
            continue;
        }
        git::EntryKind kind = S_ISREG(st.st_mode)   ? git::EntryKind::file
                              : S_ISLNK(st.st_mode) ? git::EntryKind::symlink
                                                    : git::EntryKind::directory;
        if (kind == git::EntryKind::directory || was.kind != kind || was.racy ||
            !(was.stat == StatKey::of(st)))
            return false;
    }
    path.resize(base);
    return true;
}

}  // namespace

git_oid scan_fingerprint(const std::vector<Root>& roots, const std::vector<std::string>& patterns) {
    std::string text = std::to_string(roots.size()) + " roots";
    for (const Root& r : roots) text += '\0' + r.name + '\0' + r.dir.string();
    text += '\0' + std::to_string(patterns.size()) + " patterns";
    for (const auto& p : patterns) text += '\0' + p;
    // Not a cryptographic hash: only ever compared with what this node saved itself, and SHA-1 would cost
    // OpenSSL's start-up (several ms) in a run that hashes nothing else. Two FNV-1a streams and the length.
    std::uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL;
    for (char c : text) {
        a = (a ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
        b = (b ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
        b ^= b >> 29;
    }
    git_oid id{};
    auto length = static_cast<std::uint32_t>(text.size());
    std::memcpy(id.id, &a, 8);
    std::memcpy(id.id + 8, &b, 8);
    std::memcpy(id.id + 16, &length, 4);
    return id;
}

TreeRead::TreeRead() = default;
TreeRead::~TreeRead() = default;

bool tree_unchanged(const OpenRoots& roots, const fs::PathMatcher* exclude, CacheSnapshot& snapshot,
                    TreeRead* keep) {
    TreeRead local;
    TreeRead& read = keep ? *keep : local;
    read.tops.clear();
    for (const OpenRoot& r : roots) {
        auto top = std::make_unique<FolderRead>();
        top->path = r.name;
        top->strip = r.name.empty() ? 0 : r.name.size() + 1;
        top->fd = fs::UniqueFd(::fcntl(r.fd.get(), F_DUPFD_CLOEXEC, 0));
        if (!top->fd) {
            read.tops.clear();
            return false;
        }
        read.tops.push_back(std::move(top));
    }
    std::vector<FolderRead*> waiting;
    for (auto& t : read.tops) waiting.push_back(t.get());
    Collector(exclude).run(waiting);
    // Roots in the order their names sort, as their entries lie in the snapshot.
    std::sort(read.tops.begin(), read.tops.end(),
              [](const auto& a, const auto& b) { return a->path < b->path; });
    for (const auto& top : read.tops) {
        std::string path = top->path;
        if (!same_as_snapshot(*top, snapshot, path)) return false;
    }
    return snapshot.at_end();
}

ScanResult scan_tree(const std::filesystem::path& root, const ScanOptions& options, StatCache& cache) {
    return scan_roots(open_roots({Root{"", root}}), options, cache);
}

}  // namespace depsync::sync
