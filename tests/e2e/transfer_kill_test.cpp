// A pull killed with SIGKILL while its transfer child waits on a server that never answers: the child dies
// with it (and, over ssh, the ssh client the child started), and it never held the node lock on its own, so
// the next pull runs (and is not refused with exit 3).

#include <signal.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <thread>

#include "cluster.hpp"
#include "https_setup.hpp"
#include "support/tcp_proxy.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

// Pids of the processes whose parent is `parent`, from /proc/PID/stat.
std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    for (const auto& e : stdfs::directory_iterator("/proc")) {
        std::string name = e.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream in(e.path() / "stat");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto close = text.rfind(')');
        if (close == std::string::npos) continue;
        char state = 0;
        long ppid = 0;
        if (std::sscanf(text.c_str() + close + 1, " %c %ld", &state, &ppid) == 2 && ppid == parent)
            out.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return out;
}

// Whether `pid` is alive (a zombie counts as dead).
bool alive(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');
    return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

}  // namespace

TEST_CASE("a pull killed during its fetch leaves no transfer behind and no lock held", "[e2e][fault]") {
    Cluster cluster(1);
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 31, 0.05);
    REQUIRE_SUCCESS(cluster.publish("first"));
    dt::TcpProxy hung(std::nullopt);  // accepts connections and never answers
    const Node& peer = cluster.peer(0);
    set_config(
        peer.config,
        {{"remote", in_quotes("https://127.0.0.1:" + std::to_string(hung.port()) + "/git/releases.git")},
         {"timeout", "60"}});

    // Output to /dev/null: a child that outlived the pull would otherwise hold the test's pipe open.
    dt::BackgroundProcess pull;
    pull.start({"sh", "-c", "exec \"$0\" \"$@\" >/dev/null 2>&1", dt::depsync_bin(), "-c",
                peer.config.string(), "pull"});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::vector<pid_t> transfer;
    while ((hung.connections() == 0 || transfer.empty()) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        transfer = children_of(pull.pid());
    }
    REQUIRE(hung.connections() > 0);
    REQUIRE(transfer.size() == 1);
    // The pull alone, as `kill -9 PID` does (BackgroundProcess::kill would signal its whole group).
    ::kill(pull.pid(), SIGKILL);
    ProcessResult killed = pull.wait();
    CHECK(killed.exit_code == 128 + SIGKILL);

    deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (alive(transfer[0]) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    bool survived = alive(transfer[0]);
    CHECK_FALSE(survived);

    // The next pull takes the lock and runs into the same silent server: it fails by its timeout, not 3.
    set_config(peer.config, {{"timeout", "2"}});
    ProcessResult next = cluster.pull(0);
    INFO(describe(next));
    CHECK(next.exit_code == 1);
    CHECK(next.err.find("timeout") != std::string::npos);
    if (survived) ::kill(transfer[0], SIGKILL);
    CHECK(dt::describe_tree(peer.dir).empty());
}

TEST_CASE("a pull killed while ssh waits on a silent server leaves neither its transfer nor ssh behind",
          "[e2e][fault][ssh]") {
    Cluster cluster(1);
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 31, 0.05);
    REQUIRE_SUCCESS(cluster.publish("first"));
    dt::TcpProxy hung(std::nullopt);  // accepts the connection and never sends ssh's banner
    const Node& peer = cluster.peer(0);
    write_file(cluster.root() / "known_hosts", "");
    set_config(peer.config, {{"remote", in_quotes("ssh://depsync@127.0.0.1:" + std::to_string(hung.port()) +
                                                  cluster.repo().string())},
                             {"known_hosts", in_quotes((cluster.root() / "known_hosts").string())},
                             {"timeout", "60"}});

    dt::BackgroundProcess pull;
    pull.start({"sh", "-c", "exec \"$0\" \"$@\" >/dev/null 2>&1", dt::depsync_bin(), "-c",
                peer.config.string(), "pull"});
    // The pull, its transfer child, and the ssh client that child runs.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::vector<pid_t> transfer, ssh;
    while ((hung.connections() == 0 || ssh.empty()) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        transfer = children_of(pull.pid());
        ssh.clear();
        for (pid_t t : transfer)
            for (pid_t c : children_of(t)) ssh.push_back(c);
    }
    REQUIRE(hung.connections() > 0);
    REQUIRE(transfer.size() == 1);
    REQUIRE(ssh.size() == 1);
    ::kill(pull.pid(), SIGKILL);
    ProcessResult killed = pull.wait();
    CHECK(killed.exit_code == 128 + SIGKILL);

    deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while ((alive(transfer[0]) || alive(ssh[0])) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const bool transfer_survived = alive(transfer[0]), ssh_survived = alive(ssh[0]);
    CHECK_FALSE(transfer_survived);
    CHECK_FALSE(ssh_survived);

    // The next pull runs into the same silent server and fails by its timeout, not with exit 3.
    set_config(peer.config, {{"timeout", "2"}});
    ProcessResult next = cluster.pull(0);
    INFO(describe(next));
    CHECK(next.exit_code == 1);
    if (transfer_survived) ::kill(transfer[0], SIGKILL);
    if (ssh_survived) ::kill(ssh[0], SIGKILL);
    CHECK(dt::describe_tree(peer.dir).empty());
}
