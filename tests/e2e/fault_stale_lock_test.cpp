// Fault 6: stale locks. A run killed inside git leaves ref `.lock` files, packed-refs.lock, temp packs and
// temp objects behind; every later ref update would fail on them. depsync's own node lock proves no other
// depsync run is active, so: on a peer (only depsync writes its repository) any such file is cleared; on the
// primary (plain git may push to it) only lock files older than 2 s are, younger ones are left alone.

#include <catch2/catch.hpp>
#include <iostream>

#include "cluster.hpp"
#include "support/fault_util.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

// Creates the files a killed run leaves in `repo`, `seconds_old` seconds old; returns their paths.
std::vector<stdfs::path> plant_leftovers(const stdfs::path& repo, const std::vector<std::string>& refs_locks,
                                         int seconds_old) {
    std::vector<std::string> relative = {"packed-refs.lock", "HEAD.lock", "config.lock",
                                         "objects/pack/pack_git2_4f1c2a", "objects/tmp_depsync_12345_0"};
    relative.insert(relative.end(), refs_locks.begin(), refs_locks.end());
    std::vector<stdfs::path> out;
    for (const auto& rel : relative) {
        stdfs::path p = repo / rel;
        write_file(p, rel.find("lock") != std::string::npos ? "0000000000000000000000000000000000000000\n"
                                                            : std::string(4096, 'x'));
        if (seconds_old > 0) dt::age_file(p, seconds_old);
        out.push_back(p);
    }
    return out;
}

std::vector<std::string> still_there(const std::vector<stdfs::path>& files) {
    std::vector<std::string> out;
    for (const auto& f : files)
        if (stdfs::exists(f)) out.push_back(f.string());
    return out;
}

}  // namespace

TEST_CASE("lock files and temp files of a killed run are cleared and the next run succeeds", "[e2e][fault]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    const stdfs::path peer_repo = peer.state / "repo.git";
    dt::TreeDescriber trees;

    dt::generate_tree(primary.dir, dt::Profile::small, 61);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));
    dt::Rng rng(62);
    dt::bump_version(primary.dir, rng);
    REQUIRE_SUCCESS(cluster.publish("r2"));
    const dt::TreeListing r2 = trees.describe(primary.dir);

    // On the peer: fresh leftovers, among them the lock of the very ref the fetch must move.
    auto peer_files =
        plant_leftovers(peer_repo, {"refs/remotes/origin/main.lock", "refs/heads/main.lock"}, 0);
    ProcessResult pulled = cluster.pull(0);
    INFO(describe(pulled));
    REQUIRE(pulled.exit_code == 0);
    auto line = parse_pulled(pulled.out);
    REQUIRE(line);
    CHECK(line->to == 2);
    auto left = still_there(peer_files);
    INFO("left on the peer:" << dt::format_differences(left));
    CHECK(left.empty());
    CHECK(dt::diff_trees(trees.describe(peer.dir), r2).empty());
    CHECK(dt::fsck_problems(peer_repo).empty());

    // On the primary: leftovers 10 s old, among them the branch's and the next tag's locks.
    dt::bump_version(primary.dir, rng);
    auto primary_files = plant_leftovers(cluster.repo(), {"refs/heads/main.lock", "refs/tags/r3.lock"}, 10);
    ProcessResult published = cluster.publish("r3 over stale locks");
    {
        INFO(describe(published));
        REQUIRE(published.exit_code == 0);
        auto pline = parse_published(published.out);
        REQUIRE(pline);
        CHECK(pline->release == 3);
    }
    left = still_there(primary_files);
    {
        INFO("left on the primary:" << dt::format_differences(left));
        CHECK(left.empty());
    }
    CHECK(dt::run_git({"-C", cluster.repo().string(), "rev-parse", "--verify", "-q", "refs/tags/r3"})
              .exit_code == 0);
    auto problems = dt::fsck_problems(cluster.repo());
    INFO("git fsck:" << dt::format_differences(problems));
    CHECK(problems.empty());
    REQUIRE_SUCCESS(cluster.pull(0));
    CHECK(dt::diff_trees(trees.describe(peer.dir), trees.describe(primary.dir)).empty());

    // A young lock on the primary may belong to a plain git writing right now: it is neither removed nor
    // written past while younger than 2 s; the publish waits until it is that old, then clears it.
    dt::bump_version(primary.dir, rng);
    const stdfs::path young = cluster.repo() / "refs/heads/main.lock";
    write_file(young, "0000000000000000000000000000000000000000\n");
    const double planted = dt::now_seconds();
    ProcessResult blocked = cluster.publish("r4 behind a young lock");
    const double took = dt::now_seconds() - planted;
    {
        INFO(describe(blocked));
        REQUIRE(blocked.exit_code == 0);
        CHECK(took >= 2.0);
        CHECK(parse_published(blocked.out));
        CHECK_FALSE(stdfs::exists(young));
    }
    CHECK(cluster.release_commits() == 4);
    CHECK(dt::fsck_problems(cluster.repo()).empty());
    std::cout << "fault 6 (stale locks): peer: " << peer_files.size()
              << " fresh leftovers cleared, pull applied; "
              << "primary: " << primary_files.size() << " leftovers 10 s old cleared, publish went through; "
              << "a young branch lock was respected (publish exit " << blocked.exit_code << " after " << took
              << " s: " << blocked.err.substr(0, blocked.err.find('\n')) << ")\n";
}

// A publish killed while it moves the branch leaves refs/heads/main.lock behind, fresh. The publish that
// follows at once -- an operator's retry, a hook or a service restart -- waits until the lock is 2 s old
// (plain git may be writing) and then clears it.
TEST_CASE("a publish right after a run killed while moving the branch succeeds", "[e2e][fault]") {
    Cluster cluster(0);
    const Node& primary = cluster.primary();
    dt::generate_tree(primary.dir, dt::Profile::small, 63);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    dt::Rng rng(64);
    dt::bump_version(primary.dir, rng);
    // What the killed run left: its lock on the branch, a moment ago.
    write_file(cluster.repo() / "refs/heads/main.lock", "0000000000000000000000000000000000000000\n");
    ProcessResult retry = cluster.publish("r2 right after the kill");
    INFO(describe(retry));
    CHECK(retry.exit_code == 0);
    CHECK(parse_published(retry.out));
    CHECK_FALSE(stdfs::exists(cluster.repo() / "refs/heads/main.lock"));
}
