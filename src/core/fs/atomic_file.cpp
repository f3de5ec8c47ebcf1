#include "core/fs/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/error.hpp"
#include "core/fs/unique_fd.hpp"

namespace depsync::fs {

void write_file_atomically(const std::filesystem::path& path, const std::string& content, unsigned mode,
                           Fsync fsync) {
    std::filesystem::path tmp = path;
    tmp += ".tmp." + std::to_string(::getpid());
    {
        UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
        if (!fd) throw_errno("write " + tmp.string());
        ::fchmod(fd.get(), static_cast<mode_t>(mode));
        const char* p = content.data();
        std::size_t left = content.size();
        while (left > 0) {
            ssize_t n = ::write(fd.get(), p, left);
            if (n < 0) {
                if (errno == EINTR) continue;
                int err = errno;
                ::unlink(tmp.c_str());
                throw_errno("write " + path.string(), err);
            }
            p += n;
            left -= static_cast<std::size_t>(n);
        }
        if (fsync == Fsync::yes && ::fsync(fd.get()) < 0) {
            int err = errno;
            ::unlink(tmp.c_str());
            throw_errno("write " + path.string(), err);
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) < 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        throw_errno("replace " + path.string(), err);
    }
    if (fsync == Fsync::yes) {
        std::filesystem::path parent = path.parent_path().empty() ? "." : path.parent_path();
        UniqueFd dir(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dir) ::fsync(dir.get());
    }
}

std::optional<std::string> read_file(const std::filesystem::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT) return std::nullopt;
        throw_errno("read " + path.string());
    }
    // Read into the string itself, sized from fstat: a state file of a megabyte (the stat cache) read in
    // appended chunks cost a publish a tenth of its time in copies and fresh pages. A file that grows
    // meanwhile is read to its end all the same.
    struct stat st {};
    std::size_t size =
        ::fstat(fd.get(), &st) == 0 && st.st_size > 0 ? static_cast<std::size_t>(st.st_size) : 0;
    std::string out(size + 1, '\0');
    std::size_t used = 0;
    for (;;) {
        if (used == out.size()) out.resize(out.size() * 2);
        ssize_t n = ::read(fd.get(), out.data() + used, out.size() - used);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("read " + path.string());
        }
        if (n == 0) break;
        used += static_cast<std::size_t>(n);
    }
    out.resize(used);
    return out;
}

void create_directories(const std::filesystem::path& path, unsigned mode) {
    if (path.empty()) return;
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            throw Error("cannot create folder " + path.string() + ": a file is in the way");
        return;
    }
    if (path.has_parent_path() && path.parent_path() != path) create_directories(path.parent_path(), mode);
    if (::mkdir(path.c_str(), static_cast<mode_t>(mode)) < 0 && errno != EEXIST)
        throw_errno("create folder " + path.string());
}

}  // namespace depsync::fs
