// depsync doctor on real nodes in temp folders: a healthy peer, and one problem at a time (a config others
// can write, a state folder or directory of another account, an unreachable remote, a held lock, metrics and
// log paths that cannot be written, a primary without git-upload-pack), the --json shape, and cluster doctor
// over two local nodes.

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <fstream>
#include <thread>

#include "cluster.hpp"
#include "support/tcp_proxy.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

constexpr unsigned nobody = 65534;

// A primary with r1 published and a peer that pulled it.
struct Nodes {
    Cluster cluster{1};
    Nodes() {
        dt::generate_tree(cluster.primary().dir, dt::Profile::small, 7, 0.05);
        REQUIRE_SUCCESS(cluster.publish("first"));
        REQUIRE_SUCCESS(cluster.pull(0));
    }
    ProcessResult doctor(const Node& node, const std::vector<std::string>& extra = {},
                         const std::map<std::string, std::string>& env = {}) const {
        std::vector<std::string> argv = {dt::depsync_bin(), "-c", node.config.string()};
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.push_back("doctor");
        return dt::run(argv, env);
    }
};

// The line of `out` that starts with `start`, or "" when there is none.
std::string line_starting(const std::string& out, const std::string& start) {
    for (const std::string& line : lines_of(out))
        if (line.rfind(start, 0) == 0) return line;
    return "";
}

void chown_tree(const stdfs::path& path, unsigned uid) {
    REQUIRE(::lchown(path.c_str(), uid, uid) == 0);
    if (!stdfs::is_directory(stdfs::symlink_status(path))) return;
    for (const auto& e : stdfs::recursive_directory_iterator(path))
        REQUIRE(::lchown(e.path().c_str(), uid, uid) == 0);
}

bool held_by_someone(const stdfs::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return false;
    std::ifstream locks("/proc/locks");
    std::string inode = ":" + std::to_string(st.st_ino) + " ";
    for (std::string line; std::getline(locks, line);)
        if (line.find("FLOCK") != std::string::npos && line.find(inode) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("doctor on a healthy peer and primary says ok for every check and exits 0", "[e2e][doctor]") {
    Nodes n;
    ProcessResult r = n.doctor(n.cluster.peer(0));
    INFO(describe(r));
    CHECK(r.exit_code == 0);
    for (const std::string& line : lines_of(r.out)) {
        bool fine =
            line.rfind("ok: ", 0) == 0 || line.rfind("skipped: ", 0) == 0 || line.rfind("healthy: ", 0) == 0;
        CHECK(fine);
    }
    for (const char* check : {"config", "directory", "state", "remote", "space", "lock"})
        CHECK(line_starting(r.out, std::string("ok: ") + check + ": ") != "");
    CHECK(contains(line_starting(r.out, "ok: remote: "), "answers: its branch main is at"));
    CHECK(contains(line_starting(r.out, "ok: space: "), "the newest release r1 is"));
    CHECK(line_starting(r.out, "skipped: units: ") == "skipped: units: systemd is not running here");
    CHECK(line_starting(r.out, "healthy: ") != "");

    r = n.doctor(n.cluster.primary());
    INFO(describe(r));
    CHECK(r.exit_code == 0);
    CHECK(contains(line_starting(r.out, "ok: releases: "), "its branch main is at r1"));
    CHECK(contains(line_starting(r.out, "ok: upload-pack: "), "git-upload-pack serves peers"));
    CHECK(contains(line_starting(r.out, "ok: space: "), "the deployment directory holds"));
}

TEST_CASE("doctor reports a config file others can write, with the chmod that fixes it", "[e2e][doctor]") {
    Nodes n;
    const stdfs::path config = n.cluster.peer(0).config;
    REQUIRE(::chmod(config.c_str(), 0666) == 0);
    ProcessResult r = n.doctor(n.cluster.peer(0));
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    std::string line = line_starting(r.out, "problem: config: ");
    CHECK(contains(line, "(mode 0666, owner root) is writable by group or others"));
    CHECK(contains(line, "; fix: chmod 600 " + config.string()));
    CHECK(line_starting(r.out, "not healthy: 1 problem(s)") != "");

    // A config that cannot be read at all is a configuration error, as for every command.
    write_file(config, read_file(config) + "timeout = 2m\n");
    r = n.doctor(n.cluster.peer(0));
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
}

TEST_CASE(
    "doctor reports a root run over a state folder another account owns, and a directory the runner "
    "cannot write",
    "[e2e][doctor]") {
    if (::geteuid() != 0) {
        WARN("skipped: needs root to give files to another account");
        return;
    }
    Nodes n;
    const Node& peer = n.cluster.peer(0);
    chown_tree(peer.state, nobody);
    ProcessResult r = n.doctor(peer);
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    std::string line = line_starting(r.out, "problem: state: ");
    CHECK(contains(line, peer.state.string() + " belongs to nobody, but this runs as root"));
    CHECK(contains(line, "; fix: run depsync as nobody: sudo -u nobody depsync -c " + peer.config.string()));
    // The remote is not contacted as root: that would leave root's files in nobody's state folder.
    CHECK(
        contains(line_starting(r.out, "skipped: remote: "), "another account than the state folder's owner"));

    // Run as nobody, who owns the config and state but not the deployment directory (root's, mode 0755).
    REQUIRE(::chmod(n.cluster.root().c_str(), 0755) == 0);
    chown_tree(peer.config, nobody);
    r = dt::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", dt::depsync_bin(), "-c",
                 peer.config.string(), "doctor"});
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    CHECK(contains(line_starting(r.out, "problem: directory: "),
                   peer.dir.string() + " belongs to root, and nobody, who runs this, cannot write it"));
    CHECK(contains(line_starting(r.out, "ok: state: "), "belongs to nobody, who runs this"));
}

TEST_CASE("doctor reports an unreachable remote with the fix", "[e2e][doctor]") {
    Nodes n;
    const Node& peer = n.cluster.peer(0);
    set_key(peer.config, "remote",
            "ssh://git@127.0.0.1:" + std::to_string(dt::free_port()) + "/srv/releases.git");
    set_key(peer.config, "timeout", "10");
    ProcessResult r = n.doctor(peer);
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    std::string line = line_starting(r.out, "problem: remote: cannot reach remote ssh://");
    CHECK(line != "");
    CHECK(contains(line, "; fix: check that the primary is up and reachable"));
}

TEST_CASE("doctor reports a held lock with its holder and leaves the lock to it", "[e2e][doctor]") {
    Nodes n;
    const stdfs::path lock = n.cluster.peer(0).state / "lock";
    dt::BackgroundProcess holder;
    holder.start({"flock", lock.string(), "sleep", "5"});
    for (int i = 0; i < 250 && !held_by_someone(lock); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE(held_by_someone(lock));
    ProcessResult r = n.doctor(n.cluster.peer(0));
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    std::string line = line_starting(r.out, "problem: lock: another depsync run (pid ");
    CHECK(contains(line, "holds the lock " + lock.string()));
    CHECK(contains(line, "; fix: wait for it to end"));
    CHECK(held_by_someone(lock));
    holder.kill(SIGKILL);
    holder.wait();
    r = n.doctor(n.cluster.peer(0));
    CHECK(r.exit_code == 0);
    CHECK(line_starting(r.out, "ok: lock: ") == "ok: lock: " + lock.string() + " is free");
}

TEST_CASE("doctor reports metrics and log paths that cannot be written instead of failing on them",
          "[e2e][doctor]") {
    Nodes n;
    const stdfs::path missing = n.cluster.root() / "no-such-folder";
    const stdfs::path a_file = n.cluster.root() / "a-file";
    write_file(a_file, "not a folder\n");
    set_key(n.cluster.peer(0).config, "metrics_file", (missing / "depsync.prom").string());
    set_key(n.cluster.peer(0).config, "log_file", (a_file / "depsync.log").string());
    ProcessResult r = n.doctor(n.cluster.peer(0));
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    CHECK(contains(line_starting(r.out, "problem: metrics: "),
                   "its folder " + missing.string() + " does not exist; fix: mkdir -p " + missing.string()));
    CHECK(contains(line_starting(r.out, "problem: log: "),
                   "its folder " + a_file.string() + " is not a folder"));
    // Other commands still refuse a log file they cannot open.
    CHECK(n.cluster.depsync(n.cluster.peer(0), {"status"}).exit_code == 2);
}

TEST_CASE("doctor on a primary without git-upload-pack in PATH says peers cannot fetch", "[e2e][doctor]") {
    Nodes n;
    const stdfs::path empty = n.cluster.root() / "empty-bin";
    stdfs::create_directories(empty);
    ProcessResult r = n.doctor(n.cluster.primary(), {}, {{"PATH", empty.string()}});
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    CHECK(line_starting(r.out, "problem: upload-pack: ") ==
          "problem: upload-pack: git-upload-pack is not in PATH (" + empty.string() +
              "): peers cannot fetch over ssh from this primary; fix: install git (apt-get install git)");
}

TEST_CASE("doctor --json prints the node, its verdict and every check", "[e2e][doctor]") {
    Nodes n;
    REQUIRE(::chmod(n.cluster.peer(0).config.c_str(), 0664) == 0);
    ProcessResult r = n.doctor(n.cluster.peer(0), {}, {});
    r = dt::run({dt::depsync_bin(), "-c", n.cluster.peer(0).config.string(), "doctor", "--json"});
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    nlohmann::json j = nlohmann::json::parse(r.out);
    CHECK(j["node"] == "peer1");
    CHECK(j["role"] == "peer");
    CHECK(j["healthy"] == false);
    REQUIRE(j["checks"].is_array());
    bool found = false;
    for (const auto& c : j["checks"]) {
        CHECK(c.size() == 4);
        CHECK(c["state"].is_string());
        if (c["check"] == "config") {
            found = true;
            CHECK(c["state"] == "problem");
            CHECK(c["fix"] == "chmod 600 " + n.cluster.peer(0).config.string());
        } else if (c["state"] != "problem") {
            CHECK(c["fix"].is_null());
        }
    }
    CHECK(found);
}

TEST_CASE("cluster doctor runs doctor on every node and exits 1 when one is unhealthy",
          "[e2e][doctor][cluster]") {
    Nodes n;
    const stdfs::path nodes = n.cluster.root() / "nodes.txt";
    write_file(nodes, n.cluster.primary().config.string() + "\n" + n.cluster.peer(0).config.string() + "\n");
    ProcessResult r = dt::run({dt::depsync_bin(), "cluster", "doctor", "--nodes", nodes.string()});
    INFO(describe(r));
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "primary: healthy: "));
    CHECK(contains(r.out, "peer1: healthy: "));
    CHECK(line_starting(r.out, "healthy: all 2 node(s)") != "");

    REQUIRE(::chmod(n.cluster.peer(0).config.c_str(), 0666) == 0);
    r = dt::run({dt::depsync_bin(), "cluster", "doctor", "--nodes", nodes.string()});
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    CHECK(contains(r.out, "primary: healthy: "));
    CHECK(contains(r.out, "peer1: not healthy: 1 problem(s)"));
    CHECK(contains(line_starting(r.out, "  problem: config: "), "; fix: chmod 600"));
    CHECK(line_starting(r.out, "not healthy: 1 of 2 node(s)") != "");
}
