// Fault 2: SIGKILL during publish, at many points of a publish that writes big CApps.
//
// After every kill: the primary's repository is valid (git fsck --strict), its branch names a complete
// release (git archive reads every blob of it, and its files are exactly the old or the new tree), a peer's
// pull gets exactly that release, and the next publish succeeds and is correct.

#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <iostream>
#include <thread>

#include "cluster.hpp"
#include "support/fault_util.hpp"
#include "support/random_util.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

constexpr std::uint64_t MiB = 1 << 20;

dt::TreeListing files_only(const dt::TreeListing& listing) {
    dt::TreeListing out;
    for (const auto& [path, info] : listing)
        if (info.type != dt::NodeType::directory) out.emplace(path, info);
    return out;
}

std::uint64_t primary_release(const Cluster& cluster) {
    ProcessResult status = cluster.status_json(cluster.primary());
    INFO(describe(status));
    REQUIRE(status.exit_code == 0);
    return std::stoull(parse_flat_json(status.out).at("release"));
}

// The files of the branch's release, read back with plain git: every blob must be readable.
dt::TreeListing archived_files(const Cluster& cluster, dt::TreeDescriber& trees, const stdfs::path& scratch) {
    stdfs::remove_all(scratch);
    stdfs::create_directories(scratch);
    const stdfs::path tar = scratch.string() + ".tar";
    ProcessResult archive = dt::run_git(
        {"-C", cluster.repo().string(), "archive", "--format=tar", "-o", tar.string(), "refs/heads/main"});
    INFO(describe(archive));
    REQUIRE(archive.exit_code == 0);
    ProcessResult untar = dt::run({"tar", "-xf", tar.string(), "-C", scratch.string()});
    INFO(describe(untar));
    REQUIRE(untar.exit_code == 0);
    return files_only(trees.describe(scratch));
}

// A change that makes publish write ~2 big CApps' worth of new objects, plus a small file.
void change_tree(const stdfs::path& dir, std::size_t round) {
    dt::Rng rng(1000 + round);
    for (std::size_t k = 0; k < 2; ++k) {
        std::size_t which = (2 * round + k) % 4;
        std::string app = "Bulk" + std::to_string(which);
        dt::write_car(dir / "carbonapps" / (app + "_3.0.0.car"), app, "3.0.0", 8 * MiB, rng);
    }
    dt::write_small_files(dir / "synapse-configs/default/local-entries",
                          "Round" + std::to_string(round) + "x", 2, 800, round);
}

}  // namespace

TEST_CASE("a publish killed at any point leaves a valid repository naming a complete release",
          "[e2e][fault]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    dt::TreeDescriber trees;
    const stdfs::path scratch = cluster.root() / "archive";

    dt::generate_tree(primary.dir, dt::Profile::small, 5);
    for (std::size_t r = 0; r < 2; ++r) change_tree(primary.dir, r);  // four 8 MB CApps
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));

    auto publish_argv = [&](const std::string& message) {
        return std::vector<std::string>{
            dt::depsync_bin(), "-c", primary.config.string(), "--settle", "1", "publish", "-m", message};
    };

    // Uninterrupted publishes of the same kind of change, to know how long one takes (the quickest of three:
    // a slow outlier would push kills past the end of the runs).
    double duration = 1e9;
    for (std::size_t round = 2; round < 5; ++round) {
        change_tree(primary.dir, round);
        double start = dt::now_seconds();
        REQUIRE_SUCCESS(dt::run(publish_argv("measured")));
        duration = std::min(duration, dt::now_seconds() - start);
    }
    REQUIRE_SUCCESS(cluster.pull(0));
    std::cout << "fault 2 (kill during publish): one publish of 16 MiB of new CApps takes " << duration
              << " s\n";

    constexpr std::size_t kills = 22;
    dt::Rng rng(77);
    std::size_t before_branch = 0, after_branch = 0, exited_by_itself = 0, peer_pulls = 0;
    std::uint64_t current = primary_release(cluster);
    for (std::size_t i = 0; i < kills; ++i) {
        const dt::TreeListing old_tree = trees.describe(primary.dir);
        change_tree(primary.dir, 5 + i);
        const dt::TreeListing new_tree = trees.describe(primary.dir);
        const double delay =
            1.05 * duration * (static_cast<double>(i) + dt::unit_interval(rng)) / static_cast<double>(kills);
        INFO("publish of r" << current + 1 << " killed after " << delay << " s");

        dt::BackgroundProcess process;
        process.start(publish_argv("round " + std::to_string(i)));
        std::this_thread::sleep_for(std::chrono::duration<double>(delay));
        process.kill(SIGKILL);
        ProcessResult killed = process.wait();
        REQUIRE((killed.exit_code == 128 + SIGKILL || killed.exit_code == 0));
        if (killed.exit_code == 0) ++exited_by_itself;

        // The repository is valid and its branch names a whole release: the old one or the new one.
        auto problems = dt::fsck_problems(cluster.repo());
        INFO("git fsck after the kill:" << dt::format_differences(problems));
        CHECK(problems.empty());
        const std::uint64_t named = primary_release(cluster);
        REQUIRE((named == current || named == current + 1));
        const bool published = named == current + 1;
        (published ? after_branch : before_branch)++;
        const dt::TreeListing& expected = published ? new_tree : old_tree;
        auto archive_diff = dt::diff_trees(archived_files(cluster, trees, scratch), files_only(expected));
        INFO("git archive of the branch differs from r" << named << ":"
                                                        << dt::format_differences(archive_diff));
        CHECK(archive_diff.empty());

        // A peer pulling now gets exactly that release.
        ProcessResult pulled = cluster.pull(0);
        INFO(describe(pulled));
        REQUIRE(pulled.exit_code == 0);
        ++peer_pulls;
        auto peer_diff = dt::diff_trees(trees.describe(peer.dir), expected);
        INFO("the peer's pull between kills differs from r" << named << ":"
                                                            << dt::format_differences(peer_diff));
        CHECK(peer_diff.empty());

        // The next publish completes the job, also right after a kill that left the branch's .lock.
        ProcessResult again = cluster.publish("again " + std::to_string(i));
        INFO(describe(again));
        REQUIRE(again.exit_code == 0);
        if (published) {
            CHECK(parse_nothing_to_publish(again.out) == std::optional<std::uint64_t>(current + 1));
        } else {
            auto line = parse_published(again.out);
            REQUIRE(line);
            CHECK(line->release == current + 1);
        }
        current += 1;
        CHECK(dt::run_git({"-C", cluster.repo().string(), "rev-parse", "--verify", "-q",
                           "refs/tags/r" + std::to_string(current)})
                  .exit_code == 0);
        auto leftovers = dt::repo_leftovers(cluster.repo());
        INFO("left in the repository after the next publish:" << dt::format_differences(leftovers));
        CHECK(leftovers.empty());
        REQUIRE_SUCCESS(cluster.pull(0));
        auto final_diff = dt::diff_trees(trees.describe(peer.dir), new_tree);
        INFO("after the next publish the peer differs from the primary:"
             << dt::format_differences(final_diff));
        CHECK(final_diff.empty());
    }
    CHECK(primary_release(cluster) == current);
    // fsck reads every object; once at the end is enough for the publishes that followed the kills.
    auto problems = dt::fsck_problems(cluster.repo());
    INFO("git fsck at the end:" << dt::format_differences(problems));
    CHECK(problems.empty());
    // Enough kills must land inside a running publish, or the test would not test what it claims.
    CHECK(before_branch >= kills / 3);
    std::cout << "fault 2: " << kills << " kills: " << before_branch << " before the branch moved, "
              << after_branch << " after (" << exited_by_itself << " had exited before the signal); "
              << peer_pulls << " peer pulls between kills, all exact; every immediate re-publish succeeded\n";
}

TEST_CASE("a publish killed after moving the branch and before tagging gets its tag from the next publish",
          "[e2e][fault]") {
    // The state such a kill leaves, made exactly: the branch names r2, its tag is missing, and the state
    // folder's records (`published`, the stat cache) still describe r1. The kill test above reaches it only
    // when a kill lands in that short window.
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    dt::generate_tree(primary.dir, dt::Profile::small, 41, 0.05);
    REQUIRE_SUCCESS(cluster.publish("first"));
    const stdfs::path saved = cluster.root() / "state-after-r1";
    stdfs::copy(primary.state, saved, stdfs::copy_options::recursive);
    write_file(primary.dir / "userstores/added.xml", "<userstore name=\"added\"/>\n");
    REQUIRE_SUCCESS(cluster.publish("second"));
    for (const char* record : {"published", "statcache"})
        stdfs::copy_file(saved / record, primary.state / record, stdfs::copy_options::overwrite_existing);
    REQUIRE(dt::run_git({"-C", cluster.repo().string(), "tag", "-d", "r2"}).exit_code == 0);

    ProcessResult again = cluster.publish("again");
    INFO(describe(again));
    REQUIRE(again.exit_code == 0);
    CHECK(parse_nothing_to_publish(again.out) == std::optional<std::uint64_t>(2));
    ProcessResult tag =
        dt::run_git({"-C", cluster.repo().string(), "rev-parse", "--verify", "-q", "r2^{commit}"});
    ProcessResult branch = dt::run_git({"-C", cluster.repo().string(), "rev-parse", "refs/heads/main"});
    CHECK(tag.exit_code == 0);
    CHECK(tag.out == branch.out);
}
