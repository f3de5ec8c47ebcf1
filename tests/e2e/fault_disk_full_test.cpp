// Fault 3: a full disk. The peer's deployment directory is a small tmpfs mounted by the test.
//
// A release bigger than the free space is refused before anything is written, with a message naming the
// folder and the space needed; a release that passes the pre-check but fills the disk while it is staged
// (thousands of tiny files: the check counts bytes, tmpfs charges a 4 KiB page per file) fails with the old
// content intact. In both cases no temp file is left and, once the file system is enlarged, the next pull
// converges.

#include <catch2/catch.hpp>
#include <iostream>

#include "cluster.hpp"
#include "support/fault_util.hpp"
#include "support/random_util.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

constexpr std::uint64_t MiB = 1 << 20;

std::string status_release(const Cluster& cluster, const Node& node) {
    ProcessResult status = cluster.status_json(node);
    INFO(describe(status));
    REQUIRE(status.exit_code == 0);
    return parse_flat_json(status.out).at("release");
}

void require_exact(dt::TreeDescriber& trees, const Node& peer, const dt::TreeListing& release,
                   const char* what) {
    auto diff = dt::diff_trees(trees.describe(peer.dir), release);
    INFO(what << ":" << dt::format_differences(diff));
    REQUIRE(diff.empty());
}

}  // namespace

TEST_CASE("a full disk fails the pull cleanly and the pull after more space converges", "[e2e][fault]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    dt::TmpfsMount disk(peer.dir, 20);
    if (!disk.mounted()) {
        WARN("skipped: cannot mount tmpfs: " << disk.error());
        std::cout << "skipped: cannot mount tmpfs: " << disk.error() << "\n";
        return;
    }
    dt::TreeDescriber trees;

    dt::generate_tree(primary.dir, dt::Profile::small, 3);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    const dt::TreeListing r1 = trees.describe(primary.dir);
    REQUIRE_SUCCESS(cluster.pull(0));

    // r2 writes ~30 MiB into a 20 MiB file system.
    dt::Rng rng(9);
    for (int i = 0; i < 3; ++i) {
        std::string app = "Huge" + std::to_string(i);
        dt::write_car(primary.dir / "carbonapps" / (app + "_1.0.0.car"), app, "1.0.0", 10 * MiB, rng);
    }
    REQUIRE_SUCCESS(cluster.publish("r2"));
    const dt::TreeListing r2 = trees.describe(primary.dir);
    const std::uint64_t free_before = disk.free_bytes();

    ProcessResult refused = cluster.pull(0);
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(dt::contains(refused.err, peer.dir.string()));
    CHECK(dt::contains(refused.err, "space"));
    CHECK(dt::contains(refused.err, "MiB"));  // the amount needed, in a unit an operator reads
    require_exact(trees, peer, r1, "after the refused pull the directory differs from r1");
    CHECK(dt::temp_files_in(peer.dir).empty());
    CHECK(status_release(cluster, peer) == "1");
    CHECK(disk.free_bytes() == free_before);
    std::cout << "fault 3 (disk full): pre-check refusal: " << refused.err
              << "fault 3: status after the refusal: " << cluster.status_json(peer).out;

    disk.resize(200);
    REQUIRE_SUCCESS(cluster.pull(0));
    require_exact(trees, peer, r2, "after enlarging, the pull did not converge to r2");
    CHECK(dt::temp_files_in(peer.dir).empty());
    CHECK(status_release(cluster, peer) == "2");

    SECTION("the pre-check passes but the disk fills while the release is staged") {
        // 3,000 files of 200 bytes: ~0.6 MiB by the byte count, ~12 MiB of tmpfs pages.
        dt::write_small_files(primary.dir / "synapse-configs/default/inbound-endpoints/bulk", "Tiny", 3000,
                              200, 17);
        REQUIRE_SUCCESS(cluster.publish("r3: 3,000 tiny files"));
        const dt::TreeListing r3 = trees.describe(primary.dir);
        // Leave 6 MiB free: more than the byte count plus its 1 MiB margin, less than the pages needed.
        std::uint64_t used = 200 * MiB - disk.free_bytes();
        disk.resize(static_cast<unsigned>((used + MiB - 1) / MiB + 6));
        INFO("free before the pull: " << disk.free_bytes() << " bytes");

        ProcessResult full = cluster.pull(0);
        INFO(describe(full));
        if (full.exit_code == 0) {
            WARN("could not provoke ENOSPC during staging: the pull fit into " << disk.free_bytes()
                                                                               << " bytes");
        } else {
            CHECK(full.exit_code == 1);
            CHECK(dt::contains(full.err, peer.dir.string()));
            CHECK(dt::contains(full.err, "space"));
            CHECK_FALSE(dt::contains(full.err, "this release writes"));  // not the pre-check's refusal
            require_exact(trees, peer, r2, "after ENOSPC while staging, the directory differs from r2");
            CHECK(dt::temp_files_in(peer.dir).empty());
            CHECK(status_release(cluster, peer) == "2");
            std::cout << "fault 3 (disk full): ENOSPC while staging: " << full.err;
        }

        disk.resize(200);
        REQUIRE_SUCCESS(cluster.pull(0));
        require_exact(trees, peer, r3, "after enlarging, the pull did not converge to r3");
        CHECK(dt::temp_files_in(peer.dir).empty());
        CHECK(status_release(cluster, peer) == "3");
    }
}

// A refusal that changed nothing leaves no journal, so status does not report an interrupted apply.
TEST_CASE("a pull refused for lack of space does not report an interrupted apply", "[e2e][fault]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    dt::TmpfsMount disk(peer.dir, 8);
    if (!disk.mounted()) {
        WARN("skipped: cannot mount tmpfs: " << disk.error());
        std::cout << "skipped: cannot mount tmpfs: " << disk.error() << "\n";
        return;
    }
    dt::generate_tree(primary.dir, dt::Profile::small, 4);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));
    dt::Rng rng(10);
    dt::write_car(primary.dir / "carbonapps/Huge_1.0.0.car", "Huge", "1.0.0", 12 * MiB, rng);
    REQUIRE_SUCCESS(cluster.publish("r2"));
    ProcessResult refused = cluster.pull(0);
    INFO(describe(refused));
    REQUIRE(refused.exit_code == 1);
    auto json = parse_flat_json(cluster.status_json(peer).out);
    CHECK(json.at("release") == "1");
    CHECK(json.at("interrupted") == "false");
    CHECK_FALSE(stdfs::exists(peer.state / "journal"));
}
