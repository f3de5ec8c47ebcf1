#include "core/fs/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "core/error.hpp"

namespace depsync::fs {

namespace {

// The pid holding an flock on the file, from /proc/locks (the lock file's own content may name an earlier run
// or nothing at all when the holder is not depsync).
std::string holder_from_proc(int fd, bool* readable = nullptr) {
    struct stat st {};
    if (::fstat(fd, &st) < 0) return {};
    std::ifstream locks("/proc/locks");
    if (readable) *readable = static_cast<bool>(locks);
    std::string line;
    std::string inode = ":" + std::to_string(st.st_ino);
    while (std::getline(locks, line)) {
        std::istringstream in(line);
        std::string id, kind, mode, access, pid, dev;
        in >> id >> kind;
        if (kind == "->") in >> kind;
        in >> mode >> access >> pid >> dev;
        if (kind == "FLOCK" && dev.size() > inode.size() &&
            dev.compare(dev.size() - inode.size(), inode.size(), inode) == 0)
            return pid;
    }
    return {};
}

std::string holder_pid(int fd) {
    std::string from_proc = holder_from_proc(fd);
    if (!from_proc.empty()) return from_proc;
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return pid.empty() ? "unknown" : pid;
}
}  // namespace

NodeLock::NodeLock(const std::filesystem::path& lock_file, double wait_seconds)
    : m_fd(::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) {
    if (!m_fd) throw_errno("open lock file " + lock_file.string());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
    while (::flock(m_fd.get(), LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) throw_errno("lock " + lock_file.string());
        if (std::chrono::steady_clock::now() >= deadline) {
            throw Error("another depsync run (pid " + holder_pid(m_fd.get()) + ") holds the lock " +
                            lock_file.string() + " (use --wait SECONDS to wait for it)",
                        ExitCode::locked);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(m_fd.get(), 0) == 0) {
        [[maybe_unused]] ssize_t n = ::pwrite(m_fd.get(), pid.data(), pid.size(), 0);
    }
}

std::optional<std::string> lock_holder(const std::filesystem::path& lock_file) {
    UniqueFd fd(::open(lock_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd) {
        if (errno == ENOENT) return std::nullopt;
        throw_errno("open lock file " + lock_file.string());
    }
    bool readable = false;
    std::string pid = holder_from_proc(fd.get(), &readable);
    if (!pid.empty()) return pid;
    if (readable) return std::nullopt;
    // No list of locks to read: a shared try conflicts only with a holder's exclusive lock.
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
        ::flock(fd.get(), LOCK_UN);
        return std::nullopt;
    }
    return holder_pid(fd.get());
}

}  // namespace depsync::fs
