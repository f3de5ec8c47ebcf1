// A peer is never perfectly clean. What pull does with what it finds there is a documented policy:
// excluded strays are never published nor touched; other local changes are overwritten after being saved to
// state/backup (default); a symlink planted in the tree is never followed while writing.

#include <sys/stat.h>
#include <utime.h>

#include <catch2/catch.hpp>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

bool is_stray(const std::string& path) {
    auto ends_with = [&](const std::string& suffix) {
        return path.size() >= suffix.size() &&
               path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    std::string name = path.substr(path.rfind('/') + 1);
    return ends_with("~") || ends_with(".bk") || ends_with(".swp") || (name[0] == '.' && ends_with(".tmp"));
}

}  // namespace

TEST_CASE("excluded strays are never published and never touched on a peer", "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    const stdfs::path peer = cluster.peer(0).dir;
    dt::generate_tree(primary, dt::Profile::small, 111);
    write_file(primary / "carbonapps/Orders_9.9.9.car~", "editor backup");
    write_file(primary / "synapse-configs/default/synapse.xml.bk", "old synapse");
    write_file(primary / "synapse-configs/default/api/.OrdersAPI.xml.tmp", "temp");
    ProcessResult published = cluster.publish("r1");
    REQUIRE_SUCCESS(published);
    ProcessResult listed = git({"-C", cluster.repo().string(), "ls-tree", "-r", "--name-only", "main"});
    CHECK(listed.out.find(".bk") == std::string::npos);
    CHECK(listed.out.find("~") == std::string::npos);
    CHECK(listed.out.find(".tmp") == std::string::npos);
    REQUIRE_SUCCESS(cluster.pull(0));
    CHECK_FALSE(stdfs::exists(peer / "carbonapps/Orders_9.9.9.car~"));

    // Strays on the peer, in a folder the next release empties and in one it removes.
    write_file(peer / "carbonapps/notes.bk", "peer notes");
    write_file(peer / "dataservices/OrdersDataService.dbs~", "peer editor backup");
    const auto stray_before = dt::describe_tree(peer).at("carbonapps/notes.bk");
    dt::empty_folder(primary, "carbonapps");
    stdfs::remove_all(primary / "dataservices");
    REQUIRE_SUCCESS(cluster.publish("r2"));
    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    INFO(describe(pulled));

    CHECK(read_file(peer / "carbonapps/notes.bk") == "peer notes");
    CHECK(dt::describe_tree(peer).at("carbonapps/notes.bk").mtime_ns == stray_before.mtime_ns);
    // A folder the release removes stays while it holds a stray; everything of the release is gone from it.
    CHECK(read_file(peer / "dataservices/OrdersDataService.dbs~") == "peer editor backup");
    CHECK_FALSE(stdfs::exists(peer / "dataservices/OrdersDataService.dbs"));
    auto diff = dt::diff_trees(dt::describe_tree(primary, is_stray), dt::describe_tree(peer, is_stray),
                               [](const std::string& path) { return path == "dataservices"; });
    INFO(dt::format_differences(diff));
    CHECK(diff.empty());
}

TEST_CASE("local edits and extra files are overwritten after being saved to the backup folder", "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    const stdfs::path peer = cluster.peer(0).dir;
    const stdfs::path state = cluster.peer(0).state;
    dt::generate_tree(primary, dt::Profile::small, 121);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));

    // The server rewrote main.xml, a connector generated an import, someone deleted a userstore.
    write_file(peer / "synapse-configs/default/sequences/main.xml",
               "<sequence name=\"main\">local</sequence>\n");
    write_file(peer / "synapse-configs/default/imports/generated.xml", "<import/>\n");
    stdfs::remove(peer / "userstores/orders_example_com.xml");
    write_file(primary / "synapse-configs/default/api/NewAPI.xml", "<api name=\"NewAPI\"/>\n");
    REQUIRE_SUCCESS(cluster.publish("r2"));

    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    INFO(pulled.out);
    CHECK(pulled.out.rfind("r1 -> r2 (+1 ~0 -0)\n", 0) == 0);
    CHECK(pulled.out.find("saved 2 local file(s) to ") != std::string::npos);
    auto diff = differences(primary, peer);
    INFO(dt::format_differences(diff));
    CHECK(diff.empty());

    // Both local files are in one backup folder, under their relative paths, with their local content.
    std::vector<stdfs::path> backups;
    for (const auto& e : stdfs::directory_iterator(state / "backup")) backups.push_back(e.path());
    REQUIRE(backups.size() == 1);
    CHECK(read_file(backups[0] / "synapse-configs/default/sequences/main.xml") ==
          "<sequence name=\"main\">local</sequence>\n");
    CHECK(read_file(backups[0] / "synapse-configs/default/imports/generated.xml") == "<import/>\n");
}

TEST_CASE("pull never writes through a symlink planted in the deployment directory", "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    const stdfs::path peer = cluster.peer(0).dir;
    dt::generate_tree(primary, dt::Profile::small, 131);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));

    // carbonapps/ on the peer is replaced by a link to a folder outside the tree, and a release file by a
    // link to a file outside it.
    const stdfs::path outside = cluster.root() / "outside";
    stdfs::create_directories(outside / "apps");
    write_file(outside / "victim.xml", "must stay\n");
    stdfs::remove_all(peer / "carbonapps");
    stdfs::create_directory_symlink(outside / "apps", peer / "carbonapps");
    stdfs::remove(peer / "synapse-configs/default/synapse.xml");
    stdfs::create_symlink(outside / "victim.xml", peer / "synapse-configs/default/synapse.xml");

    dt::Rng rng(132);
    dt::bump_version(primary, rng);
    write_file(primary / "synapse-configs/default/synapse.xml", "<definitions>r2</definitions>\n");
    REQUIRE_SUCCESS(cluster.publish("r2"));
    ProcessResult pulled = cluster.pull(0);
    INFO(describe(pulled));
    CHECK(pulled.exit_code == 0);

    CHECK(stdfs::is_empty(outside / "apps"));
    CHECK(read_file(outside / "victim.xml") == "must stay\n");
    auto diff = differences(primary, peer);
    INFO(dt::format_differences(diff));
    CHECK(diff.empty());
}

TEST_CASE("a same-size rewrite that keeps the old mtime is still published and pulled", "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    dt::generate_tree(primary, dt::Profile::small, 141);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));

    // Like `cp -p` of a same-sized file: new bytes, same size, the old mtime put back.
    const stdfs::path file = primary / "synapse-configs/default/registry.xml";
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    std::string content = read_file(file);
    REQUIRE_FALSE(content.empty());
    content[content.size() / 2] = content[content.size() / 2] == 'x' ? 'y' : 'x';
    write_file(file, content);
    struct utimbuf times {
        st.st_atime, st.st_mtime
    };
    REQUIRE(::utime(file.c_str(), &times) == 0);

    ProcessResult published = cluster.publish("r2");
    REQUIRE_SUCCESS(published);
    auto line = parse_published(published.out);
    INFO(published.out);
    REQUIRE(line);
    CHECK(line->counts.modified == 1);
    REQUIRE_SUCCESS(cluster.pull(0));
    CHECK(read_file(cluster.peer(0).dir / "synapse-configs/default/registry.xml") == content);
}

TEST_CASE("running init again on an existing node is safe and says what exists", "[e2e]") {
    Cluster cluster(1);
    write_file(cluster.primary().dir / "userstores/a.xml", "<a/>\n");
    REQUIRE_SUCCESS(cluster.publish("r1"));
    const std::string config_before = read_file(cluster.primary().config);

    ProcessResult again = dt::run({dt::depsync_bin(), "-c", cluster.primary().config.string(), "init",
                                   "primary", "--dir", cluster.primary().dir.string(), "--repo",
                                   cluster.repo().string(), "--state", cluster.primary().state.string()});
    REQUIRE_SUCCESS(again);
    INFO(again.out);
    CHECK(again.out.find("repository " + cluster.repo().string() + " exists") != std::string::npos);
    CHECK(again.out.find("exists (kept as it is)") != std::string::npos);
    CHECK(read_file(cluster.primary().config) == config_before);
    CHECK(cluster.release_commits() == 1);
    CHECK(read_file(cluster.primary().dir / "userstores/a.xml") == "<a/>\n");
}
