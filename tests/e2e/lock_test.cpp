// One run at a time per node, by an OS lock that dies with its process. A second run exits 3 naming the
// holder, or waits for it with --wait; a killed run leaves nothing that blocks the next one.

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

// True when some process holds an flock on `file`, read from /proc/locks (a probe that took the lock itself,
// like flock(1), would make a run starting at that moment exit 3).
bool lock_is_held(const stdfs::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return false;
    std::ifstream locks("/proc/locks");
    const std::string inode = ":" + std::to_string(st.st_ino);
    for (std::string line; std::getline(locks, line);) {
        if (line.find("FLOCK") == std::string::npos) continue;
        std::istringstream fields(line);
        for (std::string field; fields >> field;) {
            // MAJOR:MINOR:INODE
            if (std::count(field.begin(), field.end(), ':') == 2 && field.size() > inode.size() &&
                field.compare(field.size() - inode.size(), inode.size(), inode) == 0)
                return true;
        }
    }
    return false;
}

// True once the process has ended (a zombie until it is waited for).
bool has_ended(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    auto paren = line.rfind(')');
    return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] == 'Z';
}

// Waits until `holder` has taken the lock; fails the test, with the holder's output, if it ends first or does
// not take it within 30 s (a loaded machine can be slow to start a process).
void wait_until_held(const stdfs::path& file, dt::BackgroundProcess& holder) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!lock_is_held(file)) {
        if (has_ended(holder.pid()) || std::chrono::steady_clock::now() >= deadline) {
            holder.kill(SIGKILL);
            ProcessResult ended = holder.wait();
            FAIL("the lock holder did not take " << file.string() << ":\n" << describe(ended));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

// A peer that has pulled r1 (so its lock file holds the pid of that finished run) and an r2 waiting upstream.
void prepare(Cluster& cluster) {
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 81);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));
    write_file(cluster.primary().dir / "userstores/second.xml", "<userstore/>\n");
    REQUIRE_SUCCESS(cluster.publish("r2"));
}

}  // namespace

TEST_CASE("pull exits 3 while another process holds the node's lock, and waits for it with --wait", "[e2e]") {
    Cluster cluster(1);
    prepare(cluster);
    const stdfs::path lock = cluster.peer(0).state / "lock";

    dt::BackgroundProcess holder;
    holder.start({"flock", lock.string(), "sleep", "3"});
    wait_until_held(lock, holder);

    ProcessResult refused = cluster.pull(0);
    INFO(describe(refused));
    CHECK(refused.exit_code == 3);
    CHECK(refused.out.empty());
    CHECK(refused.err.find("lock") != std::string::npos);
    CHECK(refused.err.find("--wait") != std::string::npos);
    // Nothing was applied.
    CHECK_FALSE(stdfs::exists(cluster.peer(0).dir / "userstores/second.xml"));

    ProcessResult waited = cluster.pull(0, {"--wait", "10"});
    INFO(describe(waited));
    // The holder ran to its end (it was not killed), and only then did the waiting pull go ahead.
    ProcessResult held = holder.wait();
    CHECK(held.exit_code == 0);
    REQUIRE(waited.exit_code == 0);
    auto line = parse_pulled(waited.out);
    REQUIRE(line);
    CHECK(line->to == 2);
    CHECK(stdfs::exists(cluster.peer(0).dir / "userstores/second.xml"));
}

TEST_CASE("the lock-contention message names the pid of the process holding the lock", "[e2e]") {
    Cluster cluster(1);
    prepare(cluster);
    const stdfs::path lock = cluster.peer(0).state / "lock";

    dt::BackgroundProcess holder;
    holder.start({"flock", lock.string(), "sleep", "5"});
    const pid_t holder_pid = holder.pid();
    wait_until_held(lock, holder);
    ProcessResult refused = cluster.pull(0);
    holder.kill(SIGKILL);
    holder.wait();
    INFO(describe(refused));
    INFO("holder pid " << holder_pid);
    CHECK(refused.exit_code == 3);
    CHECK(refused.err.find("pid " + std::to_string(holder_pid) + ")") != std::string::npos);
}

TEST_CASE("a second publish while one is running exits 3 naming the first, and a killed run blocks nothing",
          "[e2e]") {
    Cluster cluster(0);
    const stdfs::path primary = cluster.primary().dir;
    dt::generate_tree(primary, dt::Profile::small, 82);
    REQUIRE_SUCCESS(cluster.publish("r1"));

    // A half-written archive keeps a publish waiting (and holding the lock) for its settle time.
    dt::Rng rng(83);
    dt::write_partial_zip(primary / "carbonapps/Slow_1.0.0.car", rng);
    dt::BackgroundProcess first;
    first.start({dt::depsync_bin(), "-c", cluster.primary().config.string(), "--settle", "30", "publish"});
    const stdfs::path lock = cluster.primary().state / "lock";
    wait_until_held(lock, first);

    ProcessResult second = cluster.publish("second");
    INFO(describe(second));
    CHECK(second.exit_code == 3);
    CHECK(second.err.find("pid " + std::to_string(first.pid())) != std::string::npos);

    // Killed in the middle of its run, the first publish leaves the lock free and nothing published.
    first.kill(SIGKILL);
    ProcessResult killed = first.wait();
    CHECK(killed.exit_code == 128 + SIGKILL);
    CHECK_FALSE(lock_is_held(lock));
    stdfs::remove(primary / "carbonapps/Slow_1.0.0.car");
    ProcessResult after = cluster.publish("after the kill");
    INFO(describe(after));
    CHECK(after.exit_code == 0);
    CHECK(parse_nothing_to_publish(after.out) == std::optional<std::uint64_t>(1));
    CHECK(cluster.release_commits() == 1);
}
