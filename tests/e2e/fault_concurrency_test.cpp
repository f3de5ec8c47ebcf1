// Fault 5: concurrent runs. One depsync run at a time per node: the others exit 3 naming the holder's pid,
// or with --wait take their turn. Runs on different nodes (publish on the primary while peers pull) do not
// disturb each other. Nothing is corrupted: trees exact, repository valid.

#include <catch2/catch.hpp>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include "cluster.hpp"
#include "support/fault_util.hpp"
#include "support/random_util.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

std::vector<std::string> argv_for(const Node& node, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {dt::depsync_bin(), "-c", node.config.string(), "--settle", "1"};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

struct Finished {
    pid_t pid;
    ProcessResult result;
};

// Starts every command (as close together as the test can) and waits for all of them.
std::vector<Finished> run_together(const std::vector<std::vector<std::string>>& commands) {
    std::vector<std::unique_ptr<dt::BackgroundProcess>> processes;
    for (const auto& argv : commands) {
        processes.push_back(std::make_unique<dt::BackgroundProcess>());
        processes.back()->start(argv);
    }
    std::vector<Finished> out;
    for (auto& p : processes) {
        pid_t pid = p->pid();
        out.push_back({pid, p->wait()});
    }
    return out;
}

std::string all_output(const std::vector<Finished>& runs) {
    std::string text;
    for (const auto& r : runs) text += "[pid " + std::to_string(r.pid) + "] " + describe(r.result) + "\n";
    return text;
}

std::uint64_t release_of_pull(const ProcessResult& r) {
    if (auto line = parse_pulled(r.out)) return line->to;
    if (auto at = parse_up_to_date(r.out)) return *at;
    return 0;
}

}  // namespace

TEST_CASE("concurrent runs on one node: one works while the others wait or exit 3 naming its pid",
          "[e2e][fault]") {
    Cluster cluster(2);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    dt::TreeDescriber trees;
    std::map<std::uint64_t, dt::TreeListing> releases;

    // ~30 MB, so that the run holding the lock is still busy when the last of the others starts.
    dt::FaultTreeShape shape;
    shape.capps = 30;
    shape.xml_files = 400;
    dt::build_fault_tree(primary.dir, 31, shape);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    releases[1] = trees.describe(primary.dir);

    // 8 pulls at once with an update pending: exactly one applies, 7 exit 3 naming its pid.
    std::vector<std::vector<std::string>> pulls(8, argv_for(peer, {"pull"}));
    auto runs = run_together(pulls);
    INFO(all_output(runs));
    std::size_t applied = 0, locked = 0;
    pid_t winner = 0;
    for (const auto& r : runs) {
        if (r.result.exit_code == 0 && parse_pulled(r.result.out)) {
            ++applied;
            winner = r.pid;
        }
    }
    REQUIRE(applied == 1);
    for (const auto& r : runs) {
        if (r.pid == winner) continue;
        CHECK(r.result.exit_code == 3);
        CHECK(dt::contains(r.result.err, "pid " + std::to_string(winner)));
        if (r.result.exit_code == 3) ++locked;
    }
    CHECK(dt::diff_trees(trees.describe(peer.dir), releases[1]).empty());
    std::cout << "fault 5 (concurrent runs): 8 pulls at once: " << applied << " applied, " << locked
              << " exited 3 naming pid " << winner << "\n";

    // With --wait every one of them succeeds in turn: one applies, the others find the node up to date.
    dt::mutate_fault_tree(primary.dir, 32);
    REQUIRE_SUCCESS(cluster.publish("r2"));
    releases[2] = trees.describe(primary.dir);
    pulls.assign(8, argv_for(peer, {"--wait", "30", "pull"}));
    runs = run_together(pulls);
    {
        INFO(all_output(runs));
        std::size_t applied_waiting = 0, up_to_date = 0;
        for (const auto& r : runs) {
            CHECK(r.result.exit_code == 0);
            if (auto line = parse_pulled(r.result.out)) {
                ++applied_waiting;
                CHECK(line->from == std::optional<std::uint64_t>(1));
                CHECK(line->to == 2);
            } else if (parse_up_to_date(r.result.out) == std::optional<std::uint64_t>(2)) {
                ++up_to_date;
            }
        }
        CHECK(applied_waiting == 1);
        CHECK(up_to_date == 7);
        CHECK(dt::diff_trees(trees.describe(peer.dir), releases[2]).empty());
        std::cout << "fault 5: 8 pulls at once with --wait 30: " << applied_waiting << " applied, "
                  << up_to_date << " up to date after waiting\n";
    }

    // Publish while both peers pull, three times: each pull gets a whole release, old or new.
    std::size_t mixed_pulls = 0;
    for (std::uint64_t round = 0; round < 3; ++round) {
        const std::uint64_t next = 3 + round;
        dt::mutate_fault_tree(primary.dir, 40 + round);
        const dt::TreeListing upcoming = trees.describe(primary.dir);
        runs = run_together({argv_for(primary, {"publish", "-m", "during pulls"}),
                             argv_for(cluster.peer(0), {"--wait", "30", "pull"}),
                             argv_for(cluster.peer(1), {"--wait", "30", "pull"}),
                             argv_for(cluster.peer(0), {"--wait", "30", "pull"})});
        INFO(all_output(runs));
        auto published = parse_published(runs[0].result.out);
        REQUIRE(published);
        CHECK(published->release == next);
        releases[next] = upcoming;
        for (std::size_t i = 1; i < runs.size(); ++i) {
            REQUIRE(runs[i].result.exit_code == 0);
            std::uint64_t got = release_of_pull(runs[i].result);
            CHECK((got == next || got == next - 1));
            ++mixed_pulls;
        }
        // Whatever each peer ended at, it holds that release exactly.
        for (std::size_t p = 0; p < 2; ++p) {
            std::string at = parse_flat_json(cluster.status_json(cluster.peer(p)).out).at("release");
            REQUIRE(releases.count(std::stoull(at)) == 1);
            auto diff = dt::diff_trees(trees.describe(cluster.peer(p).dir), releases[std::stoull(at)]);
            INFO(cluster.peer(p).name << " at r" << at << ":" << dt::format_differences(diff));
            CHECK(diff.empty());
        }
    }
    for (std::size_t p = 0; p < 2; ++p) {
        REQUIRE_SUCCESS(cluster.pull(p));
        CHECK(dt::diff_trees(trees.describe(cluster.peer(p).dir), releases[5]).empty());
    }
    std::cout << "fault 5: 3 publishes during " << mixed_pulls << " pulls: every pull got a whole release\n";

    // Two publishes at once: one publishes, the other exits 3 naming its pid.
    dt::mutate_fault_tree(primary.dir, 50);
    runs = run_together(
        {argv_for(primary, {"publish", "-m", "first"}), argv_for(primary, {"publish", "-m", "second"})});
    {
        INFO(all_output(runs));
        const Finished& won = runs[0].result.exit_code == 0 ? runs[0] : runs[1];
        const Finished& lost = runs[0].result.exit_code == 0 ? runs[1] : runs[0];
        auto line = parse_published(won.result.out);
        REQUIRE(line);
        CHECK(line->release == 6);
        CHECK(lost.result.exit_code == 3);
        CHECK(dt::contains(lost.result.err, "pid " + std::to_string(won.pid)));
        releases[6] = trees.describe(primary.dir);
    }

    // With --wait both succeed, one after the other, as consecutive releases. The first holds the lock before
    // the second starts and leaves one new file out (--exclude), so the second has something to publish.
    dt::mutate_fault_tree(primary.dir, 51);
    dt::write_small_files(primary.dir / "synapse-configs/default/local-entries", "LateArrival", 1, 500, 52);
    dt::BackgroundProcess first, second;
    first.start(
        argv_for(primary, {"--wait", "30", "--exclude", "LateArrival0.xml", "publish", "-m", "first"}));
    const stdfs::path lock = primary.state / "lock";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        std::string holder = stdfs::exists(lock) ? read_file(lock) : "";
        if (holder == std::to_string(first.pid()) + "\n") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    second.start(argv_for(primary, {"--wait", "30", "publish", "-m", "second"}));
    ProcessResult a = first.wait(), b = second.wait();
    INFO(describe(a) << "\n" << describe(b));
    auto line_a = parse_published(a.out), line_b = parse_published(b.out);
    REQUIRE(line_a);
    REQUIRE(line_b);
    CHECK(line_a->release == 7);
    CHECK(line_b->release == 8);
    releases[8] = trees.describe(primary.dir);
    REQUIRE_SUCCESS(cluster.pull(0));
    CHECK(dt::diff_trees(trees.describe(peer.dir), releases[8]).empty());
    REQUIRE_SUCCESS(cluster.pull(0, {"--to", "r7"}));
    auto r7 = trees.describe(peer.dir);
    CHECK(r7.count("synapse-configs/default/local-entries/LateArrival0.xml") == 0);
    CHECK(releases[8].count("synapse-configs/default/local-entries/LateArrival0.xml") == 1);
    std::cout << "fault 5: two publishes at once: one published r6, the other exited 3 naming its pid; with "
                 "--wait: r7 and r8 in turn\n";

    auto problems = dt::fsck_problems(cluster.repo());
    INFO("git fsck:" << dt::format_differences(problems));
    CHECK(problems.empty());
    CHECK(dt::repo_leftovers(cluster.repo()).empty());
}
