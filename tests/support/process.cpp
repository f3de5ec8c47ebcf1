#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace depsync::testing {
namespace {

void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

struct Spawned {
    pid_t pid = -1;
    int out = -1;
    int err = -1;
    std::string failure;  // set when the program could not be started
};

// The test's environment with `extra` added or replacing same-named variables, as "NAME=value" strings.
std::vector<std::string> environment_with(const std::map<std::string, std::string>& extra) {
    std::map<std::string, std::string> env;
    for (char** e = environ; e && *e; ++e) {
        std::string entry = *e;
        auto eq = entry.find('=');
        if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    for (const auto& [name, value] : extra) env[name] = value;
    std::vector<std::string> out;
    for (const auto& [name, value] : env) out.push_back(name + "=" + value);
    return out;
}

std::vector<char*> pointers_to(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// Everything the child needs is prepared before fork: the test may run threads, and after fork only
// async-signal-safe calls are allowed in the child.
Spawned spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env,
              const std::optional<std::string>& cwd, bool own_group) {
    if (argv.empty()) throw std::runtime_error("cannot run: empty argument list");
    std::vector<std::string> args = argv;
    std::vector<std::string> env = environment_with(extra_env);
    std::vector<char*> arg_ptrs = pointers_to(args);
    std::vector<char*> env_ptrs = pointers_to(env);

    int out[2], err[2], status[2];
    if (::pipe2(out, O_CLOEXEC) < 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    if (::pipe2(err, O_CLOEXEC) < 0) {
        ::close(out[0]);
        ::close(out[1]);
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }
    if (::pipe2(status, O_CLOEXEC) < 0) {
        for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    }

    pid_t pid = ::fork();
    if (pid < 0) {
        for (int fd : {out[0], out[1], err[0], err[1], status[0], status[1]}) ::close(fd);
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        if (own_group) ::setpgid(0, 0);
        int null_fd = ::open("/dev/null", O_RDONLY);
        if (null_fd >= 0) ::dup2(null_fd, 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        int failed = 0;
        if (cwd && ::chdir(cwd->c_str()) < 0) {
            failed = errno;
        } else {
            ::execvpe(arg_ptrs[0], arg_ptrs.data(), env_ptrs.data());
            failed = errno;
        }
        // The status pipe is close-on-exec: the parent reads an errno only when exec did not happen.
        [[maybe_unused]] ssize_t n = ::write(status[1], &failed, sizeof failed);
        ::_exit(127);
    }
    // Both sides set the group, so a kill right after start reaches the child whichever runs first.
    if (own_group) ::setpgid(pid, pid);
    ::close(out[1]);
    ::close(err[1]);
    ::close(status[1]);
    Spawned s;
    s.pid = pid;
    s.out = out[0];
    s.err = err[0];
    int failed = 0;
    ssize_t n;
    do {
        n = ::read(status[0], &failed, sizeof failed);
    } while (n < 0 && errno == EINTR);
    ::close(status[0]);
    if (n == static_cast<ssize_t>(sizeof failed))
        s.failure =
            "cannot run " + argv[0] + (cwd ? " in " + *cwd : std::string()) + ": " + std::strerror(failed);
    return s;
}

// Reads both pipes until both are closed; reading them in turn could deadlock once one fills up.
void collect_output(int& out_fd, int& err_fd, ProcessResult& result) {
    char buffer[65536];
    while (out_fd >= 0 || err_fd >= 0) {
        pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            int& fd = i == 0 ? out_fd : err_fd;
            ssize_t n = ::read(fd, buffer, sizeof buffer);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                close_fd(fd);
                continue;
            }
            (i == 0 ? result.out : result.err).append(buffer, static_cast<std::size_t>(n));
        }
    }
    close_fd(out_fd);
    close_fd(err_fd);
}

int wait_for(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

}  // namespace

ProcessResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env,
                  std::optional<std::string> cwd) {
    Spawned s = spawn(argv, extra_env, cwd, false);
    ProcessResult result;
    collect_output(s.out, s.err, result);
    result.exit_code = wait_for(s.pid);
    if (!s.failure.empty()) result.err += s.failure + "\n";
    return result;
}

BackgroundProcess::~BackgroundProcess() {
    if (m_pid > 0) {
        kill(SIGKILL);
        wait();
    }
}

void BackgroundProcess::start(const std::vector<std::string>& argv,
                              const std::map<std::string, std::string>& extra_env,
                              std::optional<std::string> cwd) {
    if (m_pid > 0) throw std::runtime_error("cannot start " + argv.at(0) + ": a process is already running");
    Spawned s = spawn(argv, extra_env, cwd, true);
    if (!s.failure.empty()) {
        close_fd(s.out);
        close_fd(s.err);
        wait_for(s.pid);
        throw std::runtime_error(s.failure);
    }
    m_pid = s.pid;
    m_result = ProcessResult{};
    m_reader =
        std::thread([this, out = s.out, err = s.err]() mutable { collect_output(out, err, m_result); });
}

void BackgroundProcess::kill(int signal) {
    // The process leads its own group: children it started (flock's command, a shell's jobs) get the signal
    // too.
    if (m_pid > 0) ::kill(-m_pid, signal);
}

ProcessResult BackgroundProcess::wait() {
    if (m_pid <= 0) throw std::runtime_error("cannot wait: no process was started");
    int code = wait_for(m_pid);
    m_reader.join();
    m_pid = -1;
    ProcessResult result = std::move(m_result);
    result.exit_code = code;
    return result;
}

}  // namespace depsync::testing
