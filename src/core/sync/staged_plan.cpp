// StagedPlan: the two phases of an apply (see apply.hpp). Staging checks and writes everything invisible;
// the commit logs each visible step so that a failure part-way is undone path by path.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>

#include "core/error.hpp"
#include "core/fs/path_safety.hpp"
#include "core/fs/safe_tree.hpp"
#include "core/fs/unique_fd.hpp"
#include "core/git/blob_stream.hpp"
#include "core/progress.hpp"
#include "core/sync/apply.hpp"
#include "core/sync/backup.hpp"
#include "core/units.hpp"

namespace depsync::sync {
namespace {

using git::EntryKind;

struct PendingFile {
    const Step* step;
    std::string tmp_parent;  // the final folder, or the root when that folder does not exist yet
    std::string tmp_name;
};

// What one visible step of a commit did, and so how it is undone.
enum class Did {
    moved_aside,   // the entry at parent/name now has the temp name aside_parent/aside_name
    removed_dir,   // the folder parent/name was removed (`old` has its mode and owner)
    made_dir,      // the folder parent/name was created
    placed,        // the temp file aside_parent/aside_name was renamed to parent/name, where nothing was
    exchanged,     // likewise, and the old entry now has the temp name
    mode_changed,  // the file parent/name was chmod-ed in place (`old` has its mode)
    lost,          // an old entry removed for good (no rename aside possible): cannot be undone
};

struct Done {
    Did did;
    std::string parent, name;
    std::string aside_parent, aside_name;
    struct stat old {};
};

std::string join(const std::string& parent, const std::string& name) {
    return parent.empty() ? name : parent + "/" + name;
}

// A long name, shortened for a one-line message.
std::string shortened(const std::string& name) {
    return name.size() <= 48 ? name : name.substr(0, 40) + "...";
}

}  // namespace

class Executor {
  public:
    Executor(const Plan& plan, const ApplyContext& ctx)
        : m_plan(plan),
          m_ctx(ctx),
          m_tree(ctx.dir_fd >= 0 ? fs::SafeTree(ctx.dir_fd, ctx.dir) : fs::SafeTree(ctx.dir)) {
        // Run as root, what is created belongs to the directory's owner, with explicit modes.
        m_tree.set_owner(fs::owner_for_created(m_tree.dir(""), ctx.owner));
        m_backup = ctx.backup;
        if (!m_backup && !ctx.backup_dir.empty()) {
            m_own_backup = std::make_unique<Backup>(ctx.backup_dir, UINT64_MAX);
            m_backup = m_own_backup.get();
        }
        for (const Step& s : plan.steps) {
            if (s.kind == StepKind::remove_dir) m_removed_dirs.insert(s.path);
            if (s.kind == StepKind::remove_dir || s.kind == StepKind::remove_file) m_removed.insert(s.path);
            if (s.kind == StepKind::write) m_written.insert(s.path);
        }
    }

    ~Executor() {
        if (m_finished) return;
        if (m_committed) m_undone = undo_commit();
        if (m_staged) undo_staging();
        if (m_own_backup && m_undone) m_own_backup->discard();
    }

    void stage() {
        m_staged = true;
        try {
            // Every check that can fail on this node runs before anything is written.
            check_paths();
            for_each_backup([&](int dfd, const std::string& name, const std::string& rel, const auto& shown) {
                m_backup->plan(dfd, name, rel, shown);
            });
            const std::uint64_t needed = check_space();
            if (m_backup) m_backup->check_space();
            // Every blob is read and written here, before anything visible changes: a damaged object or a
            // full disk fails the apply with the directory untouched (the folders created for it are removed
            // too).
            for (const Step& s : m_plan.steps)
                if (s.kind == StepKind::make_dir && !try_make_dir(s)) m_dirs_later.push_back(&s);
            std::uint64_t files = 0;
            for (const Step& s : m_plan.steps) files += s.kind == StepKind::write ? 1 : 0;
            Progress progress("staging " + m_ctx.dir.string(), files, needed);
            for (const Step& s : m_plan.steps)
                if (s.kind == StepKind::write) progress.add(1, stage(s));
            m_tree.sync();
            // Local changes are saved last, still before the first visible change.
            for_each_backup([&](int dfd, const std::string& name, const std::string& rel, const auto& shown) {
                m_backup->save(dfd, name, rel, shown);
            });
            if (m_backup) m_backup->sync();
        } catch (...) {
            undo_staging();
            if (m_own_backup) m_own_backup->discard();
            throw;
        }
    }

    void commit() {
        m_committed = true;
        m_undone = false;
        try {
            move_removed_files_aside();
            remove_folders();
            make_later_folders();
            place_files();
            change_modes();
            m_tree.sync();
        } catch (...) {
            m_undone = undo_commit();
            m_committed = false;
            throw;
        }
        record_stats();
    }

    bool revert() {
        m_undone = undo_commit();
        m_committed = false;
        return m_undone;
    }

    // Deletes the old versions moved aside; the update is final.
    void finish() {
        for (const Done& d : m_done) {
            if (d.did != Did::moved_aside && d.did != Did::exchanged) continue;
            int dfd = m_tree.dir_if_exists(d.aside_parent);
            if (dfd < 0 || ::unlinkat(dfd, d.aside_name.c_str(), 0) < 0)
                spdlog::warn("cannot remove the old version of {} ({}): the next pull removes it",
                             (m_ctx.dir / join(d.parent, d.name)).string(), d.aside_name);
        }
        m_done.clear();
        m_pending.clear();
        m_created.clear();
        m_finished = true;
    }

    bool undone() const { return m_undone; }

  private:
    const Plan& m_plan;
    const ApplyContext& m_ctx;
    fs::SafeTree m_tree;
    Backup* m_backup = nullptr;
    std::unique_ptr<Backup> m_own_backup;
    std::set<std::string> m_removed_dirs, m_removed, m_written;
    std::vector<PendingFile> m_pending;
    std::vector<std::string> m_created;     // folders created before staging, removed again if staging fails
    std::vector<const Step*> m_dirs_later;  // folders whose parent does not exist before the removals
    std::vector<Done> m_done;               // the visible steps of the commit, in order
    unsigned m_seq = 0;
    bool m_staged = false;
    bool m_committed = false;
    bool m_finished = false;
    bool m_undone = true;
    bool m_plain_renames = false;  // the file system has no renameat2 flags: renames cannot be undone

    std::filesystem::path shown(const std::string& rel) const { return m_ctx.dir / rel; }

    std::string next_temp_name() {
        return std::string(fs::temp_prefix) + std::to_string(::getpid()) + "." + std::to_string(m_seq++);
    }

    template <typename Fn>
    void for_each_backup(Fn&& fn) {
        if (!m_backup) return;
        for (const Step& s : m_plan.steps) {
            if (!s.backup) continue;
            int dfd = m_tree.dir_if_exists(fs::parent_path_of(s.path));
            if (dfd < 0) continue;
            std::string rel = m_own_backup ? s.path : m_ctx.cache_prefix + s.path;
            fn(dfd, fs::name_of(s.path), rel, shown(s.path));
        }
    }

    // Names and paths the file system cannot hold, and folders that must become files but hold entries the
    // update does not remove (an excluded file, or one written since the scan): the commit would fail on
    // them half-way, so they fail the apply here.
    void check_paths() {
        long name_max = ::fpathconf(m_tree.dir(""), _PC_NAME_MAX);
        if (name_max <= 0) name_max = NAME_MAX;
        for (const Step& s : m_plan.steps) {
            if (s.kind != StepKind::write && s.kind != StepKind::make_dir) continue;
            for (std::size_t at = 0; at <= s.path.size();) {
                std::size_t end = std::min(s.path.find('/', at), s.path.size());
                if (end - at > static_cast<std::size_t>(name_max))
                    throw Error("cannot apply this release to " + m_ctx.dir.string() + ": the name '" +
                                shortened(s.path.substr(at, end - at)) + "' is " + std::to_string(end - at) +
                                " bytes, longer than its file system allows (" + std::to_string(name_max) +
                                "); nothing was changed");
                at = end + 1;
            }
            const std::size_t length = shown(s.path).native().size();
            if (length >= PATH_MAX)
                throw Error("cannot apply this release to " + m_ctx.dir.string() + ": the path " +
                            shortened(s.path) + " would be " + std::to_string(length) +
                            " bytes, longer than the system allows (" + std::to_string(PATH_MAX - 1) +
                            "); nothing was changed");
            if (s.kind == StepKind::write) check_folder_replaceable(s.path);
        }
    }

    void check_folder_replaceable(const std::string& path) {
        int parent = m_tree.dir_if_exists(fs::parent_path_of(path));
        struct stat st {};
        if (parent < 0 || ::fstatat(parent, fs::name_of(path).c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISDIR(st.st_mode))
            return;
        if (auto blocker = entry_not_removed(parent, path))
            throw Error(
                "cannot apply this release to " + m_ctx.dir.string() + ": the folder " + path +
                " must become a file, but it holds " + *blocker +
                ", which the update does not remove (excluded, node-local, or written since the scan); "
                "nothing was changed");
    }

    // The first entry below the folder `path` (in folder `parent`) that the plan does not remove.
    std::optional<std::string> entry_not_removed(int parent, const std::string& path) {
        int fd = ::openat(parent, fs::name_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) return path;
        DIR* d = ::fdopendir(fd);
        if (!d) {
            ::close(fd);
            return path;
        }
        std::unique_ptr<DIR, int (*)(DIR*)> owner(d, ::closedir);
        std::vector<std::pair<std::string, bool>> entries;
        while (const dirent* e = ::readdir(d)) {
            std::string name = e->d_name;
            if (name == "." || name == "..") continue;
            struct stat st {};
            bool is_dir =
                ::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
            entries.emplace_back(path + "/" + name, is_dir);
        }
        for (const auto& [rel, is_dir] : entries) {
            if (!m_removed.count(rel)) return rel;
            if (is_dir)
                if (auto below = entry_not_removed(::dirfd(d), rel)) return below;
        }
        return std::nullopt;
    }

    // Returns the bytes the release writes.
    std::uint64_t check_space() {
        std::uint64_t needed = 0;
        for (const Step& s : m_plan.steps)
            if (s.kind == StepKind::write) needed += git::blob_size(m_ctx.odb, s.entry.oid);
        if (needed == 0) return needed;
        struct statvfs vfs {};
        if (::fstatvfs(m_tree.dir(""), &vfs) < 0) return needed;
        std::uint64_t free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
        // Temp files exist next to the old versions until the renames, so the whole size must fit at once.
        if (needed + (1 << 20) > free_bytes)
            throw Error("not enough space in " + m_ctx.dir.string() + ": this release writes " +
                        human_bytes(needed) + ", " + human_bytes(free_bytes) +
                        " are free; free some space and pull again (nothing was changed)");
        return needed;
    }

    bool try_make_dir(const Step& s) {
        int parent = m_tree.dir_if_exists(fs::parent_path_of(s.path));
        if (parent < 0) return false;
        struct stat st {};
        if (::fstatat(parent, fs::name_of(s.path).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
            return S_ISDIR(st.st_mode);  // something else is in the way: it is removed first
        m_tree.make_dir(s.path);
        m_created.push_back(s.path);
        return true;
    }

    // Writes the file under a temp name in its final folder, or in the root when that folder is created only
    // after removals (a file replaced by a folder); renames within one file system move it into place later.
    // Returns the bytes written.
    std::uint64_t stage(const Step& s) {
        std::string parent = fs::parent_path_of(s.path);
        int dfd = m_tree.dir_if_exists(parent);
        if (dfd < 0) {
            parent.clear();
            dfd = m_tree.dir("");
        }
        std::string tmp = next_temp_name();
        if (s.entry.kind == EntryKind::symlink) {
            std::string target = git::read_small_blob(m_ctx.odb, s.entry.oid);
            if (::symlinkat(target.c_str(), dfd, tmp.c_str()) < 0) fail_write(s.path);
            m_pending.push_back({&s, parent, tmp});
            m_tree.adopt_link(dfd, tmp, s.path);
            return target.size();
        }
        std::uint64_t written = 0;
        fs::UniqueFd fd(
            ::openat(dfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!fd) fail_write(s.path);
        m_pending.push_back({&s, parent, tmp});
        git::read_blob(m_ctx.odb, s.entry.oid, [&](const char* data, std::size_t len) {
            while (len > 0) {
                ssize_t n = ::write(fd.get(), data, len);
                if (n < 0) {
                    if (errno == EINTR) continue;
                    fail_write(s.path);
                }
                data += n;
                len -= static_cast<std::size_t>(n);
                written += static_cast<std::uint64_t>(n);
            }
        });
        m_tree.adopt(fd.get(), s.path, s.entry.kind == EntryKind::executable ? 0755 : 0644);
        return written;
    }

    [[noreturn]] void fail_write(const std::string& path) {
        int err = errno;
        if (err == ENOSPC || err == EDQUOT)
            throw Error("not enough space in " + m_ctx.dir.string() + " while writing " + path +
                        "; free some space and pull again (nothing was changed)");
        throw_errno("write " + shown(path).string(), err);
    }

    // Removes the temp files and the folders this run created, so a failed apply leaves no trace at all.
    void undo_staging() noexcept {
        try {
            for (const PendingFile& f : m_pending) {
                int dfd = m_tree.dir_if_exists(f.tmp_parent);
                if (dfd >= 0) ::unlinkat(dfd, f.tmp_name.c_str(), 0);
            }
            m_pending.clear();
            for (auto it = m_created.rbegin(); it != m_created.rend(); ++it) m_tree.remove_dir(*it);
        } catch (...) {
            // A folder that cannot be removed (another process wrote into it) stays; the next pull reuses it.
        }
        m_created.clear();
        m_staged = false;
    }

    // renameat2 with `flags`, or a plain rename where the file system has no such flags (then nothing
    // replaced can be brought back: `replaced` says whether something was).
    int rename_with(int from, const std::string& from_name, int to, const std::string& to_name,
                    unsigned flags) {
        if (!m_plain_renames) {
            int rc = ::renameat2(from, from_name.c_str(), to, to_name.c_str(), flags);
            if (rc == 0 || (errno != EINVAL && errno != ENOSYS)) return rc;
            m_plain_renames = true;
        }
        return ::renameat(from, from_name.c_str(), to, to_name.c_str());
    }

    // Where a removed entry is kept until finish(): its folder, or, when that folder is removed too, the
    // nearest folder above that stays.
    std::string aside_folder(const std::string& path) const {
        std::string parent = fs::parent_path_of(path);
        while (!parent.empty() && m_removed_dirs.count(parent)) parent = fs::parent_path_of(parent);
        return parent;
    }

    void move_removed_files_aside() {
        for (const Step& s : m_plan.steps) {
            if (s.kind != StepKind::remove_file) continue;
            std::string parent = fs::parent_path_of(s.path), name = fs::name_of(s.path);
            int from = m_tree.dir_if_exists(parent);
            struct stat st {};
            if (from < 0) continue;
            if (::fstatat(from, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT) continue;
                throw_errno("remove " + shown(s.path).string());
            }
            if (S_ISDIR(st.st_mode))
                throw Error("cannot remove " + shown(s.path).string() +
                            ": it became a folder since the scan; pull again");
            std::string aside_parent = aside_folder(s.path), aside = next_temp_name();
            int to = m_tree.dir(aside_parent);
            if (rename_with(from, name, to, aside, RENAME_NOREPLACE) == 0) {
                m_done.push_back({Did::moved_aside, parent, name, aside_parent, aside, {}});
                continue;
            }
            if (errno != EXDEV) throw_errno("remove " + shown(s.path).string());
            // A mount point lies between: the old version cannot be kept aside.
            if (::unlinkat(from, name.c_str(), 0) < 0) throw_errno("remove " + shown(s.path).string());
            m_done.push_back({Did::lost, parent, name, {}, {}, {}});
        }
    }

    void remove_folders() {
        for (auto it = m_plan.steps.rbegin(); it != m_plan.steps.rend(); ++it) {
            if (it->kind != StepKind::remove_dir) continue;
            std::string parent_path = fs::parent_path_of(it->path), name = fs::name_of(it->path);
            int parent = m_tree.dir_if_exists(parent_path);
            struct stat st {};
            if (parent < 0 || ::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                !S_ISDIR(st.st_mode))
                continue;
            if (m_tree.remove_dir(it->path)) {
                m_done.push_back({Did::removed_dir, parent_path, name, {}, {}, st});
            } else if (m_written.count(it->path)) {
                throw Error("cannot replace the folder " + shown(it->path).string() +
                            " by a file: it holds entries that are not part of the release (written since "
                            "the scan?); pull again");
            } else {
                spdlog::warn("folder {} was kept: it holds files that are not part of the release",
                             shown(it->path).string());
            }
        }
    }

    void make_later_folders() {
        for (const Step* s : m_dirs_later) {
            int parent = m_tree.dir(fs::parent_path_of(s->path));
            struct stat st {};
            if (::fstatat(parent, fs::name_of(s->path).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISDIR(st.st_mode))
                continue;
            m_tree.make_dir(s->path);
            m_done.push_back({Did::made_dir, fs::parent_path_of(s->path), fs::name_of(s->path), {}, {}, {}});
        }
    }

    // Renames each temp file into place; an old version is exchanged with it, so it can be brought back.
    void place_files() {
        for (const PendingFile& f : m_pending) {
            const std::string parent = fs::parent_path_of(f.step->path), name = fs::name_of(f.step->path);
            int from = m_tree.dir(f.tmp_parent);
            int to = m_tree.dir(parent);
            const std::string what = "move " + shown(f.step->path).string() + " into place";
            struct stat st {};
            bool exists = ::fstatat(to, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
            if (exists && S_ISDIR(st.st_mode))
                throw Error("cannot write " + shown(f.step->path).string() +
                            ": a folder is in its place (created since the scan?); pull again");
            if (!exists && rename_with(from, f.tmp_name, to, name, RENAME_NOREPLACE) == 0) {
                m_done.push_back({Did::placed, parent, name, f.tmp_parent, f.tmp_name, {}});
                continue;
            }
            if (!exists && errno != EEXIST) throw_errno(what);
            if (rename_with(from, f.tmp_name, to, name, RENAME_EXCHANGE) < 0) throw_errno(what);
            m_done.push_back(
                {m_plain_renames ? Did::lost : Did::exchanged, parent, name, f.tmp_parent, f.tmp_name, {}});
        }
    }

    // The file at `path`, opened without following a symlink or blocking on a FIFO; invalid unless it is a
    // regular file (then `st` holds its stat).
    fs::UniqueFd open_regular(const std::string& path, struct stat& st) {
        int parent = m_tree.dir_if_exists(fs::parent_path_of(path));
        if (parent < 0) return {};
        fs::UniqueFd fd(
            ::openat(parent, fs::name_of(path).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        if (!fd || ::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode)) return {};
        return fd;
    }

    // A change of the exec bit alone: the file keeps its inode and mtime, so the server does not redeploy it.
    void change_modes() {
        for (const Step& s : m_plan.steps) {
            if (s.kind != StepKind::change_mode) continue;
            struct stat st {};
            fs::UniqueFd fd = open_regular(s.path, st);
            if (!fd)
                throw Error("cannot change the mode of " + shown(s.path).string() +
                            ": it is no longer the file the scan found; pull again");
            if (::fchmod(fd.get(), s.entry.kind == EntryKind::executable ? 0755 : 0644) < 0)
                throw_errno("change the mode of " + shown(s.path).string());
            m_done.push_back(
                {Did::mode_changed, fs::parent_path_of(s.path), fs::name_of(s.path), {}, {}, st});
        }
    }

    // Undoes the logged steps, newest first. Returns whether every one was undone.
    bool undo_commit() noexcept {
        bool complete = true;
        m_tree.forget();
        for (auto it = m_done.rbegin(); it != m_done.rend(); ++it) {
            const Done& d = *it;
            const std::string path = join(d.parent, d.name);
            try {
                int rc = 0;
                switch (d.did) {
                    case Did::moved_aside:
                        rc = rename_with(m_tree.dir(d.aside_parent), d.aside_name, m_tree.dir(d.parent),
                                         d.name, RENAME_NOREPLACE);
                        break;
                    case Did::removed_dir: {
                        m_tree.make_dir(path, d.old.st_mode & 07777);
                        int parent = m_tree.dir(d.parent);
                        if (::fchownat(parent, d.name.c_str(), d.old.st_uid, d.old.st_gid,
                                       AT_SYMLINK_NOFOLLOW) < 0 ||
                            ::fchmodat(parent, d.name.c_str(), d.old.st_mode & 07777, 0) < 0)
                            spdlog::warn("cannot restore the owner and mode of {}", shown(path).string());
                        break;
                    }
                    case Did::made_dir:
                        rc = m_tree.remove_dir(path) ? 0 : -1;
                        break;
                    case Did::placed:
                        rc = ::renameat(m_tree.dir(d.parent), d.name.c_str(), m_tree.dir(d.aside_parent),
                                        d.aside_name.c_str());
                        break;
                    case Did::exchanged:
                        rc = rename_with(m_tree.dir(d.aside_parent), d.aside_name, m_tree.dir(d.parent),
                                         d.name, RENAME_EXCHANGE);
                        break;
                    case Did::mode_changed: {
                        struct stat st {};
                        fs::UniqueFd fd = open_regular(path, st);
                        rc = fd ? ::fchmod(fd.get(), d.old.st_mode & 07777) : -1;
                        break;
                    }
                    case Did::lost:
                        rc = -1;
                        break;
                }
                if (rc < 0) {
                    complete = false;
                    spdlog::warn("cannot bring back the previous version of {}", shown(path).string());
                }
            } catch (const std::exception& e) {
                complete = false;
                spdlog::warn("cannot bring back the previous version of {}: {}", shown(path).string(),
                             e.what());
            }
        }
        m_done.clear();
        m_tree.forget();
        return complete;
    }

    void record_stats() {
        if (!m_ctx.cache) return;
        for (const Step& s : m_plan.steps) {
            struct stat st {};
            if (s.kind == StepKind::change_mode && open_regular(s.path, st))
                m_ctx.cache->put(m_ctx.cache_prefix + s.path, StatKey::of(st), s.entry.oid, now_ns());
        }
        for (const PendingFile& f : m_pending) {
            if (f.step->entry.kind == EntryKind::symlink) continue;
            struct stat st {};
            int dfd = m_tree.dir(fs::parent_path_of(f.step->path));
            if (::fstatat(dfd, fs::name_of(f.step->path).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
                m_ctx.cache->put(m_ctx.cache_prefix + f.step->path, StatKey::of(st), f.step->entry.oid,
                                 now_ns());
        }
    }
};

StagedPlan::StagedPlan(const Plan& plan, const ApplyContext& ctx)
    : m_impl(std::make_unique<Executor>(plan, ctx)) {}

StagedPlan::~StagedPlan() = default;
StagedPlan::StagedPlan(StagedPlan&&) noexcept = default;

void StagedPlan::stage() {
    m_impl->stage();
}

void StagedPlan::commit() {
    m_impl->commit();
}

bool StagedPlan::revert() {
    return m_impl->revert();
}

void StagedPlan::finish() {
    m_impl->finish();
}

bool StagedPlan::undone() const {
    return m_impl->undone();
}

void execute_plan(const Plan& plan, const ApplyContext& ctx) {
    StagedPlan staged(plan, ctx);
    staged.stage();
    staged.commit();
    staged.finish();
}

}  // namespace depsync::sync
