// Fault 7: a node that was away. A peer 200 releases behind reaches the newest with one pull; a peer whose
// very first fetch was killed half-way through gets everything on the next pull.

#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <iostream>
#include <thread>

#include "cluster.hpp"
#include "support/fault_util.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

// Loose objects below objects/ (what a local fetch copies one by one).
std::size_t loose_objects(const stdfs::path& repo) {
    std::size_t n = 0;
    std::error_code ec;
    for (const auto& fan : stdfs::directory_iterator(repo / "objects", ec)) {
        const std::string name = fan.path().filename().string();
        if (name.size() != 2 || !fan.is_directory()) continue;
        for (auto it = stdfs::directory_iterator(fan.path(), ec); !ec && it != stdfs::directory_iterator();
             it.increment(ec))
            ++n;
    }
    return n;
}

}  // namespace

TEST_CASE("a peer 200 releases behind reaches the newest with one pull", "[e2e][fault]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    dt::TreeDescriber trees;

    dt::generate_tree(primary.dir, dt::Profile::small, 71);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));

    const stdfs::path notes = primary.dir / "synapse-configs/default/local-entries";
    for (int n = 2; n <= 201; ++n) {
        // Every release changes one file, and every tenth adds one and removes an older one.
        write_file(notes / "ReleaseNote.xml",
                   "<localEntry key=\"ReleaseNote\">r" + std::to_string(n) + "</localEntry>\n");
        if (n % 10 == 0) {
            write_file(notes / ("Batch" + std::to_string(n) + ".xml"), "<localEntry key=\"b\"/>\n");
            if (n >= 30) stdfs::remove(notes / ("Batch" + std::to_string(n - 20) + ".xml"));
        }
        ProcessResult r = cluster.publish("r" + std::to_string(n));
        INFO(describe(r));
        REQUIRE(r.exit_code == 0);
    }
    REQUIRE(cluster.release_commits() == 201);

    ProcessResult pulled = cluster.pull(0);
    INFO(describe(pulled));
    REQUIRE(pulled.exit_code == 0);
    auto line = parse_pulled(pulled.out);
    REQUIRE(line);
    CHECK(line->from == std::optional<std::uint64_t>(1));
    CHECK(line->to == 201);
    CHECK(dt::diff_trees(trees.describe(peer.dir), trees.describe(primary.dir)).empty());
    CHECK(parse_flat_json(cluster.status_json(peer).out).at("release") == "201");
    std::cout << "fault 7 (long-absent node): r1 -> r201 in one pull: " << pulled.out;
}

TEST_CASE("an initial fetch killed half-way is retried cleanly", "[e2e][fault]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    const stdfs::path peer_repo = peer.state / "repo.git";
    dt::TreeDescriber trees;

    dt::build_fault_tree(primary.dir, 72);
    REQUIRE_SUCCESS(cluster.publish("big first release"));
    const dt::TreeListing r1 = trees.describe(primary.dir);
    const std::size_t total = loose_objects(cluster.repo());
    REQUIRE(total > 1000);

    // Kill the first pull once about half of the objects have arrived.
    dt::BackgroundProcess process;
    process.start({dt::depsync_bin(), "-c", peer.config.string(), "pull"});
    std::size_t seen = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
        seen = loose_objects(peer_repo);
        if (seen >= total / 2) break;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    process.kill(SIGKILL);
    ProcessResult killed = process.wait();
    const std::size_t at_kill = loose_objects(peer_repo);
    INFO(describe(killed));
    INFO("objects: " << total << " on the primary, " << seen << " seen before the kill, " << at_kill
                     << " after");
    CHECK(killed.exit_code == 128 + SIGKILL);
    CHECK(at_kill < total);
    CHECK_FALSE(stdfs::exists(peer.state / "journal"));
    CHECK(dt::describe_tree(peer.dir).empty());  // nothing was applied
    CHECK(parse_flat_json(cluster.status_json(peer).out).at("release") == "null");

    ProcessResult retried = cluster.pull(0);
    INFO(describe(retried));
    REQUIRE(retried.exit_code == 0);
    auto line = parse_pulled(retried.out);
    REQUIRE(line);
    CHECK_FALSE(line->from);
    CHECK(line->to == 1);
    auto diff = dt::diff_trees(trees.describe(peer.dir), r1);
    INFO(dt::format_differences(diff));
    CHECK(diff.empty());
    auto problems = dt::fsck_problems(peer_repo);
    INFO("git fsck of the peer's copy:" << dt::format_differences(problems));
    CHECK(problems.empty());
    CHECK(dt::repo_leftovers(peer_repo).empty());
    CHECK(dt::temp_files_in(peer.dir).empty());
    std::cout << "fault 7: first fetch (local path) killed with " << at_kill << " of " << total
              << " objects copied; the retry applied r1 exactly\n";
}
