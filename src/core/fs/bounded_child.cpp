#include "core/fs/bounded_child.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

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
    } catch (const std::exception& e) {
        code = static_cast<int>(ExitCode::failure);
        message = e.what();
    }
    write_all(report_fd, std::to_string(code) + "\n" + message);
    ::_exit(0);
}

}  // namespace

void run_bounded(const std::string& what, int timeout_seconds, const std::function<void()>& work) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) throw_errno("create pipe");
    UniqueFd read_end(fds[0]);
    UniqueFd write_end(fds[1]);
    pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork");
    if (pid == 0) {
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
        throw Error("cannot " + what + ": the transfer process " + how);
    }
    auto nl = report.find('\n');
    int code = std::atoi(report.substr(0, nl).c_str());
    if (code != 0) throw Error(report.substr(nl + 1), static_cast<ExitCode>(code));
}

}  // namespace depsync::fs
