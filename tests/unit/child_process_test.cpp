#include "core/fs/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.hpp"

using depsync::fs::ChildCommand;
using depsync::fs::ChildInput;
using depsync::fs::ChildOutput;
using depsync::fs::ChildProcess;
using depsync::fs::ChildResult;
using depsync::fs::deadline_after;
using depsync::fs::run_child;
using depsync::fs::Secrets;
using depsync::fs::StreamStatus;

namespace {

ChildResult shell(const std::string& script, int timeout_seconds = 20, std::size_t max_kept = 1 << 20,
                  ChildOutput output = ChildOutput::pipes) {
    return run_child({{"/bin/sh", "-c", script}, {}, Secrets::drop}, timeout_seconds, max_kept, output);
}

ChildCommand program(std::vector<std::string> argv) {
    ChildCommand command;
    command.argv = std::move(argv);
    return command;
}

// Whether the process still runs: not there, or a zombie nobody reaped yet, counts as ended.
bool running(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    auto close = line.rfind(')');
    return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

// Waits up to 10 s for the process to end.
bool ends(pid_t pid) {
    for (int i = 0; i < 1000 && running(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return !running(pid);
}

pid_t first_number(const std::string& text) {
    return static_cast<pid_t>(std::atol(text.c_str()));
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("a child's exit code and the signal that ended it are reported", "[child]") {
    ChildResult three = shell("exit 3");
    CHECK(three.error.empty());
    CHECK(three.exit.exit_code == 3);
    CHECK(three.exit.signal == 0);
    CHECK_FALSE(three.exit.timed_out);

    ChildResult killed = shell("kill -USR1 $$");
    CHECK(killed.exit.signal == SIGUSR1);
    CHECK(killed.exit.exit_code == 128 + SIGUSR1);
    CHECK_FALSE(killed.exit.timed_out);
}

TEST_CASE("a child that runs past its timeout is ended with everything it started in its group", "[child]") {
    auto start = std::chrono::steady_clock::now();
    ChildResult r = shell("sleep 60 & echo $!; sleep 60", 1);
    CHECK(seconds_since(start) < 30);
    CHECK(r.exit.timed_out);
    CHECK(r.exit.signal == SIGTERM);
    pid_t grandchild = first_number(r.out);
    REQUIRE(grandchild > 0);
    CHECK(ends(grandchild));
}

TEST_CASE("a group that ignores SIGTERM is killed after the grace second", "[child]") {
    ChildResult r = shell("trap '' TERM; sleep 60 & echo $!; wait", 1);
    CHECK(r.exit.timed_out);
    CHECK(r.exit.signal == SIGKILL);
    pid_t grandchild = first_number(r.out);
    REQUIRE(grandchild > 0);
    CHECK(ends(grandchild));
}

TEST_CASE("what a child leaves running in its group when it exits is killed", "[child]") {
    ChildResult r = shell("sleep 60 >/dev/null 2>&1 & echo $!");
    CHECK(r.exit.exit_code == 0);
    CHECK_FALSE(r.exit.timed_out);
    pid_t grandchild = first_number(r.out);
    REQUIRE(grandchild > 0);
    CHECK(ends(grandchild));
}

TEST_CASE("a child leads its own session and group and inherits no descriptor but stdin, stdout and stderr",
          "[child]") {
    int leaked = ::open("/dev/null", O_RDONLY);  // without O_CLOEXEC, as a careless library might
    REQUIRE(leaked > 2);
    ChildResult r = shell("echo $$; cut -d' ' -f5,6 /proc/$$/stat; ls /proc/$$/fd");
    ::close(leaked);
    std::istringstream lines(r.out);
    std::string pid, groups, fd;
    std::getline(lines, pid);
    std::getline(lines, groups);
    CHECK(groups == pid + " " + pid);  // process group and session
    std::vector<std::string> fds;
    while (std::getline(lines, fd)) fds.push_back(fd);
    CHECK(fds == std::vector<std::string>{"0", "1", "2"});
}

TEST_CASE("output beyond the bound is read and dropped, so the child never blocks on it", "[child]") {
    ChildResult r = shell("head -c 1000000 /dev/zero; head -c 300000 /dev/zero >&2; echo done", 20, 4096);
    CHECK(r.exit.exit_code == 0);
    CHECK_FALSE(r.exit.timed_out);
    CHECK(r.out.size() == 4096);
    CHECK(r.err.size() == 4096);
    CHECK(r.out == std::string(4096, '\0'));
}

TEST_CASE("merged output keeps stdout and stderr in the order they were written", "[child]") {
    ChildResult r = shell("echo a; echo b >&2; echo c", 20, 1 << 20, ChildOutput::merged);
    CHECK(r.out == "a\nb\nc\n");
    CHECK(r.err.empty());
}

TEST_CASE("a program that cannot be started is reported and nothing runs", "[child]") {
    CHECK(run_child(program({"depsync-no-such-program"}), 5, 100).error ==
          "cannot run depsync-no-such-program: No such file or directory");
    CHECK(run_child(program({"/nonexistent/program"}), 5, 100).error ==
          "cannot run /nonexistent/program: No such file or directory");
    depsync::testing::TempDir tmp;
    std::ofstream(tmp.path() / "script") << "#!/bin/sh\necho ran\n";
    ChildResult not_executable = run_child(program({(tmp.path() / "script").string()}), 5, 100);
    CHECK(not_executable.error == "cannot run " + (tmp.path() / "script").string() + ": Permission denied");
    CHECK(not_executable.out.empty());
    CHECK_THROWS_WITH(
        ChildProcess::spawn(program({"depsync-no-such-program"}), ChildInput::null, ChildOutput::pipes),
        "cannot run depsync-no-such-program: No such file or directory");
}

TEST_CASE("a child gets this environment with the extra variables and without the secrets", "[child]") {
    ::setenv("DEPSYNC_HTTPS_TOKEN", "token-for-test", 1);
    ::setenv("DEPSYNC_TEST_INHERITED", "inherited", 1);
    ChildResult dropped = run_child({{"env"}, {{"DEPSYNC_TEST_EXTRA", "x y"}}, Secrets::drop}, 5, 1 << 20);
    ChildResult kept = run_child({{"env"}, {}, Secrets::keep}, 5, 1 << 20);
    ::unsetenv("DEPSYNC_HTTPS_TOKEN");
    ::unsetenv("DEPSYNC_TEST_INHERITED");
    CHECK(dropped.out.find("DEPSYNC_TEST_EXTRA=x y\n") != std::string::npos);
    CHECK(dropped.out.find("DEPSYNC_TEST_INHERITED=inherited\n") != std::string::npos);
    CHECK(dropped.out.find("token-for-test") == std::string::npos);
    CHECK(kept.out.find("DEPSYNC_HTTPS_TOKEN=token-for-test\n") != std::string::npos);
}

TEST_CASE("a streaming caller writes the child's stdin and reads its stdout", "[child]") {
    ChildProcess cat = ChildProcess::spawn(program({"cat"}), ChildInput::pipe, ChildOutput::pipes);
    // Less than a pipe holds: cat can echo all of it before anything is read.
    std::string request(50000, 'r');
    CHECK(cat.write_input(request.data(), request.size(), deadline_after(20)) == StreamStatus::done);
    cat.close_input();
    std::string echoed;
    char buf[4096];
    std::size_t got = 0;
    while (cat.read_output(buf, sizeof buf, got, deadline_after(20)) == StreamStatus::done)
        echoed.append(buf, got);
    CHECK(echoed == request);
    auto exit = cat.wait(deadline_after(20));
    CHECK(exit.exit_code == 0);
}

TEST_CASE("a streaming read keeps stderr bounded and is never blocked by it", "[child]") {
    ChildProcess child =
        ChildProcess::spawn(program({"/bin/sh", "-c", "head -c 300000 /dev/zero >&2; echo out"}),
                            ChildInput::null, ChildOutput::pipes);
    child.set_max_errors(1000);
    char buf[100];
    std::size_t got = 0;
    REQUIRE(child.read_output(buf, sizeof buf, got, deadline_after(20)) == StreamStatus::done);
    CHECK(std::string(buf, got) == "out\n");
    CHECK(child.wait(deadline_after(20)).exit_code == 0);
    CHECK(child.errors_text() == std::string(1000, '\0'));
}

TEST_CASE("writing to a child that stopped reading reports it closed and raises no SIGPIPE here", "[child]") {
    ChildProcess child = ChildProcess::spawn(program({"true"}), ChildInput::pipe, ChildOutput::pipes);
    char buf[16];
    std::size_t got = 0;
    // Its stdout ends when it exits.
    REQUIRE(child.read_output(buf, sizeof buf, got, deadline_after(20)) == StreamStatus::closed);
    std::string data(1 << 20, 'x');
    CHECK(child.write_input(data.data(), data.size(), deadline_after(20)) == StreamStatus::closed);
    CHECK(child.wait(deadline_after(20)).exit_code == 0);
}

TEST_CASE("a streaming read past its deadline ends the child", "[child]") {
    ChildProcess child = ChildProcess::spawn(program({"sleep", "60"}), ChildInput::pipe, ChildOutput::pipes);
    pid_t pid = child.pid();
    char buf[16];
    std::size_t got = 0;
    CHECK(child.read_output(buf, sizeof buf, got, deadline_after(1)) == StreamStatus::timed_out);
    CHECK_FALSE(running(pid));
    auto exit = child.wait(deadline_after(5));
    CHECK(exit.timed_out);
    CHECK(exit.signal == SIGTERM);
}

TEST_CASE("a child dies with the process that started it", "[child]") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t parent = ::fork();
    REQUIRE(parent >= 0);
    if (parent == 0) {
        ::close(fds[0]);
        try {
            ChildProcess child =
                ChildProcess::spawn(program({"sleep", "60"}), ChildInput::null, ChildOutput::inherit);
            pid_t pid = child.pid();
            (void)!::write(fds[1], &pid, sizeof pid);
            ::pause();
        } catch (...) {
        }
        ::_exit(1);
    }
    ::close(fds[1]);
    pid_t child = 0;
    REQUIRE(::read(fds[0], &child, sizeof child) == static_cast<ssize_t>(sizeof child));
    ::close(fds[0]);
    REQUIRE(running(child));
    ::kill(parent, SIGKILL);
    ::waitpid(parent, nullptr, 0);
    CHECK(ends(child));
}

TEST_CASE("a forked call sends its result through the pipe", "[child]") {
    ChildProcess child = ChildProcess::fork_call([](int fd) {
        (void)!::write(fd, "result", 6);
        ::_exit(4);
    });
    std::string out;
    auto exit = child.finish(&out, nullptr, 100, deadline_after(20));
    CHECK(out == "result");
    CHECK(exit.exit_code == 4);
}

TEST_CASE("a widened output pipe takes a child's write of 900,000 bytes before anything is read", "[child]") {
    depsync::testing::TempDir tmp;
    const std::string mark = (tmp / "written").string();
    ChildProcess child = ChildProcess::spawn(
        {{"sh", "-c", "head -c 900000 /dev/zero && : > '" + mark + "'"}, {}, Secrets::drop}, ChildInput::null,
        ChildOutput::pipes);
    CHECK(child.widen_output_pipe(std::size_t{1} << 20) >= std::size_t{1} << 20);
    // With the kernel's default 64 KiB pipe the write would wait for a reader, and the mark never appear.
    const auto start = std::chrono::steady_clock::now();
    while (!std::ifstream(mark) && seconds_since(start) < 20)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE(std::ifstream(mark));
    std::string out;
    char buffer[65536];
    std::size_t got = 0;
    while (child.read_output(buffer, sizeof buffer, got, deadline_after(20)) == StreamStatus::done)
        out.append(buffer, got);
    CHECK(out == std::string(900000, '\0'));
    CHECK(child.wait(deadline_after(20)).exit_code == 0);
}
