// pull --dry-run lists what a pull would change and touches nothing: not the tree, not the deployed release.

#include <catch2/catch.hpp>
#include <thread>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

bool mentions(const std::string& output, const std::string& path) {
    return output.find(path) != std::string::npos;
}

}  // namespace

TEST_CASE("pull --dry-run lists the planned changes and touches nothing", "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    const stdfs::path peer = cluster.peer(0).dir;
    dt::generate_tree(primary, dt::Profile::small, 101);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));

    dt::Rng rng(102);
    const std::string bumped = dt::bump_version(primary, rng);
    stdfs::remove(primary / "synapse-configs/default/endpoints/OrdersEP.xml");
    write_file(primary / "synapse-configs/default/api/InvoicesAPI.xml", "<api name=\"InvoicesAPI\"/>\n");
    stdfs::create_directories(primary / "synapse-configs/default/api/archive");
    REQUIRE_SUCCESS(cluster.publish("r2: " + bumped));

    const dt::TreeListing before = dt::describe_tree(peer);
    ProcessResult status_before = cluster.status_json(cluster.peer(0));
    REQUIRE_SUCCESS(status_before);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));

    ProcessResult dry = cluster.pull(0, {"--dry-run"});
    REQUIRE_SUCCESS(dry);
    INFO(dry.out);
    CHECK(dry.out.rfind("would apply r1 -> r2 (+2 ~0 -2)\n", 0) == 0);
    // Every path of the release's difference is listed.
    for (const auto& path :
         {"synapse-configs/default/endpoints/OrdersEP.xml", "synapse-configs/default/api/InvoicesAPI.xml",
          "synapse-configs/default/api/archive"})
        CHECK(mentions(dry.out, path));
    for (const auto& [path, info] : dt::describe_tree(primary))
        if (path.rfind("carbonapps/", 0) == 0 && !before.count(path)) CHECK(mentions(dry.out, path));
    for (const auto& [path, info] : before)
        if (path.rfind("carbonapps/", 0) == 0 && !stdfs::exists(primary / path))
            CHECK(mentions(dry.out, path));

    // Nothing moved: same entries, bytes, modes, inodes and mtimes; no temp files; the same release deployed.
    const dt::TreeListing after = dt::describe_tree(peer);
    auto diff = dt::diff_trees(before, after, {}, dt::ModeCheck::exact);
    INFO(dt::format_differences(diff));
    CHECK(diff.empty());
    for (const auto& [path, info] : before) {
        INFO(path);
        REQUIRE(after.count(path) == 1);
        CHECK(after.at(path).inode == info.inode);
        CHECK(after.at(path).mtime_ns == info.mtime_ns);
    }
    ProcessResult status_after = cluster.status_json(cluster.peer(0));
    REQUIRE_SUCCESS(status_after);
    CHECK(parse_flat_json(status_after.out).at("release") == "1");
    CHECK(parse_flat_json(status_after.out).at("commit") == parse_flat_json(status_before.out).at("commit"));

    // The real pull then applies exactly that, and a dry run afterwards has nothing to do.
    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    CHECK(pulled.out.rfind("r1 -> r2 (+2 ~0 -2)\n", 0) == 0);
    auto equal = differences(primary, peer);
    INFO(dt::format_differences(equal));
    CHECK(equal.empty());
    ProcessResult dry_again = cluster.pull(0, {"--dry-run"});
    REQUIRE_SUCCESS(dry_again);
    CHECK(parse_up_to_date(dry_again.out) == std::optional<std::uint64_t>(2));
}

TEST_CASE("pull --dry-run before the first pull lists the whole release and creates nothing", "[e2e]") {
    Cluster cluster(1);
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 103);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    ProcessResult dry = cluster.pull(0, {"--dry-run"});
    REQUIRE_SUCCESS(dry);
    INFO(dry.out);
    CHECK(dry.out.rfind("would apply none -> r1 (+", 0) == 0);
    CHECK(mentions(dry.out, "carbonapps/"));
    CHECK(stdfs::is_empty(cluster.peer(0).dir));
    CHECK(parse_flat_json(cluster.status_json(cluster.peer(0)).out).at("release") == "null");
}
