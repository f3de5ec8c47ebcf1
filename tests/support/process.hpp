#pragma once
// Running programs from tests: to completion with their output captured (run), or in the background while
// the test does something else (BackgroundProcess). No shell is involved; argv[0] is looked up in PATH.

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace depsync::testing {

struct ProcessResult {
    int exit_code = -1;  // the exit status, or 128 + signal number when a signal ended the process
    std::string out;     // everything written to stdout
    std::string err;     // everything written to stderr
};

// Runs argv[0] with the given arguments, the test's environment plus `extra_env`, in `cwd` (default: the
// test's), stdin from /dev/null; waits for it and returns its exit code and output. A program that cannot be
// started gives exit code 127 and the reason in `err`.
ProcessResult run(const std::vector<std::string>& argv,
                  const std::map<std::string, std::string>& extra_env = {},
                  std::optional<std::string> cwd = {});

// A process running while the test goes on. Its output is collected by a thread and returned by wait().
// The destructor kills (SIGKILL) and reaps a process that is still running, so a failing test leaves none.
class BackgroundProcess {
  public:
    BackgroundProcess() = default;
    ~BackgroundProcess();
    BackgroundProcess(const BackgroundProcess&) = delete;
    BackgroundProcess& operator=(const BackgroundProcess&) = delete;

    // Starts the process; throws std::runtime_error if one is already running or it cannot be started.
    void start(const std::vector<std::string>& argv, const std::map<std::string, std::string>& extra_env = {},
               std::optional<std::string> cwd = {});
    pid_t pid() const { return m_pid; }
    bool running() const { return m_pid > 0; }
    // Sends `signal` to the process; does nothing once it was waited for.
    void kill(int signal);
    // Waits for the process to end and returns its exit code and output.
    ProcessResult wait();

  private:
    pid_t m_pid = -1;
    std::thread m_reader;
    ProcessResult m_result;
};

// Paths of the build under test. Defined by the end-to-end suite (tests/e2e/paths.cpp), which alone is given
// them by CMake; other test programs must not call these.
std::string depsync_bin();
std::string testgen_bin();
std::string source_dir();
// The top of the build folder (generated files such as the man page).
std::string build_dir();

}  // namespace depsync::testing
