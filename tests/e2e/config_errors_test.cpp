// Configuration mistakes are reported, never ignored: exit 2 and one line on stderr naming what is wrong.

#include <catch2/catch.hpp>
#include <fstream>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

void append_line(const stdfs::path& file, const std::string& line) {
    std::ofstream out(file, std::ios::app);
    out << line << "\n";
}

std::size_t line_count(const std::string& text) {
    std::size_t n = 0;
    for (char c : text)
        if (c == '\n') ++n;
    return n;
}

}  // namespace

TEST_CASE("a config with an unknown key is refused with exit 2 naming the key", "[e2e]") {
    Cluster cluster(1);
    append_line(cluster.peer(0).config, "setle = 1");
    append_line(cluster.primary().config, "exclud = *.old");

    for (const auto& [node, command] : {std::pair<Node, std::string>{cluster.peer(0), "pull"},
                                        {cluster.peer(0), "status"},
                                        {cluster.primary(), "publish"}}) {
        ProcessResult r = cluster.depsync(node, {command});
        INFO(node.name << " " << command << ": " << describe(r));
        CHECK(r.exit_code == 2);
        CHECK(r.out.empty());
        CHECK(r.err.find(node.name == "primary" ? "exclud" : "setle") != std::string::npos);
        CHECK(line_count(r.err) == 1);
    }
    // Nothing was published or pulled.
    CHECK(cluster.release_commits() == 0);
}

TEST_CASE("a missing deployment directory is reported with exit 2 naming it", "[e2e]") {
    Cluster cluster(1);
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 91);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    stdfs::remove_all(cluster.peer(0).dir);

    ProcessResult pulled = cluster.pull(0);
    INFO(describe(pulled));
    CHECK(pulled.exit_code == 2);
    CHECK(pulled.err.find(cluster.peer(0).dir.string()) != std::string::npos);
    CHECK(line_count(pulled.err) == 1);
    CHECK_FALSE(stdfs::exists(cluster.peer(0).dir));

    stdfs::rename(cluster.primary().dir, cluster.root() / "moved-away");
    ProcessResult published = cluster.publish("r2");
    INFO(describe(published));
    CHECK(published.exit_code == 2);
    CHECK(published.err.find(cluster.primary().dir.string()) != std::string::npos);
    CHECK(line_count(published.err) == 1);
    CHECK(cluster.release_commits() == 1);
}

TEST_CASE("a remote that is not a depsync repository is reported with exit 2", "[e2e]") {
    Cluster cluster(0);
    // An ordinary repository: branch master, one commit, no release branch.
    const stdfs::path other = cluster.root() / "other";
    REQUIRE_SUCCESS(git({"init", "--quiet", "--initial-branch=master", other.string()}));
    write_file(other / "README", "not releases\n");
    REQUIRE_SUCCESS(git({"-C", other.string(), "add", "README"}));
    REQUIRE_SUCCESS(git({"-C", other.string(), "commit", "--quiet", "-m", "unrelated"}));
    const Node peer = cluster.add_peer("peer-wrong", other.string());

    ProcessResult pulled = cluster.pull(0);
    INFO(describe(pulled));
    CHECK(pulled.exit_code == 2);
    CHECK(pulled.err.find(other.string()) != std::string::npos);
    CHECK(pulled.err.find("not a depsync repository") != std::string::npos);
    CHECK(line_count(pulled.err) == 1);
    CHECK(stdfs::is_empty(peer.dir));
    CHECK(parse_flat_json(cluster.status_json(peer).out).at("release") == "null");
}

TEST_CASE("a config file that does not exist is reported with exit 2", "[e2e]") {
    dt::TempDir temp;
    ProcessResult r = dt::run({dt::depsync_bin(), "-c", (temp / "nope.conf").string(), "status"});
    INFO(describe(r));
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("nope.conf") != std::string::npos);
}
