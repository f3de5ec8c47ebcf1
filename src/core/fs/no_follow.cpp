#include "core/fs/no_follow.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "core/error.hpp"

namespace depsync::fs {
namespace {

[[noreturn]] void refuse_component(const std::filesystem::path& path, const std::string& what,
                                   const std::filesystem::path& component, bool is_link) {
    throw Error("cannot open " + what + " " + path.string() + ": " + component.string() +
                    (is_link ? " is a symlink; depsync follows none there (set the real path in the config)"
                             : " is not a folder"),
                ExitCode::usage);
}

[[noreturn]] void missing(const std::filesystem::path& path, const std::string& what) {
    throw Error(what + " " + path.string() + " does not exist", ExitCode::usage);
}

}  // namespace

UniqueFd open_dir_by_walk(const std::filesystem::path& path, const std::string& what) {
    if (path.empty()) missing(path, what);
    std::filesystem::path so_far = path.is_absolute() ? "/" : "";
    UniqueFd cur(::open(path.is_absolute() ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cur) throw_errno("open " + what + " " + path.string());
    for (const auto& part : path.relative_path()) {
        std::string name = part.string();
        if (name.empty() || name == ".") continue;
        so_far /= part;
        UniqueFd next(::openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next && errno == EACCES)  // a folder we may pass through but not list: open it as a path only
            next = UniqueFd(::openat(cur.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!next) {
            int err = errno;
            struct stat st {};
            bool exists = ::fstatat(cur.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
            if (exists && S_ISLNK(st.st_mode)) refuse_component(path, what, so_far, true);
            if (exists && !S_ISDIR(st.st_mode)) refuse_component(path, what, so_far, false);
            if (err == ENOENT) missing(path, what);
            throw_errno("open " + what + " " + path.string(), err);
        }
        cur = std::move(next);
    }
    // The last component must be readable (the walk may have opened it as a path only).
    int flags = ::fcntl(cur.get(), F_GETFL);
    if (flags >= 0 && (flags & O_PATH)) {
        UniqueFd readable(::openat(cur.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!readable) throw_errno("open " + what + " " + path.string());
        cur = std::move(readable);
    }
    return cur;
}

UniqueFd open_dir_no_symlinks(const std::filesystem::path& path, const std::string& what) {
    open_how how{};
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS;
    long fd = ::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how);
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    // Without openat2 (ENOSYS, or a filter's EPERM), and to name the component that failed: the walk.
    return open_dir_by_walk(path, what);
}

UniqueFd open_listed_file(int dir_fd, const std::string& name, const struct stat& seen,
                          std::string& refused) {
    refused.clear();
    // O_NONBLOCK: a FIFO put in the file's place opens at once instead of waiting for a writer.
    UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd) {
        if (errno == ELOOP) refused = "it became a symlink after it was listed";
        return fd;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return UniqueFd();
    if (!S_ISREG(st.st_mode)) {
        refused = "it is no longer a regular file (a FIFO, device or folder was put in its place)";
        return UniqueFd();
    }
    if (st.st_dev != seen.st_dev || st.st_ino != seen.st_ino) {
        refused = "another file was put in its place after it was listed";
        return UniqueFd();
    }
    int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) < 0) return UniqueFd();
    return fd;
}

}  // namespace depsync::fs
