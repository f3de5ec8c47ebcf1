#include "core/fs/bounded_child.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "core/error.hpp"
#include "core/fs/unique_fd.hpp"

namespace depsync::fs {
namespace {

void write_all(int fd, const std::string& s) {
    const char* p = s.data();
    std::size_t left = s.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n <= 0) return;
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

// In the child: closes every descriptor that holds an flock (the node lock, taken by the parent). The lock
// belongs to the open file description shared with the parent; closing the child's copy does not release it,
// but keeps a child that outlives its parent from holding it.
void close_inherited_locks() {
    std::vector<int> locked;
    if (DIR* dir = ::opendir("/proc/self/fdinfo")) {
        while (const dirent* e = ::readdir(dir)) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            int fd = std::atoi(e->d_name);
            std::string path = std::string("/proc/self/fdinfo/") + e->d_name;
            int info = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
            if (info < 0) continue;
            char buf[4096];
            ssize_t n = ::read(info, buf, sizeof buf - 1);
            ::close(info);
            if (n <= 0) continue;
            buf[n] = '\0';
            if (std::strstr(buf, "\nlock:") != nullptr) locked.push_back(fd);
        }
        ::closedir(dir);
    }
    for (int fd : locked) ::close(fd);
}

// In the child, first: die with the parent. PR_SET_PDEATHSIG acts only from the call on, so a parent that
// died before it was set is seen as a changed parent pid.
void bind_to_parent(pid_t parent, std::uint64_t memory_limit) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(1);
    close_inherited_locks();
    if (memory_limit > 0) {
        // The bound is on what the work adds: the address space copied from the parent (its heap, mapped
        // libraries, reserved thread arenas) is not the work's doing.
        std::uint64_t pages = 0;
        if (FILE* f = std::fopen("/proc/self/statm", "re")) {
            unsigned long long vm = 0;
            if (std::fscanf(f, "%llu", &vm) == 1) pages = vm;
            std::fclose(f);
        }
        std::uint64_t base = pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
        rlimit limit{static_cast<rlim_t>(base + memory_limit), static_cast<rlim_t>(base + memory_limit)};
        ::setrlimit(RLIMIT_AS, &limit);
    }
}

// In the child: report and leave at once. _exit skips the parent's atexit handlers and static destructors,
// which belong to the parent (its lock, its loggers).
[[noreturn]] void child_main(int report_fd, const std::function<void()>& work) {
    int code = 0;
    std::string message;
    try {
        work();
    } catch (const Error& e) {
        code = static_cast<int>(e.code());
        message = e.what();
    } catch (const std::bad_alloc&) {
        code = static_cast<int>(ExitCode::failure);
        message = "out of memory";
    } catch (const std::exception& e) {
        code = static_cast<int>(ExitCode::failure);
        message = e.what();
    }
    write_all(report_fd, std::to_string(code) + "\n" + message);
    ::_exit(0);
}

}  // namespace

void run_bounded(const std::string& what, int timeout_seconds, const std::function<void()>& work,
                 std::uint64_t memory_limit, const std::string& memory_key) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) throw_errno("create pipe");
    UniqueFd read_end(fds[0]);
    UniqueFd write_end(fds[1]);
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork");
    if (pid == 0) {
        bind_to_parent(parent, memory_limit);
        read_end.reset();
        child_main(write_end.get(), work);
    }
    write_end.reset();

    std::string report;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    bool timed_out = false;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{read_end.get(), POLLIN, 0};
        int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
        if (rc < 0 && errno != EINTR) break;
        if (rc <= 0) continue;
        char buf[4096];
        ssize_t n = ::read(read_end.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // the child closed its end: it is done
        report.append(buf, static_cast<std::size_t>(n));
    }
    if (timed_out) ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out)
        throw Error("cannot " + what + ": no answer within the timeout of " +
                    std::to_string(timeout_seconds) + " s (config 'timeout'); nothing was applied");
    if (report.empty()) {
        std::string how = WIFSIGNALED(status) ? std::string("killed by signal ") + strsignal(WTERMSIG(status))
                                              : "exited without a report";
        if (memory_limit > 0)
            how += " (it may have reached its memory bound of " + std::to_string(memory_limit >> 20) +
                   " MiB" + (memory_key.empty() ? std::string() : ", config '" + memory_key + "'") + ")";
        throw Error("cannot " + what + ": the transfer process " + how);
    }
    auto nl = report.find('\n');
    int code = std::atoi(report.substr(0, nl).c_str());
    if (code == 0) return;
    std::string message = report.substr(nl + 1);
    if (memory_limit > 0 && message.find("ut of memory") != std::string::npos)
        message += " (the transfer reached its memory bound of " + std::to_string(memory_limit >> 20) +
                   " MiB" + (memory_key.empty() ? std::string() : ", config '" + memory_key + "'") + ")";
    throw Error(message, static_cast<ExitCode>(code));
}

}  // namespace depsync::fs
