// Fault 1: SIGKILL during pull, at many points spread over the whole apply of a large-ish tree.
//
// Two releases of ~2,000 files / ~60 MB differ in dozens of CApps (renamed, rebuilt, deleted, added),
// hundreds of XML files, folders emptied, removed and created, and an exec bit. The peer moves between them
// again and again; each move is killed at a chosen delay. After every kill: each path holds the old or the
// new content, no visible archive is invalid, and status names the old release, or the new one only when the
// directory holds it exactly. The next pull then converges to the exact release, with no temp file left.
// Every third interrupted r1 -> r2 apply is killed a second time while the next pull resumes it.
// A reader thread validates every visible archive the whole time.

#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>
#include <vector>

#include "cluster.hpp"
#include "support/fault_util.hpp"
#include "support/random_util.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

struct Timing {
    double journal = 0;  // seconds from start until the journal appeared (the apply began)
    double end = 0;      // seconds from start until the process ended
};

std::vector<std::string> depsync_args(const Node& node, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {dt::depsync_bin(), "-c", node.config.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

// Runs one uninterrupted command and notes when the journal appeared and when it ended.
Timing measure(const Node& peer, const std::vector<std::string>& args) {
    dt::BackgroundProcess process;
    const stdfs::path journal = peer.state / "journal";
    double start = dt::now_seconds();
    process.start(depsync_args(peer, args));
    std::atomic<bool> done{false};
    ProcessResult result;
    std::thread waiter([&] {
        result = process.wait();
        done = true;
    });
    Timing t;
    while (!done.load()) {
        if (t.journal == 0 && stdfs::exists(journal)) t.journal = dt::now_seconds() - start;
        std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    waiter.join();
    t.end = dt::now_seconds() - start;
    INFO(describe(result));
    REQUIRE(result.exit_code == 0);
    if (t.journal == 0) t.journal = t.end / 2;  // too quick to see: treat the whole run as the apply
    return t;
}

// Whether the process has ended (a zombie not yet reaped counts as ended).
bool exited(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    const auto close = line.rfind(')');
    return close == std::string::npos || close + 2 >= line.size() || line[close + 2] == 'Z';
}

// Each field's median, on its own.
Timing median_timing(std::vector<Timing> runs) {
    auto median_of = [&runs](double Timing::*field) {
        std::vector<double> v;
        for (const Timing& t : runs) v.push_back(t.*field);
        std::sort(v.begin(), v.end());
        return v[v.size() / 2];
    };
    Timing t;
    t.journal = median_of(&Timing::journal);
    t.end = median_of(&Timing::end);
    return t;
}

enum class Landed { before_apply, mid_apply, recorded, after_apply };

struct KillCounts {
    std::size_t before = 0, mid = 0, recorded = 0, after = 0, exited_by_itself = 0;
};

struct ReleaseTree {
    std::uint64_t number;
    const dt::TreeListing* tree;
};

// Everything that must hold right after a kill, for a move from `from` to `to`.
Landed inspect_after_kill(const Cluster& cluster, const Node& peer, dt::TreeDescriber& trees,
                          const ReleaseTree& from, const ReleaseTree& to) {
    bool journal = stdfs::exists(peer.state / "journal");
    ProcessResult status = cluster.status_json(peer);
    INFO(describe(status));
    REQUIRE(status.exit_code == 0);
    auto json = parse_flat_json(status.out);
    const std::string release = json.at("release");

    dt::TreeListing now = trees.describe(peer.dir);
    auto violations = dt::old_or_new_violations(now, *from.tree, *to.tree);
    INFO("paths holding neither r" << from.number << " nor r" << to.number << ":"
                                   << dt::format_differences(violations));
    CHECK(violations.empty());
    auto invalid = dt::invalid_archives(peer.dir);
    INFO("invalid archives visible after the kill:" << dt::format_differences(invalid));
    CHECK(invalid.empty());

    if (release == std::to_string(to.number)) {
        // Status claims the new release: the directory must hold it exactly.
        auto diff = dt::diff_trees(now, *to.tree);
        INFO("status claims r" << to.number << " but the directory differs:" << dt::format_differences(diff));
        CHECK(diff.empty());
        return journal ? Landed::recorded : Landed::after_apply;
    }
    INFO("status after the kill: " << status.out);
    CHECK(release == std::to_string(from.number));
    CHECK(json.at("interrupted") == (journal ? "true" : "false"));
    return journal ? Landed::mid_apply : Landed::before_apply;
}

// The next run completes: exact tree, no temp files, status at `to`, not interrupted.
void require_converged(const Cluster& cluster, const Node& peer, dt::TreeDescriber& trees,
                       const ProcessResult& run, const ReleaseTree& to) {
    INFO(describe(run));
    REQUIRE(run.exit_code == 0);
    auto diff = dt::diff_trees(trees.describe(peer.dir), *to.tree);
    INFO("after the next pull the directory differs from r" << to.number << ":"
                                                            << dt::format_differences(diff));
    REQUIRE(diff.empty());
    CHECK(dt::temp_files_in(peer.dir).empty());
    CHECK_FALSE(stdfs::exists(peer.state / "journal"));
    auto json = parse_flat_json(cluster.status_json(peer).out);
    CHECK(json.at("release") == std::to_string(to.number));
    CHECK(json.at("interrupted") == "false");
}

void count(KillCounts& counts, Landed landed, int exit_code) {
    if (exit_code == 0) ++counts.exited_by_itself;
    switch (landed) {
        case Landed::before_apply:
            ++counts.before;
            break;
        case Landed::mid_apply:
            ++counts.mid;
            break;
        case Landed::recorded:
            ++counts.recorded;
            break;
        case Landed::after_apply:
            ++counts.after;
            break;
    }
}

}  // namespace

TEST_CASE("a pull killed at any point of its apply leaves old or new content and the next pull converges",
          "[e2e][fault]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);

    std::size_t files = dt::build_fault_tree(primary.dir, 101);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    dt::TreeDescriber trees;
    const dt::TreeListing r1 = trees.describe(primary.dir);
    std::string change = dt::mutate_fault_tree(primary.dir, 202);
    REQUIRE_SUCCESS(cluster.publish("r2: " + change));
    const dt::TreeListing r2 = trees.describe(primary.dir);
    std::uint64_t bytes = 0;
    for (const auto& [path, info] : r2) bytes += info.size;
    std::cout << "fault 1 (kill during pull): " << files << " files, " << (bytes >> 20)
              << " MiB; r1 -> r2: " << change << "\n";

    // The peer holds both releases' objects and r1; from here on every pull only applies.
    REQUIRE_SUCCESS(cluster.pull(0, {"--to", "r1"}));
    dt::ArchiveWatcher watcher(peer.dir);
    const ReleaseTree old_release{1, &r1}, new_release{2, &r2};
    const std::vector<std::string> up = {"pull"}, down = {"pull", "--to", "r1"};

    // The median of three uninterrupted runs each way: one run on a loaded machine can be far off, and kill
    // delays drawn from it would miss the apply.
    std::vector<Timing> ups, downs;
    for (int run = 0; run < 3; ++run) {
        ups.push_back(measure(peer, up));
        downs.push_back(measure(peer, down));
    }
    const Timing t_up = median_timing(ups);
    const Timing t_down = median_timing(downs);
    std::cout << "fault 1: uninterrupted apply r1 -> r2: journal at " << t_up.journal << " s, done at "
              << t_up.end << " s; r2 -> r1: journal at " << t_down.journal << " s, done at " << t_down.end
              << " s\n";

    // Kill points spread uniformly (stratified, jittered) over each direction's run. A few land before the
    // journal (timed from the start); the rest are timed from the moment the journal appears, spread over the
    // apply and a little past its end, so that a loaded machine, on which the start takes longer than it did
    // when measured, still puts them inside the apply.
    constexpr std::size_t pairs = 26;
    constexpr double before_share = 0.15;
    dt::Rng rng(4242);
    struct KillPoint {
        bool after_journal;
        double delay;  // seconds from the start, or from the journal's appearance
    };
    auto point_for = [&](const Timing& t, std::size_t i) {
        double u = (static_cast<double>(i) + dt::unit_interval(rng)) / static_cast<double>(pairs);
        if (u < before_share) return KillPoint{false, t.journal * (0.8 + 0.2 * u / before_share)};
        return KillPoint{true, (u - before_share) / (1 - before_share) * 1.1 * (t.end - t.journal)};
    };
    const stdfs::path journal = peer.state / "journal";
    auto kill_at = [&](const std::vector<std::string>& args, const KillPoint& point, const Timing& t) {
        dt::BackgroundProcess process;
        process.start(depsync_args(peer, args));
        if (point.after_journal) {
            // Wait for the journal, at most long enough for a much slower run than measured.
            const double give_up = dt::now_seconds() + 2 + 5 * t.end;
            while (!stdfs::exists(journal) && !exited(process.pid()) && dt::now_seconds() < give_up)
                std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        std::this_thread::sleep_for(std::chrono::duration<double>(point.delay));
        process.kill(SIGKILL);
        return process.wait();
    };

    KillCounts up_counts, down_counts, resumed_counts;
    double spent_kill = 0, spent_inspect = 0, spent_converge = 0, spent_reset = 0;
    auto timed = [](double& total, auto&& f) {
        double start = dt::now_seconds();
        f();
        total += dt::now_seconds() - start;
    };
    for (std::size_t i = 0; i < pairs; ++i) {
        INFO("kill pair " << i);
        // r1 -> r2 (ordinary pull), killed; the next ordinary pull completes it.
        {
            const KillPoint point = point_for(t_up, i);
            INFO("pull r1 -> r2 killed " << point.delay << " s after "
                                         << (point.after_journal ? "the journal appeared" : "its start"));
            ProcessResult killed;
            timed(spent_kill, [&] { killed = kill_at(up, point, t_up); });
            REQUIRE((killed.exit_code == 128 + SIGKILL || killed.exit_code == 0));
            timed(spent_inspect, [&] {
                count(up_counts, inspect_after_kill(cluster, peer, trees, old_release, new_release),
                      killed.exit_code);
            });
            // Every third time the pull that resumes the apply is killed too, half-way through its own run.
            if (i % 3 == 2) {
                ProcessResult again;
                timed(spent_kill, [&] {
                    again = kill_at(up, KillPoint{true, (t_up.end - t_up.journal) / 2}, t_up);
                });
                REQUIRE((again.exit_code == 128 + SIGKILL || again.exit_code == 0));
                timed(spent_inspect, [&] {
                    count(resumed_counts, inspect_after_kill(cluster, peer, trees, old_release, new_release),
                          again.exit_code);
                });
            }
            timed(spent_converge,
                  [&] { require_converged(cluster, peer, trees, cluster.pull(0), new_release); });
        }
        // r2 -> r1 (pull --to r1), killed. In even pairs the next ordinary pull goes to r2 from whatever is
        // on disk (a target other than the journal's); in odd pairs the same command is run again.
        const bool rerun = i % 2 == 1;
        {
            const KillPoint point = point_for(t_down, i);
            INFO("pull --to r1 killed " << point.delay << " s after "
                                        << (point.after_journal ? "the journal appeared" : "its start"));
            ProcessResult killed;
            timed(spent_kill, [&] { killed = kill_at(down, point, t_down); });
            REQUIRE((killed.exit_code == 128 + SIGKILL || killed.exit_code == 0));
            timed(spent_inspect, [&] {
                count(down_counts, inspect_after_kill(cluster, peer, trees, new_release, old_release),
                      killed.exit_code);
            });
            timed(spent_converge, [&] {
                if (rerun) {
                    require_converged(cluster, peer, trees, cluster.pull(0, {"--to", "r1"}), old_release);
                } else {
                    require_converged(cluster, peer, trees, cluster.pull(0), new_release);
                }
            });
        }
        if (!rerun) timed(spent_reset, [&] { REQUIRE_SUCCESS(cluster.pull(0, {"--to", "r1"})); });
    }
    watcher.stop();
    auto defects = watcher.defects();
    INFO("invalid archives seen by the concurrent reader:" << dt::format_differences(defects));
    CHECK(defects.empty());
    CHECK(watcher.archives_checked() > 0);

    auto line = [](const char* what, const KillCounts& c) {
        std::cout << "fault 1: " << what << ": " << (c.before + c.mid + c.recorded + c.after)
                  << " kills: " << c.before << " before the journal, " << c.mid
                  << " mid-apply (journal present), " << c.recorded
                  << " after the deployed record (journal not yet removed), " << c.after
                  << " after the apply (" << c.exited_by_itself << " had exited before the signal)\n";
    };
    line("pull r1 -> r2", up_counts);
    line("pull --to r1 (r2 -> r1)", down_counts);
    line("second kill, of the pull resuming an interrupted r1 -> r2", resumed_counts);
    std::cout << "fault 1: concurrent reader: " << watcher.archives_checked() << " archive opens in "
              << watcher.sweeps() << " sweeps, " << defects.size() << " invalid\n";
    std::cout << "fault 1: " << (trees.bytes_hashed() >> 20) << " MiB hashed for the checks\n";
    std::cout << "fault 1: time spent: killed runs " << spent_kill << " s, checks after kills "
              << spent_inspect << " s, converging pulls and checks " << spent_converge << " s, resets "
              << spent_reset << " s\n";
    // Most kills must land inside the apply, or the test would not test what it claims.
    CHECK(up_counts.mid + down_counts.mid >= pairs);
}
