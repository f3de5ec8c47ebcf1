// The deployment directory's owner (the application server's account, made for the test and removed after)
// against a root depsync: it owns the directory and the folder above it, so it can replace the directory by
// a symlink to a folder of root's, before a run or in the middle of one, timed with inotify as an attacker
// would (tests/support/swapper_main.cpp). Root's folder must stay untouched and unread.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "cluster.hpp"
#include "support/local_account.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

// A primary and one peer whose directories belong to the account (as do the folders holding them; the state
// folders stay root's), and a folder of root's with files the account must not reach.
struct Machine {
    Cluster cluster{0};
    dt::LocalAccount account;
    stdfs::path home = cluster.root() / "home";  // the account's folder holding the peer's directory
    Node peer{"peer1", home / "server", cluster.root() / "peer1-state", cluster.root() / "peer1.conf"};
    stdfs::path canary = cluster.root() / "rootonly";

    Machine() {
        ::chmod(cluster.root().c_str(), 0755);
        account.give(cluster.root() / "primary", false);
        account.give(cluster.primary().dir);
        stdfs::create_directories(peer.dir);
        account.give(home);
        ProcessResult init = dt::run({dt::depsync_bin(), "-c", peer.config.string(), "init", "peer", "--dir",
                                      peer.dir.string(), "--remote", cluster.repo().string(), "--state",
                                      peer.state.string(), "--node", peer.name});
        if (init.exit_code != 0) throw std::runtime_error("cannot init the peer:\n" + describe(init));
        stdfs::create_directories(canary);
        ::chmod(canary.c_str(), 0700);
        write_file(canary / "secret.conf", "root's secret\n");
        ::chmod((canary / "secret.conf").c_str(), 0600);
        write_file(canary / "local.conf", "root's own local.conf\n");
    }

    // Writes a file of the primary's directory as the account would have it.
    void write_primary(const std::string& rel, const std::string& content) const {
        write_file(cluster.primary().dir / rel, content);
        account.give(cluster.primary().dir);
    }

    // The account's actions, carried out now.
    ProcessResult as_account(const std::vector<std::string>& actions) const {
        std::vector<std::string> argv = account.swapper_args();
        argv.insert(argv.end(), actions.begin(), actions.end());
        return dt::run(argv);
    }

    // Root's folder: every entry with its mode and content.
    std::map<std::string, std::string> canary_state() const {
        std::map<std::string, std::string> out;
        for (const auto& e : stdfs::recursive_directory_iterator(canary)) {
            struct stat st {};
            ::lstat(e.path().c_str(), &st);
            out[e.path().lexically_relative(canary).string()] =
                std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + " " +
                (S_ISREG(st.st_mode) ? read_file(e.path()) : std::string());
        }
        return out;
    }

    // True when the blob of root's secret is among the release repository's objects.
    bool secret_in_repository() const {
        ProcessResult id = git({"hash-object", (canary / "secret.conf").string()});
        std::string oid = id.out.substr(0, id.out.find('\n'));
        return git({"-C", cluster.repo().string(), "cat-file", "-e", oid}).exit_code == 0;
    }
};

// Starts depsync-swapper as the account, waiting for `watched` to be opened (`how`: --wait-open, inotify as
// the account; --hold-open, fanotify holding the opener until the actions are done); returns once the watch
// is set.
void arm(dt::BackgroundProcess& swapper, const Machine& m, const stdfs::path& watched,
         const std::vector<std::string>& actions, const std::string& how = "--wait-open") {
    stdfs::path ready = m.home / "swapper-ready";  // where the account may write
    stdfs::remove(ready);
    std::vector<std::string> argv = m.account.swapper_args();
    for (const std::string& a : {how, watched.string(), std::string("--ready"), ready.string(),
                                 std::string("--timeout"), std::string("60")})
        argv.push_back(a);
    argv.insert(argv.end(), actions.begin(), actions.end());
    swapper.start(argv);
    for (int i = 0; i < 500 && !stdfs::exists(ready); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (!stdfs::exists(ready)) throw std::runtime_error("depsync-swapper did not set its watch");
}

std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937_64 gen(seed);
    std::string s(n, '\0');
    for (std::size_t i = 0; i + 8 <= n; i += 8) {
        std::uint64_t v = gen();
        std::memcpy(&s[i], &v, 8);
    }
    return s;
}

#define SKIP_UNLESS_ACCOUNT_POSSIBLE()                \
    if (auto why = dt::LocalAccount::unavailable()) { \
        WARN("skipped: " << *why);                    \
        return;                                       \
    }

}  // namespace

TEST_CASE("a deployment directory that is a symlink is refused by pull and verify", "[e2e][local-account]") {
    SKIP_UNLESS_ACCOUNT_POSSIBLE();
    Machine m;
    m.write_primary("synapse-configs/default/api/A.xml", "<api v1/>\n");
    REQUIRE_SUCCESS(m.cluster.publish("r1"));
    REQUIRE_SUCCESS(m.cluster.depsync(m.peer, {"pull"}));
    m.write_primary("synapse-configs/default/api/A.xml", "<api v2/>\n");
    m.write_primary("local.conf", "from the release\n");
    REQUIRE_SUCCESS(m.cluster.publish("r2"));
    const auto canary_before = m.canary_state();

    REQUIRE_SUCCESS(m.as_account({"rename", m.peer.dir.string(), (m.home / "server.real").string(), "symlink",
                                  m.canary.string(), m.peer.dir.string()}));
    for (const std::vector<std::string>& verb :
         {std::vector<std::string>{"pull"}, std::vector<std::string>{"verify", "--full"}}) {
        ProcessResult r = m.cluster.depsync(m.peer, verb);
        INFO(describe(r));
        CHECK(r.exit_code == 2);
        CHECK(r.err.find(m.peer.dir.string() + " is a symlink") != std::string::npos);
    }
    CHECK(m.canary_state() == canary_before);
    CHECK(read_file(m.home / "server.real/synapse-configs/default/api/A.xml") == "<api v1/>\n");

    // A symlink higher up is refused just the same: the account's folder itself replaced by a link.
    REQUIRE(::unlink(m.peer.dir.c_str()) == 0);
    REQUIRE_SUCCESS(m.as_account({"rename", (m.home / "server.real").string(), m.peer.dir.string()}));
    REQUIRE(::rename(m.home.c_str(), (m.cluster.root() / "home.real").c_str()) == 0);
    REQUIRE(::symlink((m.cluster.root() / "home.real").c_str(), m.home.c_str()) == 0);
    ProcessResult above = m.cluster.depsync(m.peer, {"pull"});
    INFO(describe(above));
    CHECK(above.exit_code == 2);
    CHECK(above.err.find(m.home.string() + " is a symlink") != std::string::npos);
}

TEST_CASE("a primary whose directory is a symlink publishes and rolls back nothing", "[e2e][local-account]") {
    SKIP_UNLESS_ACCOUNT_POSSIBLE();
    Machine m;
    const stdfs::path dir = m.cluster.primary().dir;
    m.write_primary("synapse-configs/default/api/A.xml", "<api v1/>\n");
    REQUIRE_SUCCESS(m.cluster.publish("r1"));
    m.write_primary("synapse-configs/default/api/A.xml", "<api v2/>\n");
    REQUIRE_SUCCESS(m.cluster.publish("r2"));
    const auto canary_before = m.canary_state();

    REQUIRE_SUCCESS(m.as_account(
        {"rename", dir.string(), dir.string() + ".real", "symlink", m.canary.string(), dir.string()}));
    for (const std::vector<std::string>& verb :
         {std::vector<std::string>{"publish", "-m", "r3"}, std::vector<std::string>{"rollback", "r1"},
          std::vector<std::string>{"verify"}}) {
        ProcessResult r = m.cluster.depsync(m.cluster.primary(), verb);
        INFO(describe(r));
        CHECK(r.exit_code == 2);
        CHECK(r.err.find(dir.string() + " is a symlink") != std::string::npos);
    }
    CHECK(m.cluster.release_commits() == 2);
    CHECK_FALSE(m.secret_in_repository());
    CHECK(m.canary_state() == canary_before);
    CHECK(read_file(dir.string() + ".real/synapse-configs/default/api/A.xml") == "<api v2/>\n");
}

TEST_CASE("the deployment directory swapped for a symlink during the scan changes nothing outside it",
          "[e2e][local-account]") {
    SKIP_UNLESS_ACCOUNT_POSSIBLE();
    Machine m;
    // A large file the scan must read again: the swap happens while it is being hashed.
    m.write_primary("blobs/big.bin", random_bytes(24 << 20, 7));
    m.write_primary("synapse-configs/default/api/A.xml", "<api v1/>\n");
    REQUIRE_SUCCESS(m.cluster.publish("r1"));
    REQUIRE_SUCCESS(m.cluster.depsync(m.peer, {"pull"}));
    m.write_primary("synapse-configs/default/api/A.xml", "<api v2/>\n");
    m.write_primary("synapse-configs/default/api/New.xml", "<api new/>\n");
    REQUIRE_SUCCESS(m.cluster.publish("r2"));

    // The account's stray (which the pull removes, saved to backup) has the name of root's file; it touches
    // the big file so that the scan opens it.
    write_file(m.peer.dir / "local.conf", "the account's stray\n");
    m.account.give(m.peer.dir);
    const stdfs::path big = m.peer.dir / "blobs/big.bin";
    REQUIRE(::utimensat(AT_FDCWD, big.c_str(), nullptr, 0) == 0);
    const auto canary_before = m.canary_state();

    dt::BackgroundProcess swapper;
    arm(swapper, m, big,
        {"rename", m.peer.dir.string(), (m.home / "server.real").string(), "symlink", m.canary.string(),
         m.peer.dir.string()});
    ProcessResult pulled = m.cluster.depsync(m.peer, {"pull"});
    ProcessResult swapped = swapper.wait();
    INFO(describe(pulled) + "\nswapper: " + describe(swapped));
    REQUIRE(swapped.exit_code == 0);  // the swap happened during the run
    REQUIRE(stdfs::is_symlink(m.peer.dir));

    CHECK(m.canary_state() == canary_before);
    // The run went on in the directory it had opened, now named server.real.
    CHECK(pulled.exit_code == 0);
    CHECK(read_file(m.home / "server.real/synapse-configs/default/api/A.xml") == "<api v2/>\n");
    CHECK(read_file(m.home / "server.real/synapse-configs/default/api/New.xml") == "<api new/>\n");
    CHECK_FALSE(stdfs::exists(m.home / "server.real/local.conf"));
}

namespace {

// Runs depsync in the background; gives its result, or kills it and gives nullopt after `seconds`.
std::optional<ProcessResult> run_bounded(const std::vector<std::string>& argv, int seconds) {
    dt::BackgroundProcess p;
    p.start(argv);
    for (int i = 0; i < seconds * 20; ++i) {
        siginfo_t info{};
        if (::waitid(P_PID, static_cast<id_t>(p.pid()), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
            info.si_pid == p.pid())
            return p.wait();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    p.kill(SIGKILL);
    p.wait();
    return std::nullopt;
}

std::vector<std::string> depsync_argv(const Node& node, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {dt::depsync_bin(), "-c", node.config.string(), "--settle", "1"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

}  // namespace

TEST_CASE("a FIFO put in a file's place after it was listed is refused, not waited on",
          "[e2e][local-account]") {
    SKIP_UNLESS_ACCOUNT_POSSIBLE();
    Machine m;
    // In one folder: the big file is opened first (the swap is timed by its open), the small one after it.
    m.write_primary("blobs/big.bin", random_bytes(4 << 20, 9));
    m.write_primary("blobs/small.bin", "small v1\n");
    REQUIRE_SUCCESS(m.cluster.publish("r1"));
    REQUIRE_SUCCESS(m.cluster.depsync(m.peer, {"pull"}));
    m.write_primary("blobs/small.bin", "small v2\n");
    REQUIRE_SUCCESS(m.cluster.publish("r2"));

    SECTION("pull") {
        const stdfs::path big = m.peer.dir / "blobs/big.bin";
        const stdfs::path small = m.peer.dir / "blobs/small.bin";
        m.account.give(m.peer.dir);
        for (const auto& p : {big, small}) REQUIRE(::utimensat(AT_FDCWD, p.c_str(), nullptr, 0) == 0);
        dt::BackgroundProcess swapper;
        arm(swapper, m, big, {"fifo-over", small.string()}, "--hold-open");
        std::optional<ProcessResult> pulled = run_bounded(depsync_argv(m.peer, {"pull"}), 60);
        ProcessResult swapped = swapper.wait();
        INFO("swapper: " + describe(swapped));
        REQUIRE(swapped.exit_code == 0);
        REQUIRE(pulled);  // finished: not blocked in open
        INFO(describe(*pulled));
        CHECK(pulled->exit_code == 0);
        CHECK(pulled->err.find("blobs/small.bin was not read: it is no longer a regular file") !=
              std::string::npos);
        struct stat st {};
        REQUIRE(::lstat(small.c_str(), &st) == 0);
        CHECK(S_ISREG(st.st_mode));
        CHECK(read_file(small) == "small v2\n");
    }
    SECTION("publish and verify --full") {
        const stdfs::path dir = m.cluster.primary().dir;
        const stdfs::path big = dir / "blobs/big.bin";
        const stdfs::path small = dir / "blobs/small.bin";
        m.write_primary("blobs/small.bin", "small v3\n");
        REQUIRE(::utimensat(AT_FDCWD, big.c_str(), nullptr, 0) == 0);
        dt::BackgroundProcess swapper;
        arm(swapper, m, big, {"fifo-over", small.string()}, "--hold-open");
        std::optional<ProcessResult> published =
            run_bounded(depsync_argv(m.cluster.primary(), {"publish", "-m", "r3"}), 60);
        ProcessResult swapped = swapper.wait();
        INFO("swapper: " + describe(swapped));
        REQUIRE(swapped.exit_code == 0);
        REQUIRE(published);
        INFO(describe(*published));
        // Looked at again, the FIFO is a special file: not published (r3 removes the archive).
        CHECK(published->exit_code == 0);
        CHECK(published->err.find("blobs/small.bin was not read") != std::string::npos);
        CHECK(published->err.find("not published (special file or unsafe name): blobs/small.bin") !=
              std::string::npos);

        // verify --full reads every file: a FIFO swapped in during it is refused too.
        REQUIRE(::unlink(small.c_str()) == 0);
        write_file(small, "small v4\n");
        dt::BackgroundProcess again;
        arm(again, m, big, {"fifo-over", small.string()}, "--hold-open");
        std::optional<ProcessResult> verified =
            run_bounded(depsync_argv(m.cluster.primary(), {"verify", "--full"}), 60);
        REQUIRE(again.wait().exit_code == 0);
        REQUIRE(verified);
        INFO(describe(*verified));
        CHECK(verified->exit_code == 4);
        CHECK(verified->err.find("blobs/small.bin was not read") != std::string::npos);
    }
}

