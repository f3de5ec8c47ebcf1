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

namespace {

// Every entry below `dir`: "path uid gid mode" (mode in octal, symlinks without one).
std::vector<std::string> owners_and_modes(const stdfs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : stdfs::recursive_directory_iterator(dir)) {
        struct stat st {};
        ::lstat(e.path().c_str(), &st);
        char mode[8];
        std::snprintf(mode, sizeof mode, "%o", static_cast<unsigned>(st.st_mode & 07777));
        out.push_back(e.path().lexically_relative(dir).string() + " " + std::to_string(st.st_uid) + " " +
                      std::to_string(st.st_gid) + " " + (S_ISLNK(st.st_mode) ? std::string("link") : mode));
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("what a root pull creates belongs to the directory's owner, with modes the umask cannot narrow",
          "[e2e][local-account]") {
    SKIP_UNLESS_ACCOUNT_POSSIBLE();
    Machine m;
    m.write_primary("synapse-configs/default/sequences/main.xml", "<sequence name=\"main\"/>\n");
    m.write_primary("carbonapps/app.xml", "app\n");
    m.write_primary("scripts/run.sh", "#!/bin/sh\n");
    ::chmod((m.cluster.primary().dir / "scripts/run.sh").c_str(), 0755);
    stdfs::create_directories(m.cluster.primary().dir / "empty/nested");
    stdfs::create_symlink("../carbonapps/app.xml", m.cluster.primary().dir / "scripts/app");
    m.account.give(m.cluster.primary().dir);
    REQUIRE_SUCCESS(m.cluster.publish("r1"));
    auto pull_under_umask_077 = [&](const Node& node) {
        std::vector<std::string> argv = {"/bin/sh",         "-c", "umask 077; exec \"$@\"", "sh",
                                         dt::depsync_bin(), "-c", node.config.string(),     "pull"};
        return dt::run(argv);
    };

    SECTION("the owner of the directory") {
        REQUIRE_SUCCESS(pull_under_umask_077(m.peer));
        const std::string uid = std::to_string(m.account.uid()), gid = std::to_string(m.account.gid());
        CHECK(owners_and_modes(m.peer.dir) ==
              std::vector<std::string>{
                  "carbonapps " + uid + " " + gid + " 755",
                  "carbonapps/app.xml " + uid + " " + gid + " 644",
                  "empty " + uid + " " + gid + " 755",
                  "empty/nested " + uid + " " + gid + " 755",
                  "scripts " + uid + " " + gid + " 755",
                  "scripts/app " + uid + " " + gid + " link",
                  "scripts/run.sh " + uid + " " + gid + " 755",
                  "synapse-configs " + uid + " " + gid + " 755",
                  "synapse-configs/default " + uid + " " + gid + " 755",
                  "synapse-configs/default/sequences " + uid + " " + gid + " 755",
                  "synapse-configs/default/sequences/main.xml " + uid + " " + gid + " 644",
              });
        // A file the release rewrites stays the server's.
        m.write_primary("synapse-configs/default/sequences/main.xml", "<sequence name=\"main\" v=\"2\"/>\n");
        REQUIRE_SUCCESS(m.cluster.publish("r2"));
        REQUIRE_SUCCESS(pull_under_umask_077(m.peer));
        struct stat st {};
        REQUIRE(::stat((m.peer.dir / "synapse-configs/default/sequences/main.xml").c_str(), &st) == 0);
        CHECK(st.st_uid == m.account.uid());
        CHECK((st.st_mode & 07777) == 0644);
    }
    SECTION("the configured owner, for a directory of root's") {
        Node root_peer{"peer2", m.cluster.root() / "peer2/server", m.cluster.root() / "peer2/state",
                       m.cluster.root() / "peer2.conf"};
        ProcessResult init = dt::run({dt::depsync_bin(), "-c", root_peer.config.string(), "init", "peer",
                                      "--dir", root_peer.dir.string(), "--remote", m.cluster.repo().string(),
                                      "--state", root_peer.state.string(), "--node", root_peer.name});
        REQUIRE_SUCCESS(init);
        const std::string config = read_file(root_peer.config);
        write_file(root_peer.config, config + "owner = " + m.account.name() + "\n");
        REQUIRE_SUCCESS(pull_under_umask_077(root_peer));
        struct stat st {};
        REQUIRE(::lstat((root_peer.dir / "scripts/app").c_str(), &st) == 0);
        CHECK(st.st_uid == m.account.uid());
        REQUIRE(::stat((root_peer.dir / "empty/nested").c_str(), &st) == 0);
        CHECK(st.st_uid == m.account.uid());
        CHECK(st.st_gid == m.account.gid());
        CHECK((st.st_mode & 07777) == 0755);
        REQUIRE(::stat(root_peer.dir.c_str(), &st) == 0);
        CHECK(st.st_uid == 0);  // the directory itself is left as it was

        write_file(root_peer.config, config + "owner = nosuchuser-depsync\n");
        ProcessResult bad = m.cluster.depsync(root_peer, {"pull"});
        CHECK(bad.exit_code == 2);
        CHECK(bad.err.find("no user 'nosuchuser-depsync'") != std::string::npos);
    }
}

TEST_CASE("a file with several links that is not the directory owner's is not published",
          "[e2e][local-account]") {
    SKIP_UNLESS_ACCOUNT_POSSIBLE();
    Machine m;
    const stdfs::path dir = m.cluster.primary().dir;
    m.write_primary("synapse-configs/default/api/A.xml", "<api/>\n");
    m.write_primary("own.xml", "the account's own file\n");
    // A link to root's secret (possible where fs.protected_hardlinks is 0), and one the account made to its
    // own file.
    REQUIRE(::link((m.canary / "secret.conf").c_str(), (dir / "leak.conf").c_str()) == 0);
    REQUIRE(::link((dir / "own.xml").c_str(), (dir / "own-too.xml").c_str()) == 0);
    ProcessResult published = m.cluster.publish("r1");
    REQUIRE_SUCCESS(published);
    CHECK(published.err.find("not published: leak.conf has 2 hard links and belongs to uid 0") !=
          std::string::npos);
    CHECK_FALSE(m.secret_in_repository());
    ProcessResult listed = git({"-C", m.cluster.repo().string(), "ls-tree", "-r", "--name-only", "main"});
    CHECK(listed.out == "own-too.xml\nown.xml\nsynapse-configs/default/api/A.xml\n");
}
