// Several directories in one release: an MI server's deployment folder and its tenants' folder are published,
// pulled, verified and rolled back as one release, and a peer maps each root to a path of its own.

#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

struct RootedNode {
    stdfs::path config, state, server, tenants;
};

// A primary whose release holds the roots `server` and `tenants`, and one peer that keeps them elsewhere.
class TwoRootCluster {
  public:
    TwoRootCluster()
        : m_primary{m_temp / "primary.conf", m_temp / "primary/state",
                    m_temp / "primary/mi/repository/deployment/server",
                    m_temp / "primary/mi/repository/tenants"},
          m_peer{m_temp / "peer.conf", m_temp / "peer/state", m_temp / "peer/deployment",
                 m_temp / "peer/tenant-data"} {
        init(m_primary, {"primary", "--repo", repo().string(), "--node", "primary"});
        init(m_peer, {"peer", "--remote", repo().string(), "--node", "peer1"});
    }

    stdfs::path repo() const { return m_temp / "releases.git"; }
    const RootedNode& primary() const { return m_primary; }
    const RootedNode& peer() const { return m_peer; }

    ProcessResult depsync(const RootedNode& node, const std::vector<std::string>& args) const {
        std::vector<std::string> argv = {dt::depsync_bin(), "-c", node.config.string(), "--settle", "1"};
        argv.insert(argv.end(), args.begin(), args.end());
        return dt::run(argv);
    }

  private:
    dt::TempDir m_temp;
    RootedNode m_primary, m_peer;

    void init(const RootedNode& node, const std::vector<std::string>& role_args) {
        std::vector<std::string> argv = {dt::depsync_bin(), "-c", node.config.string(), "init"};
        argv.insert(argv.end(), role_args.begin(), role_args.end());
        for (const std::string& arg :
             {std::string("--state"), node.state.string(), std::string("--root"),
              "server=" + node.server.string(), std::string("--root"), "tenants=" + node.tenants.string()})
            argv.push_back(arg);
        REQUIRE_SUCCESS(dt::run(argv));
    }
};

const std::string tenant_api = "1/synapse-configs/default/api";

// Tenant artifacts: two tenants, one of them with an empty sequences folder.
void write_tenants(const stdfs::path& tenants, std::uint64_t seed) {
    dt::Rng rng(seed);
    write_file(tenants / tenant_api / "TenantOrders.xml", "<api name=\"TenantOrders\"/>\n");
    write_file(tenants / tenant_api / "TenantOld.xml", "<api name=\"TenantOld\"/>\n");
    stdfs::create_directories(tenants / "1/carbonapps");
    dt::write_car(tenants / "1/carbonapps/TenantApp_1.0.0.car", "TenantApp", "1.0.0", 64 * 1024, rng);
    stdfs::create_directories(tenants / "2/synapse-configs/default/sequences");
}

// Changes in both roots: an edited and a new CApp on the server, an edited, a deleted and a new tenant file.
void change_both_roots(const TwoRootCluster& cluster, std::uint64_t seed) {
    dt::Rng rng(seed);
    dt::bump_version(cluster.primary().server, rng);
    dt::write_car(cluster.primary().server / "carbonapps/Added_1.0.0.car", "Added", "1.0.0", 32 * 1024, rng);
    write_file(cluster.primary().tenants / tenant_api / "TenantOrders.xml",
               "<api name=\"TenantOrders\" context=\"/v2\"/>\n");
    stdfs::remove(cluster.primary().tenants / tenant_api / "TenantOld.xml");
    write_file(cluster.primary().tenants / "2/synapse-configs/default/sequences/TenantSeq.xml",
               "<sequence name=\"TenantSeq\"/>\n");
}

std::size_t commits(const TwoRootCluster& cluster) {
    ProcessResult r = git({"-C", cluster.repo().string(), "rev-list", "--count", "main"});
    return r.exit_code == 0 ? std::stoul(r.out) : 0;
}

// Requires that `a` and `b` hold the same tree, showing the differences when they do not.
void require_same(const dt::TreeListing& a, const dt::TreeListing& b) {
    auto diff = dt::diff_trees(a, b);
    INFO(dt::format_differences(diff));
    REQUIRE(diff.empty());
}

void require_peer_matches_primary(const TwoRootCluster& cluster) {
    require_same(dt::describe_tree(cluster.primary().server), dt::describe_tree(cluster.peer().server));
    require_same(dt::describe_tree(cluster.primary().tenants), dt::describe_tree(cluster.peer().tenants));
}

}  // namespace

TEST_CASE("two roots are published, pulled to the peer's own paths and rolled back together",
          "[e2e][roots]") {
    TwoRootCluster cluster;
    dt::generate_tree(cluster.primary().server, dt::Profile::small, 801);
    write_tenants(cluster.primary().tenants, 802);

    ProcessResult first = cluster.depsync(cluster.primary(), {"publish", "-m", "r1"});
    REQUIRE_SUCCESS(first);
    auto line = parse_published(first.out);
    REQUIRE(line);
    CHECK(line->release == 1);
    // One release whose top-level folders are the roots.
    ProcessResult top = git({"-C", cluster.repo().string(), "ls-tree", "--name-only", "main"});
    CHECK(top.out == "server\ntenants\n");
    const dt::TreeListing r1_server = dt::describe_tree(cluster.primary().server);
    const dt::TreeListing r1_tenants = dt::describe_tree(cluster.primary().tenants);

    ProcessResult pulled = cluster.depsync(cluster.peer(), {"pull"});
    REQUIRE_SUCCESS(pulled);
    REQUIRE(parse_pulled(pulled.out));
    CHECK(parse_pulled(pulled.out)->to == 1);
    require_peer_matches_primary(cluster);
    CHECK(stdfs::is_directory(cluster.peer().tenants / "2/synapse-configs/default/sequences"));

    // One publish takes the changes of both roots as one release.
    change_both_roots(cluster, 803);
    ProcessResult second = cluster.depsync(cluster.primary(), {"publish", "-m", "r2"});
    REQUIRE_SUCCESS(second);
    line = parse_published(second.out);
    REQUIRE(line);
    CHECK(line->release == 2);
    CHECK(commits(cluster) == 2);
    REQUIRE_SUCCESS(cluster.depsync(cluster.peer(), {"pull"}));
    require_peer_matches_primary(cluster);

    // A rollback on the primary restores both roots there, and the peer follows.
    ProcessResult rollback = cluster.depsync(cluster.primary(), {"rollback", "r1", "-m", "back to r1"});
    REQUIRE_SUCCESS(rollback);
    CHECK(rollback.out.rfind("rollback: r3 restores r1", 0) == 0);
    require_same(r1_server, dt::describe_tree(cluster.primary().server));
    require_same(r1_tenants, dt::describe_tree(cluster.primary().tenants));
    ProcessResult back = cluster.depsync(cluster.peer(), {"pull"});
    REQUIRE_SUCCESS(back);
    auto pulled_back = parse_pulled(back.out);
    REQUIRE(pulled_back);
    CHECK(pulled_back->from == std::optional<std::uint64_t>(2));
    CHECK(pulled_back->to == 3);
    require_same(r1_server, dt::describe_tree(cluster.peer().server));
    require_same(r1_tenants, dt::describe_tree(cluster.peer().tenants));

    ProcessResult verify = cluster.depsync(cluster.peer(), {"verify"});
    INFO(describe(verify));
    CHECK(verify.exit_code == 0);
    CHECK(verify.out == "clean: the directory matches r3\n");
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"verify"}));
}

TEST_CASE("on_change of a node with several roots is told every root and its path",
          "[e2e][roots][on_change]") {
    TwoRootCluster cluster;
    dt::generate_tree(cluster.primary().server, dt::Profile::small, 814);
    write_tenants(cluster.primary().tenants, 815);
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"publish", "-m", "r1"}));
    const stdfs::path seen = cluster.peer().state.parent_path() / "on_change-env";
    const stdfs::path script = cluster.peer().state.parent_path() / "on_change.sh";
    write_file(script, "#!/bin/sh\nprintf 'dir=[%s]\\n%s' \"$DEPSYNC_DIR\" \"$DEPSYNC_ROOTS\" > '" +
                           seen.string() + "'\n");
    stdfs::permissions(script, stdfs::perms::owner_all);
    {
        std::ofstream conf(cluster.peer().config, std::ios::app);
        conf << "on_change = \"" << script.string() << "\"\n";
    }
    REQUIRE_SUCCESS(cluster.depsync(cluster.peer(), {"pull"}));
    CHECK(read_file(seen) == "dir=[]\nserver=" + cluster.peer().server.string() +
                                 "\ntenants=" + cluster.peer().tenants.string() + "\n");
}

TEST_CASE("verify, diff and status on a peer cover every root", "[e2e][roots]") {
    TwoRootCluster cluster;
    dt::generate_tree(cluster.primary().server, dt::Profile::small, 811);
    write_tenants(cluster.primary().tenants, 812);
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"publish", "-m", "r1"}));
    REQUIRE_SUCCESS(cluster.depsync(cluster.peer(), {"pull"}));

    // Local edits in either root are drift.
    write_file(cluster.peer().tenants / tenant_api / "TenantOrders.xml",
               "<api name=\"edited on the peer\"/>\n");
    const stdfs::path userstore = stdfs::directory_iterator(cluster.peer().server / "userstores")->path();
    stdfs::remove(userstore);
    ProcessResult drift = cluster.depsync(cluster.peer(), {"verify"});
    INFO(describe(drift));
    CHECK(drift.exit_code == 4);
    CHECK(drift.out.find("M tenants/" + tenant_api + "/TenantOrders.xml") != std::string::npos);
    CHECK(drift.out.find("D server/userstores/" + userstore.filename().string()) != std::string::npos);

    // diff names paths of both roots by their release folder.
    change_both_roots(cluster, 813);
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"publish", "-m", "r2"}));
    REQUIRE_SUCCESS(cluster.depsync(cluster.peer(), {"pull"}));
    ProcessResult diff = cluster.depsync(cluster.peer(), {"diff", "r1", "r2"});
    REQUIRE_SUCCESS(diff);
    CHECK(diff.out.find("A server/carbonapps/Added_1.0.0.car") != std::string::npos);
    CHECK(diff.out.find("D tenants/" + tenant_api + "/TenantOld.xml") != std::string::npos);
    CHECK(diff.out.find("M tenants/" + tenant_api + "/TenantOrders.xml") != std::string::npos);
    for (const auto& l : lines_of(diff.out)) {
        INFO(l);
        CHECK((l.find(" server/") == 1 || l.find(" tenants/") == 1));
    }

    // The pull overwrote the local edits in both roots; status shows the release.
    require_peer_matches_primary(cluster);
    ProcessResult status = cluster.depsync(cluster.peer(), {"status", "--json"});
    REQUIRE_SUCCESS(status);
    auto fields = parse_flat_json(status.out);
    CHECK(fields["release"] == "2");
    CHECK(fields["upstream_release"] == "2");
    CHECK(fields["drift"] == "0");
    REQUIRE_SUCCESS(cluster.depsync(cluster.peer(), {"verify"}));
}

TEST_CASE("repair on a node with several roots takes paths by their release folder and restores every root",
          "[e2e][roots][repair]") {
    TwoRootCluster cluster;
    dt::generate_tree(cluster.primary().server, dt::Profile::small, 821);
    write_tenants(cluster.primary().tenants, 822);
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"publish", "-m", "r1"}));
    REQUIRE_SUCCESS(cluster.depsync(cluster.peer(), {"pull"}));
    const stdfs::path tenant_file = cluster.peer().tenants / tenant_api / "TenantOrders.xml";
    write_file(tenant_file, "<api name=\"edited on the peer\"/>\n");
    write_file(cluster.peer().server / "carbonapps/Stray_1.0.0.car", "not a release file");

    // A path names its root's release folder; a path in no root, or named as on disk, is refused.
    for (const std::string& bad : {std::string("tenant-data/1"), std::string("other/x.xml"),
                                   (cluster.peer().tenants / tenant_api / "TenantOrders.xml").string()}) {
        ProcessResult refused = cluster.depsync(cluster.peer(), {"repair", bad});
        INFO(describe(refused));
        CHECK(refused.exit_code == 2);
    }
    ProcessResult one =
        cluster.depsync(cluster.peer(), {"repair", "tenants/" + tenant_api + "/TenantOrders.xml"});
    REQUIRE_SUCCESS(one);
    INFO(one.out);
    CHECK(lines_of(one.out)[1] ==
          "  write  tenants/" + tenant_api + "/TenantOrders.xml  (local change saved to backup)");
    CHECK(read_file(tenant_file) == read_file(cluster.primary().tenants / tenant_api / "TenantOrders.xml"));
    CHECK(stdfs::exists(cluster.peer().server / "carbonapps/Stray_1.0.0.car"));

    ProcessResult all = cluster.depsync(cluster.peer(), {"repair", "server"});
    REQUIRE_SUCCESS(all);
    CHECK(all.out.find("  remove server/carbonapps/Stray_1.0.0.car") != std::string::npos);
    require_peer_matches_primary(cluster);
}

TEST_CASE("watch publishes a change in any of several roots", "[e2e][roots][watch]") {
    TwoRootCluster cluster;
    dt::generate_tree(cluster.primary().server, dt::Profile::small, 821);
    write_tenants(cluster.primary().tenants, 822);
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"publish", "-m", "r1"}));

    dt::BackgroundProcess watch;
    watch.start({dt::depsync_bin(), "-c", cluster.primary().config.string(), "-v", "watch", "--settle", "1"});
    // Both roots are being watched once their folders all have an inotify watch.
    std::size_t folders = 2;
    for (const auto& root : {cluster.primary().server, cluster.primary().tenants})
        for (const auto& e : stdfs::recursive_directory_iterator(root))
            if (e.is_directory()) ++folders;
    auto watches = [&] {
        std::size_t n = 0;
        std::error_code ec;
        for (const auto& e :
             stdfs::directory_iterator("/proc/" + std::to_string(watch.pid()) + "/fdinfo", ec)) {
            std::ifstream in(e.path());
            for (std::string l; std::getline(in, l);)
                if (l.rfind("inotify wd:", 0) == 0) ++n;
        }
        return n;
    };
    auto eventually = [](auto done) {
        for (int i = 0; i < 600 && !done(); ++i) std::this_thread::sleep_for(50ms);
        return done();
    };
    REQUIRE(eventually([&] { return watches() >= folders; }));
    std::this_thread::sleep_for(500ms);

    write_file(cluster.primary().tenants / "2/synapse-configs/default/sequences/Watched.xml",
               "<sequence name=\"Watched\"/>\n");
    REQUIRE(eventually([&] { return commits(cluster) == 2; }));
    write_file(cluster.primary().server / "synapse-configs/default/api/Watched.xml",
               "<api name=\"Watched\"/>\n");
    REQUIRE(eventually([&] { return commits(cluster) == 3; }));

    // The exit status after SIGTERM is checked in automation_test.cpp (a known bug).
    watch.kill(SIGTERM);
    auto ended = [&] {
        std::ifstream in("/proc/" + std::to_string(watch.pid()) + "/stat");
        std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        auto paren = stat.rfind(')');
        return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z';
    };
    CHECK(eventually(ended));
    if (!ended()) watch.kill(SIGKILL);
    ProcessResult stopped = watch.wait();
    INFO(describe(stopped));
    CHECK(stopped.err.find("stopping: signal received") != std::string::npos);
    ProcessResult files = git({"-C", cluster.repo().string(), "ls-tree", "-r", "--name-only", "main"});
    CHECK(files.out.find("tenants/2/synapse-configs/default/sequences/Watched.xml\n") != std::string::npos);
    CHECK(files.out.find("server/synapse-configs/default/api/Watched.xml\n") != std::string::npos);
}

TEST_CASE("a peer with several roots refuses a release that has a root it does not map, writing nothing",
          "[e2e][roots]") {
    TwoRootCluster cluster;
    dt::generate_tree(cluster.primary().server, dt::Profile::small, 831);
    write_tenants(cluster.primary().tenants, 832);
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"publish", "-m", "r1"}));

    dt::TempDir temp;
    const stdfs::path server = temp / "server";
    REQUIRE_SUCCESS(dt::run({dt::depsync_bin(), "-c", (temp / "peer.conf").string(), "init", "peer", "--root",
                             "server=" + server.string(), "--remote", cluster.repo().string(), "--state",
                             (temp / "state").string()}));
    ProcessResult refused = dt::run({dt::depsync_bin(), "-c", (temp / "peer.conf").string(), "pull"});
    INFO(describe(refused));
    CHECK(refused.exit_code == 2);
    CHECK(refused.err.find("'tenants'") != std::string::npos);
    CHECK(stdfs::is_empty(server));
}

// The release names its roots (Depsync-Roots), so a single-dir peer refuses it like the test above.
TEST_CASE("a peer configured with one dir refuses a release made of several roots, writing nothing",
          "[e2e][roots]") {
    TwoRootCluster cluster;
    dt::generate_tree(cluster.primary().server, dt::Profile::small, 841);
    write_tenants(cluster.primary().tenants, 842);
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"publish", "-m", "r1"}));

    dt::TempDir temp;
    const stdfs::path dir = temp / "server";
    REQUIRE_SUCCESS(
        dt::run({dt::depsync_bin(), "-c", (temp / "peer.conf").string(), "init", "peer", "--dir",
                 dir.string(), "--remote", cluster.repo().string(), "--state", (temp / "state").string()}));
    ProcessResult pulled = dt::run({dt::depsync_bin(), "-c", (temp / "peer.conf").string(), "pull"});
    INFO(describe(pulled));
    CHECK(pulled.exit_code != 0);
    CHECK_FALSE(stdfs::exists(dir / "server"));
    CHECK_FALSE(stdfs::exists(dir / "tenants"));
}
