#include "core/sync/tree_read.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>

#include "core/fs/path_safety.hpp"

namespace depsync::sync {
namespace {

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

// The lstat of every entry of a folder, in order. (Splitting one folder between two threads was measured
// and did not help: the second thread often ran only after the first had finished. Folders are read in
// parallel by read_tree instead.)
std::vector<EntryStat> stat_entries(int dir_fd, const std::vector<std::string>& names) {
    std::vector<EntryStat> out(names.size());
    for (std::size_t i = 0; i < names.size(); ++i)
        if (::fstatat(dir_fd, names[i].c_str(), &out[i].st, AT_SYMLINK_NOFOLLOW) < 0) out[i].error = errno;
    return out;
}

// The rules, in order. `path` is a buffer for the entry's path (reused: no allocation per entry).
EntryClass classify(const FolderRead& f, std::size_t i, const fs::PathMatcher* exclude, std::string& path) {
    const std::string& name = f.names[i];
    const EntryStat& stat = f.stats[i];
    if (stat.error != 0) return stat.error == ENOENT ? EntryClass::vanished : EntryClass::stat_failed;
    if (name.compare(0, fs::temp_prefix.size(), fs::temp_prefix) == 0) return EntryClass::temp;
    const mode_t mode = stat.st.st_mode;
    if (exclude && !exclude->empty()) {
        path.assign(f.path);
        if (!path.empty()) path += '/';
        path += name;
        // Patterns are relative to the root, whatever name the root has in the release.
        if (exclude->matches(std::string_view(path).substr(f.strip), S_ISDIR(mode)))
            return EntryClass::excluded;
    }
    if (fs::name_defect(name)) return EntryClass::unnamable;
    if (S_ISDIR(mode)) return EntryClass::folder;
    if (S_ISREG(mode)) return EntryClass::file;
    if (S_ISLNK(mode)) return EntryClass::symlink;
    return EntryClass::special;
}

// Reads a tree's folders on the calling thread and a second one, each taking the next folder waiting.
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

    // Reads one folder and opens the folders it holds; returns them, to be read next.
    std::vector<FolderRead*> read(FolderRead& f) {
        std::vector<FolderRead*> found;
        if (!f.fd || !read_folder(f.fd.get(), f, m_exclude)) {
            f.unreadable = true;
            return found;
        }
        f.below.resize(f.names.size());
        for (std::size_t i = 0; i < f.names.size(); ++i) {
            if (f.classes[i] != EntryClass::folder) continue;
            auto sub = std::make_unique<FolderRead>();
            sub->path = f.path.empty() ? f.names[i] : f.path + "/" + f.names[i];
            sub->strip = f.strip;
            sub->fd = open_folder(f.fd.get(), f.names[i]);
            if (!sub->fd) continue;  // the check fails on it, the scan opens it again
            found.push_back(sub.get());
            f.below[i] = std::move(sub);
        }
        return found;
    }
};

// Compares a folder as read with the snapshot's entries, in the order a scan visits them.
bool same_as_snapshot(const FolderRead& f, CacheSnapshot& snapshot, std::string& path) {
    if (f.unreadable) return false;
    const std::size_t base = path.size();
    for (std::size_t i = 0; i < f.names.size(); ++i) {
        const EntryClass what = f.classes[i];
        if (what == EntryClass::temp || what == EntryClass::excluded) continue;
        // Not listed, and a scan would report it (or fail on it).
        if (what != EntryClass::folder && what != EntryClass::file && what != EntryClass::symlink)
            return false;
        path.resize(base);
        if (base > 0) path += '/';
        path += f.names[i];
        CacheSnapshot::Entry was;
        if (!snapshot.next(was) || was.path != path) return false;
        if (what == EntryClass::folder) {
            if (was.kind != git::EntryKind::directory || !f.below[i] ||
                !same_as_snapshot(*f.below[i], snapshot, path))
                return false;
            continue;
        }
        // A file's executable bit is part of its mode: the snapshot stores files as one kind.
        git::EntryKind kind = what == EntryClass::file ? git::EntryKind::file : git::EntryKind::symlink;
        if (was.kind != kind || was.racy || !(was.stat == StatKey::of(f.stats[i].st))) return false;
    }
    path.resize(base);
    return true;
}

}  // namespace

bool read_folder(int dir_fd, FolderRead& f, const fs::PathMatcher* exclude) {
    if (!read_names(dir_fd, f.names)) return false;
    f.stats = stat_entries(dir_fd, f.names);
    f.classes.resize(f.names.size());
    std::string path;
    for (std::size_t i = 0; i < f.names.size(); ++i) f.classes[i] = classify(f, i, exclude, path);
    return true;
}

fs::UniqueFd open_folder(int dir_fd, const std::string& name) {
    return fs::UniqueFd(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

TreeRead read_tree(const OpenRoots& roots, const fs::PathMatcher* exclude) {
    TreeRead read;
    std::vector<FolderRead*> waiting;
    for (const OpenRoot& r : roots) {
        auto top = std::make_unique<FolderRead>();
        top->path = r.name;
        top->strip = r.name.empty() ? 0 : r.name.size() + 1;
        top->fd = fs::UniqueFd(::fcntl(r.fd.get(), F_DUPFD_CLOEXEC, 0));
        waiting.push_back(top.get());
        read.tops.push_back(std::move(top));
    }
    Collector(exclude).run(waiting);
    return read;
}

bool tree_unchanged(const TreeRead& read, CacheSnapshot& snapshot) {
    // Roots in the order their names sort, as their entries lie in the snapshot.
    std::vector<const FolderRead*> tops;
    for (const auto& top : read.tops) tops.push_back(top.get());
    std::sort(tops.begin(), tops.end(), [](const auto* a, const auto* b) { return a->path < b->path; });
    for (const FolderRead* top : tops) {
        std::string path = top->path;
        if (!same_as_snapshot(*top, snapshot, path)) return false;
    }
    return snapshot.at_end();
}

}  // namespace depsync::sync
