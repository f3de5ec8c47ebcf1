// Folders are part of a release: empty ones exist on every peer exactly as on the primary, a release that
// empties a folder leaves it in place (so the hot-deployer undeploys what was in it), and a folder the
// release removes goes away.

#include <catch2/catch.hpp>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

bool is_empty_folder(const stdfs::path& p) {
    return stdfs::is_directory(stdfs::symlink_status(p)) && stdfs::is_empty(p);
}

// Publishes, pulls on every peer and requires each peer to equal the primary.
void publish_and_pull(const Cluster& cluster, const std::string& message) {
    ProcessResult published = cluster.publish(message);
    REQUIRE_SUCCESS(published);
    INFO(published.out);
    REQUIRE(parse_published(published.out));
    for (std::size_t i = 0; i < cluster.peer_count(); ++i) {
        ProcessResult pulled = cluster.pull(i);
        REQUIRE_SUCCESS(pulled);
        INFO(pulled.out);
        REQUIRE(parse_pulled(pulled.out));
        auto diff = differences(cluster.primary().dir, cluster.peer(i).dir);
        INFO(cluster.peer(i).name << " after '" << message << "':" << dt::format_differences(diff));
        REQUIRE(diff.empty());
    }
}

}  // namespace

TEST_CASE(
    "empty folders round-trip, including a release that empties carbonapps and one that removes folders",
    "[e2e]") {
    Cluster cluster(2);
    const stdfs::path primary = cluster.primary().dir;
    dt::generate_tree(primary, dt::Profile::small, 21);
    stdfs::create_directories(primary / "repository/tenants/1/empty/nested");

    publish_and_pull(cluster, "first");
    for (std::size_t i = 0; i < cluster.peer_count(); ++i) {
        const stdfs::path peer = cluster.peer(i).dir;
        CHECK(is_empty_folder(peer / "synapse-configs/default/tasks"));
        CHECK(is_empty_folder(peer / "synapse-configs/default/templates"));
        CHECK(is_empty_folder(peer / "repository/tenants/1/empty/nested"));
    }

    // One cluster goes through every step in turn; each step is a release that must arrive exactly.
    {
        INFO("a release that empties carbonapps keeps the folder, empty");
        dt::empty_folder(primary, "carbonapps");
        REQUIRE(is_empty_folder(primary / "carbonapps"));
        ProcessResult published = cluster.publish("no apps");
        REQUIRE_SUCCESS(published);
        auto line = parse_published(published.out);
        INFO(published.out);
        REQUIRE(line);
        CHECK(line->counts.added == 0);
        CHECK(line->counts.deleted == 5);
        for (std::size_t i = 0; i < cluster.peer_count(); ++i) {
            REQUIRE_SUCCESS(cluster.pull(i));
            const stdfs::path peer = cluster.peer(i).dir;
            CHECK(is_empty_folder(peer / "carbonapps"));
            auto diff = differences(primary, peer);
            INFO(dt::format_differences(diff));
            CHECK(diff.empty());
        }

        // And apps can come back into the kept folder.
        dt::Rng rng(5);
        dt::write_car(primary / "carbonapps/Orders_2.0.0.car", "Orders", "2.0.0", 4096, rng);
        publish_and_pull(cluster, "apps are back");
        CHECK(stdfs::is_regular_file(cluster.peer(0).dir / "carbonapps/Orders_2.0.0.car"));
    }

    {
        INFO("a release that removes folders, empty and full, removes them on the peers");
        stdfs::remove_all(primary / "synapse-configs/default/templates");  // empty
        stdfs::remove_all(primary / "repository");                         // a chain of empty folders
        stdfs::remove_all(primary / "dataservices");                       // holds a file
        publish_and_pull(cluster, "fewer folders");
        for (std::size_t i = 0; i < cluster.peer_count(); ++i) {
            const stdfs::path peer = cluster.peer(i).dir;
            CHECK_FALSE(stdfs::exists(stdfs::symlink_status(peer / "synapse-configs/default/templates")));
            CHECK_FALSE(stdfs::exists(stdfs::symlink_status(peer / "repository")));
            CHECK_FALSE(stdfs::exists(stdfs::symlink_status(peer / "dataservices")));
            CHECK(is_empty_folder(peer / "synapse-configs/default/tasks"));
        }
    }

    {
        INFO("a folder added empty and then filled arrives both times");
        stdfs::create_directories(primary / "synapse-configs/default/api/v2");
        publish_and_pull(cluster, "empty v2");
        CHECK(is_empty_folder(cluster.peer(1).dir / "synapse-configs/default/api/v2"));
        write_file(primary / "synapse-configs/default/api/v2/OrdersAPI.xml", "<api name=\"OrdersV2\"/>\n");
        publish_and_pull(cluster, "filled v2");
        CHECK(read_file(cluster.peer(1).dir / "synapse-configs/default/api/v2/OrdersAPI.xml") ==
              "<api name=\"OrdersV2\"/>\n");
    }
}

TEST_CASE("a folder replaced by a file of the same name, and back, is applied on the peer", "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    dt::generate_tree(primary, dt::Profile::small, 4);
    publish_and_pull(cluster, "first");

    stdfs::remove_all(primary / "synapse-configs/default/local-entries");
    write_file(primary / "synapse-configs/default/local-entries", "now a file\n");
    publish_and_pull(cluster, "folder becomes a file");
    CHECK(stdfs::is_regular_file(
        stdfs::symlink_status(cluster.peer(0).dir / "synapse-configs/default/local-entries")));

    stdfs::remove(primary / "synapse-configs/default/local-entries");
    stdfs::create_directories(primary / "synapse-configs/default/local-entries");
    write_file(primary / "synapse-configs/default/local-entries/Config.xml", "<localEntry/>\n");
    publish_and_pull(cluster, "file becomes a folder");
    CHECK(stdfs::is_directory(
        stdfs::symlink_status(cluster.peer(0).dir / "synapse-configs/default/local-entries")));
}
