#include "core/fs/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/error.hpp"

namespace depsync::fs {
namespace {

struct Pipe {
    UniqueFd read;
    UniqueFd write;
};

// Close-on-exec, so that a child another thread starts meanwhile does not keep it open, and above the
// standard descriptors, so that placing one of its ends on 0, 1 or 2 in the child never overwrites the other.
Pipe make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) throw_errno("create pipe");
    Pipe pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
    for (UniqueFd* end : {&pipe.read, &pipe.write}) {
        if (end->get() > STDERR_FILENO) continue;
        int moved = ::fcntl(end->get(), F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        if (moved < 0) throw_errno("create pipe");
        *end = UniqueFd(moved);
    }
    return pipe;
}

// The child's standard descriptors; -1 keeps this process's.
struct ChildFds {
    int in = -1;
    int out = -1;
    int err = -1;
};

// In the child, first: its own session (so its own process group, and no controlling terminal: nothing it
// runs can stop to prompt on the operator's terminal), death with the parent (PR_SET_PDEATHSIG acts only from
// the call on, so a parent that died before is seen as a changed parent pid), no blocked signals, its
// streams. SIGTERM has its default action, so that the grace before SIGKILL means something whatever handler
// this process installed. Async-signal-safe calls only.
void enter_child(pid_t parent, const ChildFds& fds) {
    ::setsid();
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(127);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    ::sigaction(SIGTERM, &default_action, nullptr);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (fds.in >= 0) ::dup2(fds.in, STDIN_FILENO);
    if (fds.out >= 0) ::dup2(fds.out, STDOUT_FILENO);
    if (fds.err >= 0) ::dup2(fds.err, STDERR_FILENO);
}

// In a child about to exec: no descriptor but the standard three survives the exec (one a library opened
// without O_CLOEXEC, say), and SIGPIPE has its default action whatever this process set.
void prepare_exec() {
    ::close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &default_action, nullptr);
}

// Sends `signal` to the child's group and to the child itself (which may not have made its group yet).
void signal_group(pid_t pid, int signal) {
    ::kill(-pid, signal);
    ::kill(pid, signal);
}

// argv[0] as execvp would find it, looked up here because the child may not allocate; empty when not found.
std::string find_program(const std::string& name) {
    if (name.empty() || name.find('/') != std::string::npos) return name;
    const char* path = std::getenv("PATH");
    std::string dirs = path && *path ? path : "/bin:/usr/bin";
    for (std::size_t start = 0; start <= dirs.size();) {
        std::size_t end = std::min(dirs.find(':', start), dirs.size());
        std::string dir = end == start ? std::string(".") : dirs.substr(start, end - start);
        std::string candidate = dir + "/" + name;
        struct stat st {};
        if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            ::access(candidate.c_str(), X_OK) == 0)
            return candidate;
        start = end + 1;
    }
    return {};
}

// Milliseconds to wait in one poll before looking at the deadline again; -1 once it has passed.
int poll_ms(Deadline deadline) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return -1;
    return static_cast<int>(std::min<long long>(left.count(), 1000));
}

// Reads what is there into `sink`, keeping at most `max_kept` bytes in it; false at the end of the stream.
bool drain_into(int fd, std::string* sink, std::size_t max_kept) {
    char buf[16384];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) return errno == EINTR || errno == EAGAIN;
    if (n == 0) return false;
    if (sink != nullptr && sink->size() < max_kept)
        sink->append(buf, std::min(static_cast<std::size_t>(n), max_kept - sink->size()));
    return true;
}

// write(2) to a pipe whose reader may be gone, without the SIGPIPE that would end this process: the signal
// is blocked in this thread for the call and, when the write raised it, taken back.
ssize_t write_without_sigpipe(int fd, const char* data, std::size_t size) {
    sigset_t pipe_signal, old, pending;
    ::sigemptyset(&pipe_signal);
    ::sigaddset(&pipe_signal, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_signal, &old);
    ::sigpending(&pending);
    bool was_pending = ::sigismember(&pending, SIGPIPE) == 1;
    ssize_t n = ::write(fd, data, size);
    int saved = errno;
    if (n < 0 && saved == EPIPE && !was_pending) {
        timespec zero{0, 0};
        ::sigtimedwait(&pipe_signal, nullptr, &zero);
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    errno = saved;
    return n;
}

// The pipes a spawned child gets, and the parent's ends.
struct Streams {
    UniqueFd null_input;
    Pipe input, output, errors;
    ChildFds child;
};

Streams open_streams(ChildInput input, ChildOutput output) {
    Streams s;
    if (input == ChildInput::pipe) {
        s.input = make_pipe();
        s.child.in = s.input.read.get();
        // A child that stops reading must not block a write past its deadline.
        ::fcntl(s.input.write.get(), F_SETFL, O_NONBLOCK);
    } else {
        s.null_input = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (!s.null_input) throw_errno("open /dev/null");
        s.child.in = s.null_input.get();
    }
    if (output == ChildOutput::inherit) return s;
    s.output = make_pipe();
    s.child.out = s.output.write.get();
    if (output == ChildOutput::merged) {
        s.child.err = s.output.write.get();
        return s;
    }
    s.errors = make_pipe();
    s.child.err = s.errors.write.get();
    return s;
}

}  // namespace

Deadline deadline_after(int seconds) {
    return std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
}

ChildProcess::~ChildProcess() {
    m_in.reset();
    m_out.reset();
    m_err.reset();
    end_group();
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept {
    *this = std::move(other);
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
    if (this == &other) return *this;
    end_group();
    m_pid = std::exchange(other.m_pid, -1);
    m_reaped = std::exchange(other.m_reaped, false);
    m_exit = other.m_exit;
    m_in = std::move(other.m_in);
    m_out = std::move(other.m_out);
    m_err = std::move(other.m_err);
    m_errors = std::move(other.m_errors);
    m_max_errors = other.m_max_errors;
    return *this;
}

ChildProcess ChildProcess::spawn(const ChildCommand& command, ChildInput input, ChildOutput output) {
    const std::string name = command.argv.empty() ? std::string() : command.argv[0];
    const std::string program = find_program(name);
    if (program.empty()) throw Error("cannot run " + name + ": " + std::strerror(ENOENT));
    // Everything the child needs is built before the fork: between fork and exec it may not allocate.
    ChildEnvironment env(command.env, command.secrets);
    std::vector<char*> argv;
    for (const std::string& a : command.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    Streams streams = open_streams(input, output);
    // Reports why exec failed; closed by a successful exec.
    Pipe exec_failure = make_pipe();
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) throw Error("cannot run " + name + ": " + std::strerror(errno));
    if (pid == 0) {
        enter_child(parent, streams.child);
        prepare_exec();
        ::execve(program.c_str(), argv.data(), env.envp());
        int err = errno;
        [[maybe_unused]] ssize_t written = ::write(exec_failure.write.get(), &err, sizeof err);
        ::_exit(127);
    }
    ChildProcess child;
    child.m_pid = pid;
    child.m_in = std::move(streams.input.write);
    child.m_out = std::move(streams.output.read);
    child.m_err = std::move(streams.errors.read);
    exec_failure.write.reset();
    int err = 0;
    ssize_t n;
    while ((n = ::read(exec_failure.read.get(), &err, sizeof err)) < 0 && errno == EINTR) {
    }
    if (n == static_cast<ssize_t>(sizeof err)) {
        child.reap(false);
        throw Error("cannot run " + name + ": " + std::strerror(err));
    }
    return child;
}

ChildProcess ChildProcess::fork_call(const std::function<void(int result_fd)>& body) {
    Pipe result = make_pipe();
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork");
    if (pid == 0) {
        enter_child(parent, {});
        result.read.reset();
        try {
            body(result.write.get());
        } catch (...) {
            ::_exit(1);
        }
        ::_exit(0);
    }
    ChildProcess child;
    child.m_pid = pid;
    child.m_out = std::move(result.read);
    return child;
}

StreamStatus ChildProcess::write_input(const char* data, std::size_t size, Deadline deadline) {
    while (size > 0) {
        if (!m_in) return StreamStatus::closed;
        int wait_ms = poll_ms(deadline);
        if (wait_ms < 0) {
            end_group();
            m_exit.timed_out = true;
            return StreamStatus::timed_out;
        }
        pollfd p[2] = {{m_in.get(), POLLOUT, 0}, {m_err.get(), POLLIN, 0}};
        if (::poll(p, 2, wait_ms) <= 0) continue;
        if (p[1].revents != 0 && !drain_into(m_err.get(), &m_errors, m_max_errors)) m_err.reset();
        if (p[0].revents == 0) continue;
        ssize_t n = write_without_sigpipe(m_in.get(), data, size);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n < 0) {
            m_in.reset();
            return StreamStatus::closed;
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return StreamStatus::done;
}

std::size_t ChildProcess::widen_output_pipe(std::size_t bytes) {
    if (!m_out) return 0;
    ::fcntl(m_out.get(), F_SETPIPE_SZ, static_cast<int>(bytes));
    int size = ::fcntl(m_out.get(), F_GETPIPE_SZ);
    return size < 0 ? 0 : static_cast<std::size_t>(size);
}

StreamStatus ChildProcess::read_output(char* buffer, std::size_t size, std::size_t& got, Deadline deadline) {
    got = 0;
    for (;;) {
        if (!m_out) return StreamStatus::closed;
        int wait_ms = poll_ms(deadline);
        if (wait_ms < 0) {
            end_group();
            m_exit.timed_out = true;
            return StreamStatus::timed_out;
        }
        pollfd p[2] = {{m_out.get(), POLLIN, 0}, {m_err.get(), POLLIN, 0}};
        if (::poll(p, 2, wait_ms) <= 0) continue;
        if (p[1].revents != 0 && !drain_into(m_err.get(), &m_errors, m_max_errors)) m_err.reset();
        if (p[0].revents == 0) continue;
        ssize_t n = ::read(m_out.get(), buffer, size);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) {
            m_out.reset();
            return StreamStatus::closed;
        }
        got = static_cast<std::size_t>(n);
        return StreamStatus::done;
    }
}

ChildExit ChildProcess::finish(std::string* out, std::string* err, std::size_t max_kept, Deadline deadline) {
    m_in.reset();
    while (m_out || m_err) {
        int wait_ms = poll_ms(deadline);
        if (wait_ms < 0) {
            m_out.reset();
            m_err.reset();
            end_group();
            m_exit.timed_out = true;
            return m_exit;
        }
        pollfd p[2] = {{m_out.get(), POLLIN, 0}, {m_err.get(), POLLIN, 0}};
        int n = ::poll(p, 2, wait_ms);
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        if (p[0].revents != 0 && !drain_into(m_out.get(), out, max_kept)) m_out.reset();
        if (p[1].revents != 0 && !drain_into(m_err.get(), err, max_kept)) m_err.reset();
    }
    return wait_for_exit(deadline);
}

ChildExit ChildProcess::wait(Deadline deadline) {
    // What the child still writes is read (stderr kept in errors_text()), so that it never blocks on a pipe.
    std::string errors = std::move(m_errors);
    ChildExit exit = finish(nullptr, &errors, m_max_errors, deadline);
    m_errors = std::move(errors);
    return exit;
}

ChildExit ChildProcess::terminate() {
    end_group();
    return m_exit;
}

ChildExit ChildProcess::wait_for_exit(Deadline deadline) {
    while (!m_reaped && !exited_unreaped()) {
        int wait_ms = poll_ms(deadline);
        if (wait_ms < 0) {
            end_group();
            m_exit.timed_out = true;
            return m_exit;
        }
        ::poll(nullptr, 0, std::min(wait_ms, 10));
    }
    // The leader is a zombie until reaped, so its group id cannot have been reused: what it left behind in
    // its group goes with it.
    reap(true);
    return m_exit;
}

// Whether the child has exited (it stays a zombie: it is not reaped here).
bool ChildProcess::exited_unreaped() const {
    if (m_pid < 0 || m_reaped) return false;
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOHANG | WNOWAIT) < 0)
        return errno == ECHILD;
    return info.si_pid == m_pid;
}

void ChildProcess::reap(bool kill_group) {
    if (m_pid < 0 || m_reaped) return;
    if (kill_group) signal_group(m_pid, SIGKILL);
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(m_pid, &status, 0)) < 0 && errno == EINTR) {
    }
    m_reaped = true;
    if (r != m_pid) return;
    if (WIFEXITED(status)) m_exit.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) {
        m_exit.signal = WTERMSIG(status);
        m_exit.exit_code = 128 + m_exit.signal;
    }
}

// SIGTERM first, so that a child can clean up (ssh closes its connection); SIGKILL for what is left.
void ChildProcess::end_group() {
    if (m_pid < 0 || m_reaped) return;
    signal_group(m_pid, SIGTERM);
    auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!exited_unreaped() && std::chrono::steady_clock::now() < grace) ::poll(nullptr, 0, 10);
    reap(true);
}

ChildResult run_child(const ChildCommand& command, int timeout_seconds, std::size_t max_kept,
                      ChildOutput output) {
    ChildResult result;
    Deadline deadline = deadline_after(timeout_seconds);
    ChildProcess child;
    try {
        child = ChildProcess::spawn(command, ChildInput::null, output);
    } catch (const Error& e) {
        result.error = e.what();
        return result;
    }
    result.exit = child.finish(&result.out, &result.err, max_kept, deadline);
    return result;
}

}  // namespace depsync::fs
