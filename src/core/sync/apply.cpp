#include "core/sync/apply.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include <spdlog/spdlog.h>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/fs/no_follow.hpp"
#include "core/fs/path_safety.hpp"
#include "core/fs/safe_tree.hpp"
#include "core/git/blob_stream.hpp"
#include "core/git/handle.hpp"
#include "core/progress.hpp"
#include "core/units.hpp"

namespace depsync::sync {
namespace {

using git::EntryKind;
using git::is_file_like;

const git::Entry* find(const git::Listing& l, const std::string& p) {
    auto it = l.find(p);
    return it == l.end() ? nullptr : &it->second;
}

bool same(const git::Entry* a, const git::Entry* b) {
    if (!a || !b) return a == b;
    return a->same_as(*b);
}

struct PendingFile {
    const Step* step;
    std::string tmp_parent;  // the final folder, or the root when that folder does not exist yet
    std::string tmp_name;
};

// A folder that the release turns into a file or symlink cannot be removed while it holds local entries
// that stay, and the rename would then fail half-way through the apply: the folder stays, listed as kept,
// or under refuse as drift (it blocks what the release changes).
void keep_folders_holding_kept_entries(Plan& plan, const git::Listing& target, LocalChanges policy) {
    std::set<std::string> holding;
    for (const std::string& k : plan.kept)
        for (auto slash = k.find('/'); slash != std::string::npos; slash = k.find('/', slash + 1))
            holding.insert(k.substr(0, slash));
    auto replaced_by_file = [&](const Step& s) {
        if (s.kind != StepKind::remove_dir && s.kind != StepKind::write) return false;
        const git::Entry* n = find(target, s.path);
        return n && is_file_like(n->kind) && holding.count(s.path) > 0;
    };
    std::vector<Step> steps;
    for (Step& s : plan.steps) {
        if (!replaced_by_file(s)) {
            steps.push_back(std::move(s));
            continue;
        }
        if (s.backup) --plan.backups;
        if (s.kind == StepKind::write)
            (policy == LocalChanges::refuse ? plan.drift : plan.kept).push_back(s.path);
    }
    plan.steps = std::move(steps);
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
    }

    ~Executor() {
        if (m_staged && !m_committed) undo_staging();
    }

    void stage() {
        const std::uint64_t needed = check_space();
        // Every blob is read and written here, before anything visible changes: a damaged object or a full
        // disk fails the apply with the directory untouched (the folders created for it are removed too).
        m_staged = true;
        try {
            for (const Step& s : m_plan.steps)
                if (s.kind == StepKind::make_dir && !try_make_dir(s)) m_dirs_later.push_back(&s);
            std::uint64_t files = 0;
            for (const Step& s : m_plan.steps) files += s.kind == StepKind::write ? 1 : 0;
            Progress progress("staging " + m_ctx.dir.string(), files, needed);
            for (const Step& s : m_plan.steps)
                if (s.kind == StepKind::write) progress.add(1, stage(s));
            m_tree.sync();
        } catch (...) {
            undo_staging();
            throw;
        }
    }

    void commit() {
        m_committed = true;
        save_local_changes();
        remove_entries();
        m_tree.forget();
        for (const Step* s : m_dirs_later) m_tree.make_dir(s->path);
        for (const PendingFile& f : m_pending)
            m_tree.rename_into_place(f.tmp_parent, f.tmp_name, fs::parent_path_of(f.step->path),
                                     fs::name_of(f.step->path));
        m_tree.sync();
        record_stats();
    }

  private:
    const Plan& m_plan;
    const ApplyContext& m_ctx;
    fs::SafeTree m_tree;
    std::vector<PendingFile> m_pending;
    std::vector<std::string> m_created;     // folders created before staging, removed again if staging fails
    std::vector<const Step*> m_dirs_later;  // folders whose parent does not exist before the removals
    unsigned m_seq = 0;
    bool m_staged = false;
    bool m_committed = false;

    // Removes the temp files and the folders this run created, so a failed apply leaves no trace at all.
    void undo_staging() noexcept {
        try {
            discard_staged();
            for (auto it = m_created.rbegin(); it != m_created.rend(); ++it) m_tree.remove_dir(*it);
        } catch (...) {
            // A folder that cannot be removed (another process wrote into it) stays; the next pull reuses it.
        }
        m_created.clear();
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
        std::string tmp =
            std::string(fs::temp_prefix) + std::to_string(::getpid()) + "." + std::to_string(m_seq++);
        if (s.entry.kind == EntryKind::symlink) {
            std::string target;
            git::read_blob(m_ctx.odb, s.entry.oid,
                           [&](const char* d, std::size_t n) { target.append(d, n); });
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
        throw_errno("write " + (m_ctx.dir / path).string(), err);
    }

    void discard_staged() {
        for (const PendingFile& f : m_pending) {
            int dfd = m_tree.dir_if_exists(f.tmp_parent);
            if (dfd >= 0) ::unlinkat(dfd, f.tmp_name.c_str(), 0);
        }
        m_pending.clear();
    }

    // Hard-links (or copies) a local file that is about to be replaced or removed into the backup folder.
    void save(const std::string& path) {
        int dfd = m_tree.dir_if_exists(fs::parent_path_of(path));
        if (dfd < 0) return;
        std::string name = fs::name_of(path);
        struct stat st {};
        if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode)) return;
        std::filesystem::path dest = m_ctx.backup_dir / path;
        fs::create_directories(dest.parent_path(), 0700);
        if (S_ISLNK(st.st_mode)) {
            std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
            ssize_t n = ::readlinkat(dfd, name.c_str(), target.data(), target.size());
            if (n < 0) throw_errno("back up " + path);
            target.resize(static_cast<std::size_t>(n));
            if (::symlink(target.c_str(), dest.c_str()) < 0 && errno != EEXIST)
                throw_errno("back up " + path);
            return;
        }
        if (::linkat(dfd, name.c_str(), AT_FDCWD, dest.c_str(), 0) == 0 || errno == EEXIST) return;
        // A FIFO or device has no content to save, and opening one could block: only the regular file listed.
        if (!S_ISREG(st.st_mode)) {
            spdlog::warn("{} was not saved to backup: it is not a regular file", path);
            return;
        }
        std::string refused;
        fs::UniqueFd in = fs::open_listed_file(dfd, name, st, refused);
        if (!in && !refused.empty()) {
            spdlog::warn("{} was not saved to backup: {}", path, refused);
            return;
        }
        if (!in) throw_errno("back up " + path);
        fs::UniqueFd out(::open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 0777));
        if (!out) throw_errno("back up " + path + " to " + dest.string());
        char buf[1 << 16];
        ssize_t n;
        while ((n = ::read(in.get(), buf, sizeof buf)) > 0)
            if (::write(out.get(), buf, static_cast<std::size_t>(n)) != n) throw_errno("back up " + path);
        if (n < 0) throw_errno("back up " + path);
    }

    void save_local_changes() {
        for (const Step& s : m_plan.steps)
            if (s.backup) save(s.path);
    }

    void remove_entries() {
        for (const Step& s : m_plan.steps)
            if (s.kind == StepKind::remove_file) m_tree.remove_file(s.path);
        for (auto it = m_plan.steps.rbegin(); it != m_plan.steps.rend(); ++it)
            if (it->kind == StepKind::remove_dir && !m_tree.remove_dir(it->path))
                spdlog::warn("folder {} was kept: it holds files that are not part of the release",
                             (m_ctx.dir / it->path).string());
    }

    void record_stats() {
        if (!m_ctx.cache) return;
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

Plan plan_update(const git::Listing& deployed, const git::Listing& target, const git::Listing& local,
                 LocalChanges policy, const git::Listing* interrupted) {
    Plan plan;
    plan.counts = git::count_changes(deployed, target);
    std::set<std::string> paths;
    for (const auto* l : {&deployed, &target, &local})
        for (const auto& kv : *l) paths.insert(kv.first);

    auto add = [&](StepKind kind, const std::string& path, const git::Entry* entry, bool backup) {
        Step s{kind, path, entry ? *entry : git::Entry{}, backup};
        if (backup) ++plan.backups;
        plan.steps.push_back(std::move(s));
    };

    // Local files left in place where the release has a folder, and the one `p` lies below, if any.
    std::set<std::string> kept_files;
    auto kept_file_above = [&](const std::string& p) -> const std::string* {
        for (auto slash = p.find('/'); slash != std::string::npos; slash = p.find('/', slash + 1)) {
            auto it = kept_files.find(p.substr(0, slash));
            if (it != kept_files.end()) return &*it;
        }
        return nullptr;
    };
    auto local_is_file_like = [](const git::Entry* e) { return e && is_file_like(e->kind); };
    for (const std::string& p : paths) {
        const git::Entry* n = find(target, p);
        const git::Entry* o = find(deployed, p);
        const git::Entry* l = find(local, p);
        if (same(l, n)) continue;
        // The local entry is what the deployed release put there: changing it loses nothing.
        bool clean = same(l, o) || (interrupted && l && same(l, find(*interrupted, p)));
        bool local_is_file = l && is_file_like(l->kind);
        // Under a local file that is kept, the release cannot create a folder's content. Under refuse, that
        // file blocks what the release changes there: it is drift, listed once.
        if (const std::string* file = kept_file_above(p)) {
            if (policy == LocalChanges::refuse && !same(o, n)) {
                if (plan.drift.empty() || plan.drift.back() != *file) plan.drift.push_back(*file);
            } else if (n) {
                plan.kept.push_back(p);
            }
            continue;
        }
        if (!clean && l) {
            // refuse stops the pull only for local changes on paths the release changes.
            if (policy == LocalChanges::keep || (policy == LocalChanges::refuse && same(o, n))) {
                plan.kept.push_back(p);
                if (local_is_file_like(l)) kept_files.insert(p);
                continue;
            }
            if (policy == LocalChanges::refuse) {
                plan.drift.push_back(p);
                continue;
            }
            if (local_is_file) plan.drift.push_back(p);
        }
        bool backup = !clean && local_is_file;
        if (n && n->kind == EntryKind::directory) {
            if (local_is_file) add(StepKind::remove_file, p, nullptr, backup);
            add(StepKind::make_dir, p, n, false);
        } else if (n) {
            if (l && l->kind == EntryKind::directory) add(StepKind::remove_dir, p, nullptr, false);
            add(StepKind::write, p, n, backup);
        } else if (l) {
            add(l->kind == EntryKind::directory ? StepKind::remove_dir : StepKind::remove_file, p, nullptr,
                backup);
        }
    }
    keep_folders_holding_kept_entries(plan, target, policy);
    return plan;
}

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

void execute_plan(const Plan& plan, const ApplyContext& ctx) {
    StagedPlan staged(plan, ctx);
    staged.stage();
    staged.commit();
}

std::vector<std::string> describe_plan(const Plan& plan) {
    std::vector<std::string> lines;
    for (const Step& s : plan.steps) {
        std::string note = s.backup ? "  (local change saved to backup)" : "";
        switch (s.kind) {
            case StepKind::make_dir:
                lines.push_back("create folder " + s.path + "/");
                break;
            case StepKind::write:
                lines.push_back("write  " + s.path + note);
                break;
            case StepKind::remove_file:
                lines.push_back("remove " + s.path + note);
                break;
            case StepKind::remove_dir:
                lines.push_back("remove folder " + s.path + "/");
                break;
        }
    }
    return lines;
}

}  // namespace depsync::sync
