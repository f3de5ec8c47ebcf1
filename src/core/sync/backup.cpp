#include "core/sync/backup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>

#include <spdlog/spdlog.h>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/fs/file_copy.hpp"
#include "core/fs/no_follow.hpp"
#include "core/fs/unique_fd.hpp"
#include "core/units.hpp"

namespace depsync::sync {
namespace {

namespace stdfs = std::filesystem;

constexpr std::uint64_t space_margin = 1 << 20;

[[noreturn]] void fail_save(const stdfs::path& shown, const stdfs::path& dest, int err) {
    std::string cause = std::strerror(err);
    if (err == ENOSPC || err == EDQUOT)
        cause += " (the state folder's file system is full: free some space and pull again)";
    throw Error("cannot back up " + shown.string() + " to " + dest.string() + ": " + cause +
                "; nothing was changed");
}

std::string timestamp() {
    char buf[32];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::localtime_r(&now, &tm);
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
    return buf;
}

}  // namespace

Backup::Backup(stdfs::path dir, std::uint64_t max_copy_bytes)
    : m_dir(std::move(dir)), m_max_copy_bytes(max_copy_bytes) {}

void Backup::find_file_system() {
    if (!m_fs_probe.empty()) return;
    stdfs::path probe = m_dir;
    struct stat st {};
    while (::stat(probe.c_str(), &st) < 0 && probe.has_relative_path()) probe = probe.parent_path();
    m_fs_probe = probe;
    m_dev = st.st_dev;
}

void Backup::plan(int dfd, const std::string& name, const std::string& rel, const stdfs::path& shown) {
    struct stat st {};
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode)) return;
    find_file_system();
    const stdfs::path dest = m_dir / rel;
    if (dest.native().size() >= PATH_MAX)
        throw Error("cannot back up " + shown.string() + ": its backup path in " + m_dir.string() +
                    " would be " + std::to_string(dest.native().size()) +
                    " bytes, longer than the system allows (" + std::to_string(PATH_MAX - 1) +
                    "); give 'state' a shorter path or move the file away; nothing was changed");
    struct statvfs vfs {};
    if (::statvfs(m_fs_probe.c_str(), &vfs) == 0 && vfs.f_namemax > 0)
        for (const auto& part : stdfs::path(rel))
            if (part.native().size() > vfs.f_namemax)
                throw Error("cannot back up " + shown.string() + ": the name '" + part.string() +
                            "' is longer than the state folder's file system allows (" +
                            std::to_string(vfs.f_namemax) + " bytes); nothing was changed");
    // A hard link costs nothing; only a copy to another file system counts.
    if (!S_ISREG(st.st_mode) || st.st_dev == m_dev) return;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (m_copy_bytes + size > m_max_copy_bytes)
        throw Error("cannot back up " + shown.string() + " (" + human_bytes(size) +
                    "): the state folder is on another file system, so it would be copied, and this run's "
                    "copies would exceed backup_max_bytes (" +
                    human_bytes(m_max_copy_bytes) +
                    "); move the file away or raise backup_max_bytes; nothing was changed");
    m_copy_bytes += size;
    m_copy_alloc += static_cast<std::uint64_t>(st.st_blocks) * 512;
}

void Backup::check_space() const {
    if (m_copy_alloc == 0) return;
    struct statvfs vfs {};
    if (::statvfs(m_fs_probe.c_str(), &vfs) < 0) return;
    const std::uint64_t free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    if (m_copy_alloc + space_margin > free_bytes)
        throw Error("not enough space in " + m_fs_probe.string() +
                    " for the backup of local changes: it copies " + human_bytes(m_copy_alloc) + ", " +
                    human_bytes(free_bytes) +
                    " are free; free some space and pull again (nothing was changed)");
}

void Backup::create_dir() {
    if (m_created || stdfs::is_directory(m_dir)) return;
    fs::create_directories(m_dir.parent_path(), 0700);
    if (::mkdir(m_dir.c_str(), 0700) < 0) {
        if (errno != EEXIST) fail_save(m_dir, m_dir, errno);
        return;
    }
    m_created = true;
}

void Backup::save(int dfd, const std::string& name, const std::string& rel, const stdfs::path& shown) {
    struct stat st {};
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode)) return;
    const stdfs::path dest = m_dir / rel;
    try {
        create_dir();
        fs::create_directories(dest.parent_path(), 0700);
    } catch (const Error& e) {
        throw Error(std::string(e.what()) + " (while backing up " + shown.string() +
                    "; nothing was changed)");
    }
    if (S_ISLNK(st.st_mode)) {
        std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
        ssize_t n = ::readlinkat(dfd, name.c_str(), target.data(), target.size());
        if (n < 0) fail_save(shown, dest, errno);
        target.resize(static_cast<std::size_t>(n));
        if (::symlink(target.c_str(), dest.c_str()) < 0) {
            if (errno != EEXIST) fail_save(shown, dest, errno);
            return;
        }
        m_saved.push_back(dest);
        return;
    }
    if (::linkat(dfd, name.c_str(), AT_FDCWD, dest.c_str(), 0) == 0) {
        m_saved.push_back(dest);
        return;
    }
    if (errno == EEXIST) return;
    // A FIFO or device has no content to save, and opening one could block: only the regular file listed.
    if (!S_ISREG(st.st_mode)) {
        spdlog::warn("{} was not saved to backup: it is not a regular file", shown.string());
        return;
    }
    std::string refused;
    fs::UniqueFd in = fs::open_listed_file(dfd, name, st, refused);
    if (!in && !refused.empty()) {
        spdlog::warn("{} was not saved to backup: {}", shown.string(), refused);
        return;
    }
    if (!in) fail_save(shown, dest, errno);
    fs::UniqueFd out(
        ::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 0777));
    if (!out) fail_save(shown, dest, errno);
    m_saved.push_back(dest);
    if (int err = fs::copy_sparse(in.get(), out.get()); err != 0) {
        // Never a partial copy: the backup either holds the whole file or nothing of it.
        ::unlink(dest.c_str());
        m_saved.pop_back();
        fail_save(shown, dest, err);
    }
}

void Backup::sync() const {
    if (!used()) return;
    fs::UniqueFd fd(::open(m_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd || ::syncfs(fd.get()) < 0) throw_errno("sync backup " + m_dir.string());
}

void Backup::discard() noexcept {
    std::error_code ec;
    if (m_created) {
        stdfs::remove_all(m_dir, ec);
    } else {
        for (auto it = m_saved.rbegin(); it != m_saved.rend(); ++it) stdfs::remove(*it, ec);
    }
    m_saved.clear();
    m_created = false;
}

stdfs::path new_backup_dir(const Settings& settings, const std::string& label) {
    const stdfs::path base = StatePaths(settings.state).backups() / (timestamp() + "-" + label);
    stdfs::path dir = base;
    std::error_code ec;
    for (int n = 2; stdfs::exists(dir, ec); ++n) dir = base.string() + "-" + std::to_string(n);
    return dir;
}

void prune_backups(const Settings& settings, const std::vector<stdfs::path>& this_run) {
    StatePaths state(settings.state);
    std::error_code ec;
    auto ours = [&](const stdfs::path& p) {
        return std::any_of(this_run.begin(), this_run.end(),
                           [&](const stdfs::path& r) { return !r.empty() && stdfs::equivalent(r, p, ec); });
    };
    std::vector<stdfs::path> others;
    std::size_t kept_of_this_run = 0;
    for (const auto& e : stdfs::directory_iterator(state.backups(), ec)) {
        if (!e.is_directory()) continue;
        if (ours(e.path()))
            ++kept_of_this_run;
        else
            others.push_back(e.path());
    }
    const std::size_t keep_others =
        settings.backup_keep > kept_of_this_run ? settings.backup_keep - kept_of_this_run : 0;
    if (others.size() <= keep_others) return;
    // Oldest first by modification time (names sort wrongly within one second: -r10 before -r9).
    std::sort(others.begin(), others.end(), [&](const auto& a, const auto& b) {
        return stdfs::last_write_time(a, ec) < stdfs::last_write_time(b, ec);
    });
    for (std::size_t i = 0; i + keep_others < others.size(); ++i) stdfs::remove_all(others[i], ec);
}

std::vector<BackupInfo> list_backups(const Settings& settings) {
    StatePaths state(settings.state);
    std::error_code ec;
    std::vector<BackupInfo> out;
    for (const auto& e : stdfs::directory_iterator(state.backups(), ec)) {
        if (!e.is_directory()) continue;
        BackupInfo info{e.path(), 0, 0};
        for (const auto& f : stdfs::recursive_directory_iterator(e.path(), ec)) {
            if (!f.is_regular_file() && !f.is_symlink()) continue;
            ++info.files;
            if (f.is_regular_file()) info.bytes += f.file_size();
        }
        out.push_back(std::move(info));
    }
    std::sort(out.begin(), out.end(),
              [](const BackupInfo& a, const BackupInfo& b) { return a.path < b.path; });
    return out;
}

}  // namespace depsync::sync
