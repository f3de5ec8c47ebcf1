#include "core/sync/scan.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "core/error.hpp"
#include "core/fs/path_safety.hpp"
#include "core/fs/unique_fd.hpp"
#include "core/fs/zip_check.hpp"
#include "core/progress.hpp"

namespace depsync::sync {
namespace {

class Scanner {
  public:
    Scanner(const ScanOptions& options, const StatCache& old_cache, StatCache& new_cache, std::size_t strip)
        : m_options(options), m_old(old_cache), m_new(new_cache), m_strip(strip) {}

    ScanResult result;

    void scan_dir(int dir_fd, const std::string& prefix) {
        std::vector<std::string> names = list(dir_fd, prefix);
        for (const std::string& name : names) {
            std::string path = prefix.empty() ? name : prefix + "/" + name;
            struct stat st {};
            if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT) continue;  // removed while we looked
                throw_errno("stat " + path);
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
                fs::UniqueFd sub(
                    ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                if (!sub) throw_errno("open folder " + path);
                result.listing[path] = git::Entry{git::EntryKind::directory, {}};
                scan_dir(sub.get(), path);
            } else if (S_ISLNK(st.st_mode)) {
                scan_symlink(dir_fd, name, path, st);
            } else if (S_ISREG(st.st_mode)) {
                scan_file(dir_fd, name, path, st);
            } else {
                result.skipped.push_back(path);
            }
        }
    }

  private:
    const ScanOptions& m_options;
    const StatCache& m_old;
    StatCache& m_new;
    std::size_t m_strip;  // length of "name/" for a named root
    std::int64_t m_start = now_ns();
    Progress m_progress{m_options.writer ? "publish: reading changed files" : "comparing files"};

    static std::vector<std::string> list(int dir_fd, const std::string& prefix) {
        int dup = ::dup(dir_fd);
        if (dup < 0) throw_errno("read folder " + prefix);
        DIR* d = ::fdopendir(dup);
        if (!d) {
            ::close(dup);
            throw_errno("read folder " + prefix);
        }
        std::vector<std::string> names;
        while (dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n != "." && n != "..") names.push_back(std::move(n));
        }
        ::closedir(d);
        std::sort(names.begin(), names.end());
        return names;
    }

    void scan_symlink(int dir_fd, const std::string& name, const std::string& path, const struct stat& st) {
        std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
        ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
        if (n < 0) throw_errno("read symlink " + path);
        target.resize(static_cast<std::size_t>(n));
        git_oid oid = m_options.writer ? m_options.writer->write_blob(target) : git::hash_blob(target);
        result.listing[path] = git::Entry{git::EntryKind::symlink, oid};
    }

    void scan_file(int dir_fd, const std::string& name, const std::string& path, const struct stat& st) {
        git::EntryKind kind = (st.st_mode & S_IXUSR) ? git::EntryKind::executable : git::EntryKind::file;
        StatKey key = StatKey::of(st);
        if (!m_options.full) {
            if (const CachedFile* hit = m_old.find(path, key)) {
                result.listing[path] = git::Entry{kind, hit->oid};
                m_new.keep(path, *hit);
                return;
            }
        }
        fs::UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) {
            if (errno == ENOENT) return;
            throw_errno("open " + path);
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
        result.listing[path] = git::Entry{kind, oid};
        m_new.put(path, key, oid, m_start);
    }
};

}  // namespace

namespace {

fs::UniqueFd open_root(const std::filesystem::path& root) {
    fs::UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT || errno == ENOTDIR)
            throw Error("deployment directory " + root.string() + " does not exist", ExitCode::usage);
        throw_errno("open deployment directory " + root.string());
    }
    return fd;
}

}  // namespace

ScanResult scan_roots(const std::vector<Root>& roots, const ScanOptions& options, StatCache& cache) {
    StatCache fresh;
    ScanResult total;
    for (const Root& root : roots) {
        fs::UniqueFd fd = open_root(root.dir);
        Scanner scanner(options, cache, fresh, root.name.empty() ? 0 : root.name.size() + 1);
        if (!root.name.empty()) total.listing[root.name] = git::Entry{git::EntryKind::directory, {}};
        scanner.scan_dir(fd.get(), root.name);
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
    total.cache_changed = total.hashed > 0 || fresh.size() != cache.size();
    cache = std::move(fresh);
    return total;
}

ScanResult scan_tree(const std::filesystem::path& root, const ScanOptions& options, StatCache& cache) {
    return scan_roots({Root{"", root}}, options, cache);
}

}  // namespace depsync::sync
