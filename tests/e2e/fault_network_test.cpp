// Fault 4: the network fails mid-transfer. Peers fetch over ssh from a real sshd through a TCP proxy that
// drops the connection after N bytes, or stalls; a server that accepts and never answers stands for a hung
// primary. Every failed pull exits 1 within the timeout (plus 2 s), applies nothing, and the retry converges.
// The same servers also give: an initial ssh fetch killed half-way (fault 7) and a damaged pack (fault 8).

#include <signal.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "cluster.hpp"
#include "support/fault_util.hpp"
#include "support/random_util.hpp"
#include "support/sshd_server.hpp"
#include "support/tcp_proxy.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr int timeout_seconds = 3;

// A peer's ssh settings: known_hosts, ssh_key and timeout go into its config file; the remote URL, which
// differs between the proxy and the hung server, is given as --remote.
struct SshAccess {
    stdfs::path key;
    stdfs::path known_hosts;

    void configure(const Node& peer) const {
        std::ofstream conf(peer.config, std::ios::app);
        conf << "known_hosts = \"" << known_hosts.string() << "\"\n"
             << "ssh_key = \"" << key.string() << "\"\n"
             << "timeout = " << timeout_seconds << "\n";
        conf.close();
        // A config naming a private key must itself be private.
        stdfs::permissions(peer.config, stdfs::perms(0600));
    }
    static std::vector<std::string> args(int port, const stdfs::path& repo) {
        return {"--remote",
                "ssh://" + dt::current_user_name() + "@127.0.0.1:" + std::to_string(port) + repo.string()};
    }
};

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

struct Timed {
    ProcessResult result;
    double seconds;
};

Timed timed_pull(const Cluster& cluster, std::size_t peer, const std::vector<std::string>& args) {
    double start = dt::now_seconds();
    ProcessResult r = cluster.depsync(cluster.peer(peer), with(args, {"pull"}));
    return {r, dt::now_seconds() - start};
}

std::string status_release(const Cluster& cluster, const Node& node) {
    ProcessResult status = cluster.status_json(node);
    INFO(describe(status));
    REQUIRE(status.exit_code == 0);
    return parse_flat_json(status.out).at("release");
}

// Offset and size of object `oid` in the pack whose index is `idx` (git verify-pack -v), or nullopt.
std::optional<std::pair<std::uint64_t, std::uint64_t>> pack_entry(const stdfs::path& idx,
                                                                  const std::string& oid) {
    ProcessResult r = dt::run_git({"verify-pack", "-v", idx.string()});
    std::istringstream lines(r.out);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream f(line);
        std::string id, type;
        std::uint64_t size = 0, packed = 0, offset = 0;
        if (f >> id >> type >> size >> packed >> offset && id == oid) return std::make_pair(offset, packed);
    }
    return std::nullopt;
}

}  // namespace

TEST_CASE(
    "a transfer cut or stalled mid-way fails within the timeout and applies nothing and the retry converges",
    "[e2e][fault]") {
    Cluster cluster(3);
    const Node& primary = cluster.primary();
    std::unique_ptr<dt::SshdServer> sshd;
    try {
        sshd = std::make_unique<dt::SshdServer>(cluster.root() / "sshd");
    } catch (const std::exception& e) {
        WARN("skipped: cannot start sshd: " << e.what());
        std::cout << "skipped: cannot start sshd: " << e.what() << "\n";
        return;
    }
    dt::TreeDescriber trees;
    SshAccess ssh{cluster.root() / "client/id_ed25519", cluster.root() / "client/known_hosts"};
    dt::generate_ssh_key(ssh.key, dt::SshKeyType::ed25519);
    stdfs::path key_pub = ssh.key;
    key_pub += ".pub";
    sshd->authorize(key_pub);
    dt::TcpProxy proxy(sshd->port());
    {
        std::ofstream kh(ssh.known_hosts);
        for (auto type : {dt::SshKeyType::ed25519, dt::SshKeyType::ecdsa})
            kh << "[127.0.0.1]:" << proxy.port() << " " << dt::ssh_public_key_text(sshd->host_key_pub(type))
               << "\n";
    }
    for (std::size_t i = 0; i < cluster.peer_count(); ++i) ssh.configure(cluster.peer(i));
    // How the operator is told to set up the primary for ssh: archives are not deflated again.
    for (auto kv :
         {std::pair{"pack.window", "0"}, {"pack.compression", "0"}, {"core.bigFileThreshold", "1m"}})
        REQUIRE_SUCCESS(dt::run_git({"-C", cluster.repo().string(), "config", kv.first, kv.second}));
    const auto via_proxy = ssh.args(proxy.port(), cluster.repo());
    // The pulls that must succeed get a timeout a loaded machine cannot outlast (ssh and sshd start in
    // well under a second when idle, several when the suite runs beside other work); the faults keep 3 s.
    const auto patient = with(via_proxy, {"--timeout", "60"});

    dt::generate_tree(primary.dir, dt::Profile::small, 91);
    dt::Rng rng(91);
    for (int i = 0; i < 2; ++i) {
        std::string app = "Wire" + std::to_string(i);
        dt::write_car(primary.dir / "carbonapps" / (app + "_1.0.0.car"), app, "1.0.0", 5 * MiB, rng);
    }
    REQUIRE_SUCCESS(cluster.publish("r1"));
    const dt::TreeListing r1 = trees.describe(primary.dir);

    // Peer 1's first pull measures a whole initial transfer.
    std::uint64_t base = proxy.bytes_to_clients();
    {
        Timed first = timed_pull(cluster, 0, patient);
        INFO(describe(first.result) << "\nsshd log:\n" << sshd->log());
        REQUIRE(first.result.exit_code == 0);
    }
    const std::uint64_t initial_bytes = proxy.bytes_to_clients() - base;
    REQUIRE(dt::diff_trees(trees.describe(cluster.peer(0).dir), r1).empty());
    REQUIRE_SUCCESS(timed_pull(cluster, 1, patient).result);

    // Fault 7 over ssh: an initial fetch killed half-way is retried cleanly.
    {
        const Node& peer = cluster.peer(2);
        dt::BackgroundProcess process;
        base = proxy.bytes_to_clients();
        process.start(with(with({dt::depsync_bin(), "-c", peer.config.string()}, patient), {"pull"}));
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (proxy.bytes_to_clients() - base < initial_bytes / 2 &&
               std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        process.kill(SIGKILL);
        ProcessResult killed = process.wait();
        const std::uint64_t at_kill = proxy.bytes_to_clients() - base;
        INFO(describe(killed));
        CHECK(killed.exit_code == 128 + SIGKILL);
        CHECK(at_kill < initial_bytes);
        CHECK(dt::describe_tree(peer.dir).empty());
        CHECK(status_release(cluster, peer) == "null");
        Timed retried = timed_pull(cluster, 2, patient);
        INFO(describe(retried.result));
        REQUIRE(retried.result.exit_code == 0);
        CHECK(dt::diff_trees(trees.describe(peer.dir), r1).empty());
        CHECK(dt::repo_leftovers(peer.state / "repo.git").empty());
        CHECK(dt::fsck_problems(peer.state / "repo.git").empty());
        std::cout << "fault 7: first fetch over ssh killed after " << at_kill << " of " << initial_bytes
                  << " bytes; the retry applied r1 exactly\n";
    }

    // Cuts, stalls and a hung server.
    {
        const Node& peer = cluster.peer(0);
        for (int i = 0; i < 2; ++i) dt::bump_version(primary.dir, rng);
        dt::write_car(primary.dir / "carbonapps/Wire2_1.0.0.car", "Wire2", "1.0.0", 9 * MiB, rng);
        REQUIRE_SUCCESS(cluster.publish("r2"));
        const dt::TreeListing r2 = trees.describe(primary.dir);
        // Peer 2 measures the r1 -> r2 transfer the faults cut into.
        base = proxy.bytes_to_clients();
        REQUIRE_SUCCESS(timed_pull(cluster, 1, patient).result);
        const std::uint64_t update_bytes = proxy.bytes_to_clients() - base;
        std::cout << "fault 4 (network cut): transfers over ssh: initial " << initial_bytes
                  << " bytes, r1 -> r2 " << update_bytes << " bytes\n";

        struct Case {
            std::string name;
            dt::ProxyFault fault;
        };
        using A = dt::ProxyFault::Action;
        std::vector<Case> cases = {
            {"drop after 1 KiB", {A::drop, 1 * KiB}},
            {"drop after 64 KiB", {A::drop, 64 * KiB}},
            {"drop after 1 MiB", {A::drop, 1 * MiB}},
            {"drop after half the transfer", {A::drop, update_bytes / 2}},
            // Not closer to the end: git's progress messages make the byte count vary by a few KiB per run.
            {"drop after 90% of the transfer", {A::drop, update_bytes / 10 * 9}},
            {"stall after 64 KiB", {A::stall, 64 * KiB}},
            {"stall after half the transfer", {A::stall, update_bytes / 2}},
        };
        for (const Case& c : cases) {
            INFO(c.name);
            proxy.set_fault(c.fault);
            Timed cut = timed_pull(cluster, 0, via_proxy);
            INFO(describe(cut.result));
            // A cut that did not cut would leave the peer at r2 and void the cases after it.
            REQUIRE(cut.result.exit_code == 1);
            CHECK(cut.seconds <= timeout_seconds + 2);
            if (c.fault.action == A::stall) CHECK(dt::contains(cut.result.err, "timeout"));
            auto diff = dt::diff_trees(trees.describe(peer.dir), r1);
            INFO("applied something although the transfer failed:" << dt::format_differences(diff));
            CHECK(diff.empty());
            CHECK(dt::temp_files_in(peer.dir).empty());
            CHECK_FALSE(stdfs::exists(peer.state / "journal"));
            CHECK(status_release(cluster, peer) == "1");
            std::cout << "fault 4: " << c.name << ": exit " << cut.result.exit_code << " after "
                      << cut.seconds << " s: " << cut.result.err.substr(0, cut.result.err.find('\n')) << "\n";
        }
        proxy.set_fault({});

        // A server that accepts the connection and never says a word.
        dt::TcpProxy hung(std::nullopt);
        {
            std::ofstream kh(ssh.known_hosts, std::ios::app);
            kh << "[127.0.0.1]:" << hung.port() << " "
               << dt::ssh_public_key_text(sshd->host_key_pub(dt::SshKeyType::ed25519)) << "\n";
        }
        Timed silent = timed_pull(cluster, 0, ssh.args(hung.port(), cluster.repo()));
        {
            INFO(describe(silent.result));
            CHECK(silent.result.exit_code == 1);
            CHECK(silent.seconds <= timeout_seconds + 2);
            CHECK(dt::contains(silent.result.err, "timeout"));
            CHECK(dt::diff_trees(trees.describe(peer.dir), r1).empty());
            CHECK(status_release(cluster, peer) == "1");
            std::cout << "fault 4: hung server: exit " << silent.result.exit_code << " after "
                      << silent.seconds << " s: " << silent.result.err.substr(0, silent.result.err.find('\n'))
                      << "\n";
        }

        Timed retry = timed_pull(cluster, 0, patient);
        {
            INFO(describe(retry.result));
            REQUIRE(retry.result.exit_code == 0);
            auto line = parse_pulled(retry.result.out);
            REQUIRE(line);
            CHECK(line->to == 2);
        }
        CHECK(dt::diff_trees(trees.describe(peer.dir), r2).empty());
        CHECK(dt::temp_files_in(peer.dir).empty());
        CHECK(dt::repo_leftovers(peer.state / "repo.git").empty());
        CHECK(dt::fsck_problems(peer.state / "repo.git").empty());

        // Fault 8 with a pack: damage the fetched pack where it holds a blob the next pull must read.
        dt::rebuild_in_place(primary.dir, rng);
        dt::write_car(primary.dir / "carbonapps/Wire3_1.0.0.car", "Wire3", "1.0.0", 2 * MiB, rng);
        REQUIRE_SUCCESS(cluster.publish("r3"));
        const dt::TreeListing r3 = trees.describe(primary.dir);
        REQUIRE_SUCCESS(cluster.depsync(peer, with(patient, {"pull", "--dry-run"})));
        ProcessResult blob = dt::run_git(
            {"-C", cluster.repo().string(), "rev-parse", "refs/tags/r3:carbonapps/Wire3_1.0.0.car"});
        REQUIRE(blob.exit_code == 0);
        const std::string oid = blob.out.substr(0, 40);
        std::optional<std::pair<std::uint64_t, std::uint64_t>> where;
        stdfs::path pack;
        for (const auto& e : stdfs::directory_iterator(peer.state / "repo.git/objects/pack"))
            if (e.path().extension() == ".idx")
                if (auto found = pack_entry(e.path(), oid)) {
                    where = found;
                    pack = e.path();
                    pack.replace_extension(".pack");
                }
        REQUIRE(where);
        {
            // Flip bytes in the middle of the blob's data, in a fresh inode.
            std::ifstream in(pack, std::ios::binary);
            std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            for (std::uint64_t k = 0; k < 16; ++k) bytes[where->first + where->second / 2 + k * 101] ^= 0x5a;
            stdfs::path tmp = pack;
            tmp += ".damaged";
            std::ofstream(tmp, std::ios::binary) << bytes;
            stdfs::rename(tmp, pack);
        }
        Timed repaired = timed_pull(cluster, 0, patient);
        INFO(describe(repaired.result));
        REQUIRE(repaired.result.exit_code == 0);
        CHECK(dt::contains(repaired.result.err, "damaged"));
        CHECK(dt::diff_trees(trees.describe(peer.dir), r3).empty());
        CHECK(dt::fsck_problems(peer.state / "repo.git").empty());
        std::cout << "fault 8: damaged pack (blob " << oid.substr(0, 10) << " at offset " << where->first
                  << ") repaired by a fetch over ssh: "
                  << repaired.result.err.substr(0, repaired.result.err.find('\n')) << "\n";
    }
}
