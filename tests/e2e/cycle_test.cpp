// Three nodes through the whole cycle: publish, pull on both peers, change, publish, pull again.

#include <catch2/catch.hpp>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

std::size_t count_files(const dt::TreeListing& listing) {
    std::size_t n = 0;
    for (const auto& [path, info] : listing)
        if (info.type != dt::NodeType::directory) ++n;
    return n;
}

std::string rev_parse(const Cluster& cluster, const std::string& rev) {
    ProcessResult r = git({"-C", cluster.repo().string(), "rev-parse", rev});
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    return r.out.substr(0, r.out.find('\n'));
}

}  // namespace

TEST_CASE("three nodes stay identical through publish, pull, change, publish, pull", "[e2e]") {
    Cluster cluster(2);
    const Node& primary = cluster.primary();

    SECTION("before the first publish, status reports no release") {
        ProcessResult r = cluster.status_json(primary);
        REQUIRE_SUCCESS(r);
        auto json = parse_flat_json(r.out);
        CHECK(json.at("role") == "primary");
        CHECK(json.at("release") == "null");
        CHECK(json.at("commit") == "null");
    }

    dt::generate_tree(primary.dir, dt::Profile::small, 7);
    // A symlink pointing inside the tree travels like any other entry.
    stdfs::create_symlink("OrdersAPI.xml", primary.dir / "synapse-configs/default/api/Current.xml");
    const std::size_t first_files = count_files(dt::describe_tree(primary.dir));

    ProcessResult first = cluster.publish("first release");
    REQUIRE_SUCCESS(first);
    auto published = parse_published(first.out);
    INFO(first.out);
    REQUIRE(published);
    CHECK(published->release == 1);
    CHECK(published->counts.added == first_files);
    CHECK(published->counts.modified == 0);
    CHECK(published->counts.deleted == 0);
    CHECK(rev_parse(cluster, "main").rfind(published->id, 0) == 0);

    for (std::size_t i = 0; i < cluster.peer_count(); ++i) {
        ProcessResult pulled = cluster.pull(i);
        REQUIRE_SUCCESS(pulled);
        auto line = parse_pulled(pulled.out);
        INFO(pulled.out);
        REQUIRE(line);
        CHECK_FALSE(line->from);
        CHECK(line->to == 1);
        CHECK(line->counts.added == first_files);
        auto diff = differences(primary.dir, cluster.peer(i).dir);
        INFO(cluster.peer(i).name << " differs from the primary:" << dt::format_differences(diff));
        CHECK(diff.empty());
    }

    // Release 2: a new version of one CApp (the old file goes) and one XML artifact deleted.
    dt::Rng rng(11);
    std::string bumped = dt::bump_version(primary.dir, rng);
    stdfs::remove(primary.dir / "synapse-configs/default/endpoints/PaymentsEP.xml");
    INFO("release 2: " << bumped << ", deleted PaymentsEP.xml");

    ProcessResult second = cluster.publish("bump and delete");
    REQUIRE_SUCCESS(second);
    auto published2 = parse_published(second.out);
    INFO(second.out);
    REQUIRE(published2);
    CHECK(published2->release == 2);
    CHECK(published2->counts.added == 1);
    CHECK(published2->counts.modified == 0);
    CHECK(published2->counts.deleted == 2);

    ProcessResult again = cluster.publish("nothing changed");
    REQUIRE_SUCCESS(again);
    CHECK(parse_nothing_to_publish(again.out) == std::optional<std::uint64_t>(2));
    CHECK(cluster.release_commits() == 2);

    for (std::size_t i = 0; i < cluster.peer_count(); ++i) {
        ProcessResult pulled = cluster.pull(i);
        REQUIRE_SUCCESS(pulled);
        auto line = parse_pulled(pulled.out);
        INFO(pulled.out);
        REQUIRE(line);
        CHECK(line->from == std::optional<std::uint64_t>(1));
        CHECK(line->to == 2);
        CHECK(line->counts.added == 1);
        CHECK(line->counts.modified == 0);
        CHECK(line->counts.deleted == 2);
        auto diff = differences(primary.dir, cluster.peer(i).dir);
        INFO(cluster.peer(i).name << " differs from the primary:" << dt::format_differences(diff));
        CHECK(diff.empty());

        ProcessResult noop = cluster.pull(i);
        REQUIRE_SUCCESS(noop);
        CHECK(parse_up_to_date(noop.out) == std::optional<std::uint64_t>(2));
    }

    const std::string head = rev_parse(cluster, "main");
    ProcessResult primary_status = cluster.status_json(primary);
    REQUIRE_SUCCESS(primary_status);
    auto pj = parse_flat_json(primary_status.out);
    CHECK(pj.at("role") == "primary");
    CHECK(pj.at("node") == "primary");
    CHECK(pj.at("dir") == primary.dir.string());
    CHECK(pj.at("release") == "2");
    CHECK(pj.at("commit") == head);
    CHECK(pj.count("upstream_release") == 0);

    for (std::size_t i = 0; i < cluster.peer_count(); ++i) {
        const Node& peer = cluster.peer(i);
        ProcessResult status = cluster.status_json(peer);
        REQUIRE_SUCCESS(status);
        auto j = parse_flat_json(status.out);
        CHECK(j.at("role") == "peer");
        CHECK(j.at("node") == peer.name);
        CHECK(j.at("dir") == peer.dir.string());
        CHECK(j.at("release") == "2");
        CHECK(j.at("commit") == head);
        CHECK(j.at("upstream_release") == "2");
    }
}

TEST_CASE("a peer that has not pulled yet reports the release it runs and the one it saw upstream", "[e2e]") {
    Cluster cluster(1);
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 3);
    REQUIRE_SUCCESS(cluster.publish("r1"));

    ProcessResult before = cluster.status_json(cluster.peer(0));
    REQUIRE_SUCCESS(before);
    CHECK(parse_flat_json(before.out).at("release") == "null");

    REQUIRE_SUCCESS(cluster.pull(0));
    write_file(cluster.primary().dir / "userstores/extra.xml", "<userstore/>\n");
    REQUIRE_SUCCESS(cluster.publish("r2"));
    // A dry run fetches: the peer now knows r2 exists upstream while still running r1.
    REQUIRE_SUCCESS(cluster.pull(0, {"--dry-run"}));
    ProcessResult after = cluster.status_json(cluster.peer(0));
    REQUIRE_SUCCESS(after);
    auto j = parse_flat_json(after.out);
    CHECK(j.at("release") == "1");
    CHECK(j.at("upstream_release") == "2");
}
