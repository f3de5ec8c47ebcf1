#include "core/fs/command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>

#include "core/error.hpp"
#include "core/fs/child_env.hpp"
#include "core/fs/unique_fd.hpp"

namespace depsync::fs {

std::string CommandResult::describe() const {
    if (timed_out) return "killed after the timeout";
    if (exit_code > 128) return "killed by signal " + std::to_string(exit_code - 128);
    return "exit " + std::to_string(exit_code);
}

std::vector<std::string> CommandResult::lines() const {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < output.size()) {
        std::size_t end = output.find('\n', start);
        if (end == std::string::npos) end = output.size();
        out.push_back(output.substr(start, end - start));
        start = end + 1;
    }
    while (!out.empty() && out.back().empty()) out.pop_back();
    return out;
}

CommandResult run_command(const std::string& command, const std::map<std::string, std::string>& env,
                          int timeout_seconds) {
    constexpr std::size_t max_output = 64 * 1024;
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) throw_errno("create pipe");
    UniqueFd read_end(fds[0]);
    UniqueFd write_end(fds[1]);
    // Built before the fork: the child only execs.
    ChildEnvironment child_env(env);
    char* const argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"),
                          const_cast<char*>(command.c_str()), nullptr};
    pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork");
    if (pid == 0) {
        ::setpgid(0, 0);
        ::dup2(write_end.get(), STDOUT_FILENO);
        ::dup2(write_end.get(), STDERR_FILENO);
        int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
        ::execve("/bin/sh", argv, child_env.envp());
        ::_exit(127);
    }
    ::setpgid(pid, pid);
    write_end.reset();

    CommandResult result;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            result.timed_out = true;
            ::kill(-pid, SIGKILL);
            break;
        }
        pollfd p{read_end.get(), POLLIN, 0};
        int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
        if (rc < 0 && errno != EINTR) break;
        if (rc <= 0) continue;
        char buf[4096];
        ssize_t n = ::read(read_end.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (result.output.size() < max_output)
            result.output.append(buf,
                                 std::min(static_cast<std::size_t>(n), max_output - result.output.size()));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    // Children the command left behind in its group go with it.
    ::kill(-pid, SIGKILL);
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.exit_code = 128 + WTERMSIG(status);
    return result;
}

}  // namespace depsync::fs
