// Nothing half-written is ever published: an archive whose zip structure is incomplete (a copy still in
// progress) makes publish wait briefly (--settle) and then fail, naming the file and publishing nothing.

#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

}  // namespace

TEST_CASE("publish of a half-written archive is refused and publishes nothing", "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    dt::generate_tree(primary, dt::Profile::small, 61);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));
    const std::size_t commits = cluster.release_commits();
    REQUIRE(commits == 1);

    dt::Rng rng(62);
    const stdfs::path partial = primary / "carbonapps/Refunds_1.0.0.car";
    dt::write_partial_zip(partial, rng);
    // Another change in the same publish must not slip through either.
    write_file(primary / "synapse-configs/default/api/RefundsAPI.xml", "<api name=\"RefundsAPI\"/>\n");

    ProcessResult refused = cluster.publish("with a partial archive");
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(refused.out.empty());
    CHECK(refused.err.find("carbonapps/Refunds_1.0.0.car") != std::string::npos);
    CHECK(cluster.release_commits() == commits);
    ProcessResult tags = git({"-C", cluster.repo().string(), "tag", "--list"});
    CHECK(tags.out == "r1\n");

    // The peer has nothing new to pull.
    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    CHECK(parse_up_to_date(pulled.out) == std::optional<std::uint64_t>(1));
    CHECK_FALSE(stdfs::exists(cluster.peer(0).dir / "carbonapps/Refunds_1.0.0.car"));

    // Once the copy has finished, the same publish goes through with both changes.
    dt::write_car(partial, "Refunds", "1.0.0", 40000, rng);
    ProcessResult published = cluster.publish("complete");
    REQUIRE_SUCCESS(published);
    auto line = parse_published(published.out);
    INFO(published.out);
    REQUIRE(line);
    CHECK(line->release == 2);
    CHECK(line->counts.added == 2);
    CHECK(cluster.release_commits() == commits + 1);
    REQUIRE_SUCCESS(cluster.pull(0));
    auto diff = differences(primary, cluster.peer(0).dir);
    INFO(dt::format_differences(diff));
    CHECK(diff.empty());
}

TEST_CASE("publish of a file still being written is refused and publishes nothing", "[e2e]") {
    Cluster cluster(0);
    const stdfs::path primary = cluster.primary().dir;
    dt::generate_tree(primary, dt::Profile::small, 63);
    REQUIRE_SUCCESS(cluster.publish("r1"));

    // An XML artifact copied in slowly, as over a slow link: a line every 20 ms for about 3 s.
    const stdfs::path slow = primary / "synapse-configs/default/api/SlowAPI.xml";
    dt::BackgroundProcess writer;
    writer.start({"sh", "-c",
                  "i=0; while [ $i -lt 150 ]; do echo \"<resource n=\\\"$i\\\"/>\" >> \"$0\"; i=$((i+1)); "
                  "sleep 0.02; done",
                  slow.string()});
    while (!stdfs::exists(slow) || stdfs::file_size(slow) < 100) {
        REQUIRE(writer.running());
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }

    ProcessResult r = cluster.publish("during the copy");
    writer.kill(SIGKILL);
    writer.wait();
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("synapse-configs/default/api/SlowAPI.xml") != std::string::npos);
    CHECK(cluster.release_commits() == 1);
}

TEST_CASE("publish refuses a symlink that points outside the tree, which no peer could apply", "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    dt::generate_tree(primary, dt::Profile::small, 64);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));

    stdfs::create_symlink("/etc/passwd", primary / "synapse-configs/default/api/Passwd.xml");
    ProcessResult r = cluster.publish("with an outside link");
    INFO(describe(r));
    // Published, this release would block every peer: each pull refuses it as unsafe, for good.
    ProcessResult pulled = cluster.pull(0);
    INFO("the peer's pull: " << describe(pulled));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("synapse-configs/default/api/Passwd.xml") != std::string::npos);
    CHECK(cluster.release_commits() == 1);
}
