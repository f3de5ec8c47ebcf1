// repair: the content of the release a node runs put back where the directory drifted, and the paths a pull
// under local_changes = keep held back over a release's change, reported by pull and status and cleared by
// repair. Real bare repositories and the built binary, as every e2e test.

#include <catch2/catch.hpp>

#include "cluster.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

void publish_ok(const Cluster& cluster, const std::string& message) {
    ProcessResult r = cluster.publish(message);
    REQUIRE_SUCCESS(r);
    INFO(r.out);
    REQUIRE(parse_published(r.out));
}

std::map<std::string, std::string> status_of(const Cluster& cluster, const Node& node) {
    ProcessResult status = cluster.status_json(node);
    REQUIRE_SUCCESS(status);
    return parse_flat_json(status.out);
}

std::vector<stdfs::path> backup_folders(const Node& node) {
    std::vector<stdfs::path> out;
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(node.state / "backup", ec)) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

// r1 pulled by the peer; there api/orders.xml and api/stock.xml are edited and api/extra.xml added; r2
// changes orders and stock on the primary and is pulled with local_changes = keep, so both edits are held
// back over r2's change and extra.xml is a harmless leftover.
void held_back_over_r2(const Cluster& cluster) {
    const stdfs::path dir = cluster.primary().dir;
    write_file(dir / "api/orders.xml", "<orders v='1'/>\n");
    write_file(dir / "api/stock.xml", "<stock v='1'/>\n");
    write_file(dir / "api/same.xml", "<same/>\n");
    publish_ok(cluster, "r1");
    REQUIRE_SUCCESS(cluster.pull(0));
    const stdfs::path peer = cluster.peer(0).dir;
    write_file(peer / "api/orders.xml", "<orders hand-edited='yes'/>\n");
    write_file(peer / "api/stock.xml", "<stock hand-edited='yes'/>\n");
    write_file(peer / "api/extra.xml", "<extra/>\n");
    write_file(dir / "api/orders.xml", "<orders v='2'/>\n");
    write_file(dir / "api/stock.xml", "<stock v='2'/>\n");
    publish_ok(cluster, "r2");
    ProcessResult pulled = cluster.pull(0, {"--local-changes", "keep"});
    REQUIRE_SUCCESS(pulled);
    CHECK(lines_of(pulled.out) ==
          std::vector<std::string>{"r1 -> r2 (+0 ~2 -0)",
                                   "kept over release change: 2 paths held back ('depsync repair' restores "
                                   "the release):",
                                   "  api/orders.xml", "  api/stock.xml",
                                   "left 1 local change(s) alone:", "  api/extra.xml"});
}

}  // namespace

TEST_CASE("a local edit kept over a release change is held back in pull and status until repair restores it",
          "[e2e][repair]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    const stdfs::path primary = cluster.primary().dir;
    const stdfs::path dir = cluster.primary().dir;
    write_file(dir / "api/orders.xml", "<orders v='1'/>\n");
    write_file(dir / "api/same.xml", "<same/>\n");
    publish_ok(cluster, "r1");
    REQUIRE_SUCCESS(cluster.pull(0));
    write_file(peer.dir / "api/orders.xml", "<orders hand-edited='yes'/>\n");
    write_file(peer.dir / "api/extra.xml", "<extra/>\n");
    write_file(dir / "api/orders.xml", "<orders v='2'/>\n");
    publish_ok(cluster, "r2");

    ProcessResult pulled = cluster.pull(0, {"--local-changes", "keep"});
    REQUIRE_SUCCESS(pulled);
    CHECK(lines_of(pulled.out) ==
          std::vector<std::string>{"r1 -> r2 (+0 ~1 -0)",
                                   "kept over release change: 1 path held back ('depsync repair' restores "
                                   "the release):",
                                   "  api/orders.xml", "left 1 local change(s) alone:", "  api/extra.xml"});
    ProcessResult status = cluster.depsync(peer, {"status"});
    REQUIRE_SUCCESS(status);
    CHECK(contains(status.out, "\nrelease:  r2 "));
    CHECK(contains(status.out, ", 1 path held back ("));
    CHECK(status_of(cluster, peer).at("held_back") == "1");
    // Recorded when the release was applied, in the deployed record.
    CHECK(contains(read_file(peer.state / "deployed"), "\nheld_back=api/orders.xml\n"));

    // A later release that does not touch the path leaves it held back.
    write_file(dir / "api/billing.xml", "<billing/>\n");
    publish_ok(cluster, "r3");
    ProcessResult r3 = cluster.pull(0, {"--local-changes", "keep"});
    REQUIRE_SUCCESS(r3);
    CHECK(contains(r3.out, "kept over release change: 1 path held back"));
    CHECK(status_of(cluster, peer).at("held_back") == "1");
    CHECK(status_of(cluster, peer).at("release") == "3");

    ProcessResult repaired = cluster.depsync(peer, {"-v", "repair"});
    REQUIRE_SUCCESS(repaired);
    INFO(repaired.out);
    CHECK(lines_of(repaired.out)[0] == "repaired r3:");
    // The audit trail names the repair (a repair that changes nothing logs nothing at info).
    CHECK(contains(repaired.err, "repair: r3, 2 step(s) to put its content back, commit "));
    CHECK(contains(repaired.out, "  write  api/orders.xml  (local change saved to backup)\n"));
    CHECK(contains(repaired.out, "  remove api/extra.xml  (local change saved to backup)\n"));
    // The release's bytes, and nothing else: the peer is the primary's tree again.
    CHECK(read_file(peer.dir / "api/orders.xml") == read_file(primary / "api/orders.xml"));
    CHECK_FALSE(stdfs::exists(peer.dir / "api/extra.xml"));
    auto diff = differences(primary, peer.dir);
    INFO(dt::format_differences(diff));
    CHECK(diff.empty());
    // The local versions are in the backup, under the backup policy's folder naming.
    std::vector<stdfs::path> backups = backup_folders(peer);
    REQUIRE(backups.size() == 1);
    CHECK(backups[0].filename().string().find("-r3-repair") != std::string::npos);
    CHECK(read_file(backups[0] / "api/orders.xml") == "<orders hand-edited='yes'/>\n");
    CHECK(read_file(backups[0] / "api/extra.xml") == "<extra/>\n");
    CHECK(contains(repaired.out, "saved 2 local file(s) to " + backups[0].string() + "\n"));

    ProcessResult after = cluster.depsync(peer, {"status"});
    REQUIRE_SUCCESS(after);
    CHECK_FALSE(contains(after.out, "held back"));
    CHECK(status_of(cluster, peer).at("held_back") == "0");
    CHECK(status_of(cluster, peer).at("release") == "3");
    CHECK_FALSE(contains(read_file(peer.state / "deployed"), "held_back"));
    CHECK_FALSE(stdfs::exists(peer.state / "journal"));
    ProcessResult verify = cluster.depsync(peer, {"verify", "--full"});
    CHECK(verify.exit_code == 0);
    ProcessResult again = cluster.depsync(peer, {"-v", "repair"});
    REQUIRE_SUCCESS(again);
    CHECK(again.out == "nothing to repair: the directory matches r3\n");
    CHECK_FALSE(contains(again.err, "repair: r3"));
    CHECK(backup_folders(peer).size() == 1);
}

TEST_CASE("repair PATH puts back only that path; the others stay drifted and held back", "[e2e][repair]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    held_back_over_r2(cluster);
    const dt::TreeListing before = dt::describe_tree(peer.dir);

    ProcessResult repaired = cluster.depsync(peer, {"repair", "api/orders.xml", "api/same.xml"});
    REQUIRE_SUCCESS(repaired);
    INFO(repaired.out);
    CHECK(lines_of(repaired.out)[0] == "repaired r2:");
    CHECK(contains(repaired.out, "  write  api/orders.xml  (local change saved to backup)\n"));
    CHECK(contains(repaired.out, "  api/same.xml already matches r2\n"));
    CHECK(contains(repaired.out, "still held back: 1 path (see 'depsync status')\n"));
    CHECK(read_file(peer.dir / "api/orders.xml") == "<orders v='2'/>\n");

    // Nothing else was rewritten, created or removed (a folder's mtime moves with the rename into it).
    const dt::TreeListing after = dt::describe_tree(peer.dir);
    for (const auto& [path, info] : before) {
        if (path == "api/orders.xml" || info.type == dt::NodeType::directory) continue;
        INFO(path);
        REQUIRE(after.count(path) == 1);
        CHECK(after.at(path).inode == info.inode);
        CHECK(after.at(path).mtime_ns == info.mtime_ns);
        CHECK(after.at(path).content == info.content);
    }
    CHECK(after.size() == before.size());
    CHECK(read_file(peer.dir / "api/stock.xml") == "<stock hand-edited='yes'/>\n");
    CHECK(read_file(peer.dir / "api/extra.xml") == "<extra/>\n");
    CHECK(status_of(cluster, peer).at("held_back") == "1");
    CHECK(contains(read_file(peer.state / "deployed"), "\nheld_back=api/stock.xml\n"));

    // A folder names everything below it.
    ProcessResult folder = cluster.depsync(peer, {"repair", "api/"});
    REQUIRE_SUCCESS(folder);
    CHECK(read_file(peer.dir / "api/stock.xml") == "<stock v='2'/>\n");
    CHECK_FALSE(stdfs::exists(peer.dir / "api/extra.xml"));
    CHECK(status_of(cluster, peer).at("held_back") == "0");
    CHECK(differences(cluster.primary().dir, peer.dir).empty());
}

TEST_CASE("repair --dry-run lists what it would do and changes neither the directory nor the state",
          "[e2e][repair]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    held_back_over_r2(cluster);
    stdfs::remove(peer.dir / "api/same.xml");
    const dt::TreeListing dir_before = dt::describe_tree(peer.dir);
    // Every state file but the lock, which names the pid of the last run that held it.
    auto not_lock = [](const std::string& path) { return path == "lock"; };
    const dt::TreeListing state_before = dt::describe_tree(peer.state, not_lock);

    for (const std::vector<std::string>& args : {std::vector<std::string>{"repair", "--dry-run"},
                                                 {"repair", "--dry-run", "api/stock.xml"},
                                                 {"repair", "--dry-run", "--json"}}) {
        ProcessResult dry = cluster.depsync(peer, args);
        REQUIRE_SUCCESS(dry);
        INFO(dry.out);
        if (args.size() == 2) {
            CHECK(lines_of(dry.out) ==
                  std::vector<std::string>{"would repair r2:",
                                           "  remove api/extra.xml  (local change saved "
                                           "to backup)",
                                           "  write  api/orders.xml  (local change saved "
                                           "to backup)",
                                           "  write  api/same.xml",
                                           "  write  api/stock.xml  (local change saved "
                                           "to backup)"});
        } else if (args.back() == "api/stock.xml") {
            CHECK(lines_of(dry.out) ==
                  std::vector<std::string>{
                      "would repair r2:", "  write  api/stock.xml  (local change saved to backup)",
                      "still held back: 1 path (see 'depsync status')"});
        } else {
            CHECK(dry.out.rfind("{\"release\":2,\"dry_run\":true,\"outcome\":\"planned\",\"steps\":[", 0) ==
                  0);
            CHECK(contains(dry.out, "{\"action\":\"write\",\"path\":\"api/orders.xml\",\"backup\":true}"));
            // held_back: what would still be held back afterwards.
            CHECK(contains(dry.out, "\"held_back\":0,\"backup\":null}"));
        }
    }
    const dt::TreeListing dir_after = dt::describe_tree(peer.dir);
    auto diff = dt::diff_trees(dir_before, dir_after, {}, dt::ModeCheck::exact);
    INFO(dt::format_differences(diff));
    CHECK(diff.empty());
    for (const auto& [path, info] : dir_before) {
        INFO(path);
        CHECK(dir_after.at(path).inode == info.inode);
        CHECK(dir_after.at(path).mtime_ns == info.mtime_ns);
    }
    const dt::TreeListing state_after = dt::describe_tree(peer.state, not_lock);
    auto state_diff = dt::diff_trees(state_before, state_after, {}, dt::ModeCheck::exact);
    INFO(dt::format_differences(state_diff));
    CHECK(state_diff.empty());
    CHECK(backup_folders(peer).empty());
    CHECK(status_of(cluster, peer).at("held_back") == "2");
}

TEST_CASE("repair on the primary puts its published release back from its own repository", "[e2e][repair]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    write_file(primary.dir / "api/orders.xml", "<orders v='1'/>\n");
    write_file(primary.dir / "api/stock.xml", "<stock v='1'/>\n");
    stdfs::create_directories(primary.dir / "carbonapps");
    publish_ok(cluster, "r1");
    REQUIRE_SUCCESS(cluster.pull(0));  // the peer holds r1 exactly: the reference to compare with

    write_file(primary.dir / "api/orders.xml", "<orders unpublished='yes'/>\n");
    stdfs::remove(primary.dir / "api/stock.xml");
    stdfs::remove(primary.dir / "carbonapps");
    write_file(primary.dir / "api/new.xml", "<new/>\n");
    ProcessResult verify = cluster.depsync(primary, {"verify"});
    CHECK(verify.exit_code == 4);

    ProcessResult repaired = cluster.depsync(primary, {"repair"});
    REQUIRE_SUCCESS(repaired);
    INFO(repaired.out);
    CHECK(lines_of(repaired.out)[0] == "repaired r1:");
    auto diff = differences(cluster.peer(0).dir, primary.dir);
    INFO(dt::format_differences(diff));
    CHECK(diff.empty());
    CHECK(stdfs::is_directory(primary.dir / "carbonapps"));
    std::vector<stdfs::path> backups = backup_folders(primary);
    REQUIRE(backups.size() == 1);
    CHECK(read_file(backups[0] / "api/orders.xml") == "<orders unpublished='yes'/>\n");
    CHECK(read_file(backups[0] / "api/new.xml") == "<new/>\n");
    CHECK(cluster.depsync(primary, {"verify"}).exit_code == 0);
    // Nothing new to publish: the directory is the release again, and no release was made.
    ProcessResult publish = cluster.publish("after repair");
    REQUIRE_SUCCESS(publish);
    CHECK(parse_nothing_to_publish(publish.out) == std::optional<std::uint64_t>(1));
    CHECK(cluster.release_commits() == 1);
}

TEST_CASE("repair refuses path arguments that are no release path, lie below a symlink or are never touched",
          "[e2e][repair]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    held_back_over_r2(cluster);
    // Outside the deployment directory, reachable through a symlink planted in it.
    const stdfs::path outside = cluster.root() / "outside";
    write_file(outside / "victim.xml", "<victim/>\n");
    stdfs::create_directory_symlink(outside, peer.dir / "api/link");
    write_file(peer.dir / "userstores/local.xml", "<mine/>\n");
    const std::string config_line = "node_local = userstores/local.xml\n";
    write_file(peer.config, read_file(peer.config) + config_line);
    const dt::TreeListing before = dt::describe_tree(peer.dir);
    const std::string deployed_before = read_file(peer.state / "deployed");

    const std::vector<std::pair<std::string, std::string>> hostile = {
        {"../x", "'../x' is no path of a release ('..' component)"},
        {"api/../../x", "'api/../../x' is no path of a release ('..' component)"},
        {"/etc/passwd", "'/etc/passwd' is no path of a release (absolute path)"},
        {(peer.dir / "api/orders.xml").string(), "is no path of a release (absolute path)"},
        {"api/./orders.xml", "('.' component)"},
        {"api/link/victim.xml", "'api/link/victim.xml' lies below 'api/link', a symlink on disk"},
        {"userstores/local.xml", "'userstores/local.xml' is matched by exclude or node_local"},
        {"api/typo.xml", "'api/typo.xml' is neither in r2 nor on disk"},
    };
    for (const auto& [arg, why] : hostile) {
        for (const char* dry : {"", "--dry-run"}) {
            std::vector<std::string> args = {"repair", arg};
            if (*dry) args.push_back(dry);
            // Named together with a path that could be repaired: still nothing is changed.
            args.push_back("api/orders.xml");
            ProcessResult refused = cluster.depsync(peer, args);
            INFO(arg << " " << describe(refused));
            CHECK(refused.exit_code == 2);
            CHECK(refused.out.empty());
            CHECK(contains(refused.err, "cannot repair; nothing was changed:"));
            CHECK(contains(refused.err, why));
        }
    }
    const dt::TreeListing after = dt::describe_tree(peer.dir);
    auto diff = dt::diff_trees(before, after, {}, dt::ModeCheck::exact);
    INFO(dt::format_differences(diff));
    CHECK(diff.empty());
    CHECK(read_file(outside / "victim.xml") == "<victim/>\n");
    CHECK(read_file(peer.state / "deployed") == deployed_before);
    CHECK(backup_folders(peer).empty());

    // A repair of everything removes the planted symlink as drift, without following it.
    ProcessResult repaired = cluster.depsync(peer, {"repair"});
    REQUIRE_SUCCESS(repaired);
    INFO(repaired.out);
    CHECK(contains(repaired.out, "  remove api/link  (local change saved to backup)\n"));
    CHECK_FALSE(stdfs::exists(stdfs::symlink_status(peer.dir / "api/link")));
    CHECK(read_file(outside / "victim.xml") == "<victim/>\n");
    CHECK(read_file(peer.dir / "userstores/local.xml") == "<mine/>\n");
    CHECK(
        differences(cluster.primary().dir, peer.dir) ==
        std::vector<std::string>{"only in B: userstores (folder)", "only in B: userstores/local.xml (file)"});
}
