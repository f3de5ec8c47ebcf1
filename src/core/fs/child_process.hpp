#pragma once
// The one way depsync runs a child process: operator commands (validate, on_change, ssh-keygen), the ssh of
// cluster calls, and the forked transfer children (bounded_child.hpp) all start and end here.
//
// Every child runs in its own session, so in its own process group (a timeout ends what it started too: a
// hook's background jobs, ssh's proxy command) and without a controlling terminal (nothing it runs can stop
// to prompt); it dies with the thread that started it (PR_SET_PDEATHSIG: a killed run leaves no child
// behind; a parent already gone when the child starts makes it exit at once). It starts with no blocked
// signals (a watcher blocks SIGTERM for its signalfd) and, when it execs, with no descriptor but its three
// standard ones, SIGPIPE at its default, and the environment of child_env.hpp (the https secrets removed).
// When a deadline passes, the group gets SIGTERM, the leader up to a second to go, then the group SIGKILL;
// the leader is always reaped. After a leader's normal exit, what it left behind in its group gets SIGKILL.
// Between fork and exec the child calls only async-signal-safe functions (the parent may have other
// threads: cluster calls run from several at once).

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/fs/child_env.hpp"
#include "core/fs/unique_fd.hpp"

namespace depsync::fs {

using Deadline = std::chrono::steady_clock::time_point;
Deadline deadline_after(int seconds);

// What to run. argv[0] is a path, or a name looked up in PATH by the parent before the fork.
struct ChildCommand {
    std::vector<std::string> argv;
    std::map<std::string, std::string> env;  // added to this process's environment, replacing what is there
    Secrets secrets = Secrets::drop;
};

enum class ChildInput { null, pipe };               // stdin: /dev/null, or a pipe the caller writes (input())
enum class ChildOutput { pipes, merged, inherit };  // stdout and stderr: two pipes, one pipe (2>&1), or ours

// How a child ended.
struct ChildExit {
    int exit_code = -1;      // its exit status; 128 + N when signal N ended it
    int signal = 0;          // N when signal N ended it
    bool timed_out = false;  // the deadline passed first and the group was ended
};

// What a streaming read or write came to.
enum class StreamStatus { done, closed, timed_out };

// A started child. Move-only; a child still running when this is destroyed is ended (group SIGTERM, then
// SIGKILL) and reaped. PR_SET_PDEATHSIG fires when the *thread* that started the child ends: start a child
// from a thread that outlives it. One thread at a time may use it.
class ChildProcess {
  public:
    ChildProcess() = default;
    ~ChildProcess();
    ChildProcess(ChildProcess&& other) noexcept;
    ChildProcess& operator=(ChildProcess&& other) noexcept;
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    // Runs `command`. Throws Error("cannot run NAME: <reason>") when it cannot be started (not found, not
    // executable, out of processes).
    static ChildProcess spawn(const ChildCommand& command, ChildInput input, ChildOutput output);
    // Forks and calls `body` in the child with the write end of a pipe whose read end is output() here;
    // stdin, stdout and stderr are this process's. `body` must end the child with _exit; if it returns, the
    // child exits with status 0. The child is single-threaded and a copy of this process: it may allocate,
    // but nothing it does reaches this process except through the pipe.
    static ChildProcess fork_call(const std::function<void(int result_fd)>& body);

    pid_t pid() const { return m_pid; }
    int input() const { return m_in.get(); }    // the child's stdin (ChildInput::pipe), else -1
    int output() const { return m_out.get(); }  // its stdout (merged: and stderr), or the result pipe
    int errors() const { return m_err.get(); }  // its stderr (ChildOutput::pipes), else -1
    void close_input() { m_in.reset(); }

    // Streaming, for a caller that talks to the child (a git transport over ssh): write all of `data` to
    // its stdin, or read what is there of its stdout (`got` is 0 at its end). While waiting, stderr is kept
    // in errors_text() (the first `max_errors` bytes; the rest is read and dropped so the child never blocks
    // on it). `closed`: the child no longer reads its stdin (no SIGPIPE reaches this process), or its stdout
    // ended. `timed_out`: the deadline passed and the group was ended.
    StreamStatus write_input(const char* data, std::size_t size, Deadline deadline);
    StreamStatus read_output(char* buffer, std::size_t size, std::size_t& got, Deadline deadline);
    const std::string& errors_text() const { return m_errors; }
    void set_max_errors(std::size_t bytes) { m_max_errors = bytes; }
    // Asks for a pipe of `bytes` on the child's stdout, so that each of its writes can hand over more at
    // once. Best effort: the kernel's default (64 KiB) stays where the system's limits refuse it
    // (fs.pipe-max-size, or an account over fs.pipe-user-pages-soft). Returns the pipe's size after it.
    std::size_t widen_output_pipe(std::size_t bytes);

    // Collects stdout and stderr (each up to `max_kept` bytes; either pointer may be null to drop it) until
    // both end, then waits for the child to exit; ends the group when the deadline passes first.
    ChildExit finish(std::string* out, std::string* err, std::size_t max_kept, Deadline deadline);
    // Waits for the child to exit, reading nothing; ends the group when the deadline passes first.
    ChildExit wait(Deadline deadline);
    // Ends the group now: SIGTERM, up to a second for the leader, SIGKILL; reaped.
    ChildExit terminate();

  private:
    bool exited_unreaped() const;
    void reap(bool end_group);
    void end_group();
    ChildExit wait_for_exit(Deadline deadline);

    pid_t m_pid = -1;
    bool m_reaped = false;
    ChildExit m_exit;
    UniqueFd m_in, m_out, m_err;
    std::string m_errors;
    std::size_t m_max_errors = 64 * 1024;
};

// A command run to completion with stdin from /dev/null and its output kept (the first `max_kept` bytes of
// each stream; ChildOutput::merged keeps both in `out`, in order). `error` says why it could not be
// started; then nothing ran.
struct ChildResult {
    ChildExit exit;
    std::string out;
    std::string err;
    std::string error;
};
ChildResult run_child(const ChildCommand& command, int timeout_seconds, std::size_t max_kept,
                      ChildOutput output = ChildOutput::pipes);

}  // namespace depsync::fs
