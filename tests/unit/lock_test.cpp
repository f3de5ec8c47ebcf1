#include "core/fs/lock.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "support/temp_dir.hpp"

namespace stdfs = std::filesystem;
using Catch::Matchers::Contains;
using depsync::ExitCode;
using depsync::fs::NodeLock;
using depsync::testing::TempDir;

namespace {

// A child process that takes the lock, tells the parent, then holds it until told to let go (or killed).
class Holder {
  public:
    explicit Holder(const stdfs::path& lock_file) {
        int ready[2], release[2];
        REQUIRE(::pipe(ready) == 0);
        REQUIRE(::pipe(release) == 0);
        m_pid = ::fork();
        REQUIRE(m_pid >= 0);
        if (m_pid == 0) {
            ::close(ready[0]);
            ::close(release[1]);
            char status = 'n';
            try {
                NodeLock lock(lock_file, 0);
                status = 'y';
                (void)!::write(ready[1], &status, 1);
                char c;
                (void)!::read(release[0], &c, 1);  // returns when the parent writes or closes
            } catch (...) {
                (void)!::write(ready[1], &status, 1);
            }
            ::_exit(0);
        }
        ::close(ready[1]);
        ::close(release[0]);
        m_release = release[1];
        char status = 0;
        REQUIRE(::read(ready[0], &status, 1) == 1);
        ::close(ready[0]);
        REQUIRE(status == 'y');
    }
    ~Holder() {
        if (m_release >= 0) ::close(m_release);
        if (m_pid > 0) {
            ::kill(m_pid, SIGKILL);
            ::waitpid(m_pid, nullptr, 0);
        }
    }
    Holder(const Holder&) = delete;
    Holder& operator=(const Holder&) = delete;

    pid_t pid() const { return m_pid; }

    // Lets the holder drop the lock and exit; returns at once.
    void release() {
        ::close(m_release);
        m_release = -1;
    }
    void kill_hard() {
        ::kill(m_pid, SIGKILL);
        int status = 0;
        ::waitpid(m_pid, &status, 0);
        m_pid = -1;
        CHECK(WIFSIGNALED(status));
    }

  private:
    pid_t m_pid = -1;
    int m_release = -1;
};

std::string read(const stdfs::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("a free lock is taken and names its holder's pid") {
    TempDir tmp;
    NodeLock lock(tmp / "lock", 0);
    CHECK(read(tmp / "lock") == std::to_string(::getpid()) + "\n");
}

TEST_CASE("a lock held by another process is refused with the locked exit code and the holder's pid") {
    TempDir tmp;
    Holder holder(tmp / "lock");
    try {
        NodeLock second(tmp / "lock", 0);
        FAIL("a second lock was granted while another process held it");
    } catch (const depsync::Error& e) {
        CHECK(e.code() == ExitCode::locked);
        CHECK_THAT(e.what(), Contains("pid " + std::to_string(holder.pid())));
        CHECK_THAT(e.what(), Contains((tmp / "lock").string()));
    }
}

TEST_CASE("a lock held in the same process through another descriptor is refused too") {
    TempDir tmp;
    NodeLock first(tmp / "lock", 0);
    try {
        NodeLock second(tmp / "lock", 0);
        FAIL("a second lock was granted");
    } catch (const depsync::Error& e) {
        CHECK(e.code() == ExitCode::locked);
    }
}

TEST_CASE("waiting for a busy lock gives up with the locked exit code when the holder keeps it") {
    TempDir tmp;
    Holder holder(tmp / "lock");
    try {
        NodeLock second(tmp / "lock", 0.3);
        FAIL("a second lock was granted while another process held it");
    } catch (const depsync::Error& e) {
        CHECK(e.code() == ExitCode::locked);
        CHECK_THAT(e.what(), Contains(std::to_string(holder.pid())));
    }
}

TEST_CASE("waiting for a busy lock gets it once the holder releases it") {
    TempDir tmp;
    Holder holder(tmp / "lock");
    // The holder lets go only after this process has started waiting.
    pid_t releaser = ::fork();
    REQUIRE(releaser >= 0);
    if (releaser == 0) {
        ::usleep(300 * 1000);
        holder.release();
        ::_exit(0);
    }
    holder.release();  // drop this process's copy of the pipe so only the releaser's close counts
    std::optional<NodeLock> lock;
    CHECK_NOTHROW(lock.emplace(tmp / "lock", 30));
    ::waitpid(releaser, nullptr, 0);
    CHECK(lock.has_value());
    CHECK(read(tmp / "lock") == std::to_string(::getpid()) + "\n");
}

TEST_CASE("a lock is released when its holder is killed") {
    TempDir tmp;
    Holder holder(tmp / "lock");
    CHECK_THROWS_AS(NodeLock(tmp / "lock", 0), depsync::Error);
    holder.kill_hard();
    std::optional<NodeLock> lock;
    CHECK_NOTHROW(lock.emplace(tmp / "lock", 0));
    CHECK(read(tmp / "lock") == std::to_string(::getpid()) + "\n");
}

TEST_CASE("a lock is released when the NodeLock is destroyed") {
    TempDir tmp;
    { NodeLock first(tmp / "lock", 0); }
    std::optional<NodeLock> again;
    CHECK_NOTHROW(again.emplace(tmp / "lock", 0));
}

TEST_CASE("a moved-from lock does not release the lock it handed over") {
    TempDir tmp;
    std::optional<NodeLock> moved;
    {
        NodeLock first(tmp / "lock", 0);
        moved.emplace(std::move(first));
    }
    CHECK_THROWS_AS(NodeLock(tmp / "lock", 0), depsync::Error);
    moved.reset();
    CHECK_NOTHROW(NodeLock(tmp / "lock", 0));
}

TEST_CASE("a lock file replaced by a symlink is not followed") {
    TempDir tmp;
    stdfs::path elsewhere = tmp / "elsewhere";
    { std::ofstream(elsewhere) << "precious\n"; }
    stdfs::create_symlink(elsewhere, tmp / "lock");
    try {
        NodeLock lock(tmp / "lock", 0);
        FAIL("the lock followed a symlink");
    } catch (const depsync::Error& e) {
        CHECK(e.code() != ExitCode::locked);
    }
    CHECK(read(elsewhere) == "precious\n");
}

TEST_CASE("a lock in a missing folder fails with a message naming the file") {
    TempDir tmp;
    try {
        NodeLock lock(tmp / "missing/lock", 0);
        FAIL("the lock was granted");
    } catch (const depsync::Error& e) {
        CHECK_THAT(e.what(), Contains((tmp / "missing/lock").string()));
    }
}
