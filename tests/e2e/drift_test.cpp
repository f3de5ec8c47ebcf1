// Drift: what differs on a node from the release it runs. verify finds it, status counts it, pull handles it
// by the local_changes policy (overwrite with backup, keep, refuse), backups are listed and pruned, and
// node_local files are never reported, touched or published.

#include <catch2/catch.hpp>

#include <algorithm>
#include <regex>
#include <sstream>

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

// Sets `key` in the node's config file, replacing the line init wrote; an empty value removes the key.
void set_config(const Node& node, const std::string& key, const std::string& value) {
    std::istringstream in(read_file(node.config));
    std::string out;
    for (std::string line; std::getline(in, line);)
        if (line.rfind(key + " =", 0) != 0) out += line + "\n";
    if (!value.empty()) out += key + " = " + value + "\n";
    write_file(node.config, out);
}

std::vector<stdfs::path> backup_folders(const Node& node) {
    std::vector<stdfs::path> out;
    std::error_code ec;
    for (const auto& e : stdfs::directory_iterator(node.state / "backup", ec)) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

// Paths whose file was rewritten (other inode or mtime) or that appeared or went away.
std::vector<std::string> touched(const dt::TreeListing& before, const dt::TreeListing& after) {
    std::vector<std::string> out;
    for (const auto& [path, info] : before) {
        auto it = after.find(path);
        if (it == after.end() || it->second.inode != info.inode || it->second.mtime_ns != info.mtime_ns ||
            it->second.content != info.content)
            out.push_back(path);
    }
    for (const auto& [path, info] : after)
        if (before.count(path) == 0) out.push_back(path);
    return out;
}

// r1 on the primary, pulled by every peer; then on each peer the same local changes:
//   api/orders.xml edited (r2 changes it), api/legacy.xml edited (r2 deletes it),
//   api/extra.xml added (in no release), api/stock.xml untouched (r2 changes it).
// r2 is published but not pulled.
void releases_with_local_changes(const Cluster& cluster) {
    const stdfs::path dir = cluster.primary().dir;
    write_file(dir / "api/orders.xml", "<orders v='1'/>\n");
    write_file(dir / "api/legacy.xml", "<legacy/>\n");
    write_file(dir / "api/stock.xml", "<stock v='1'/>\n");
    write_file(dir / "api/same.xml", "<same/>\n");
    publish_ok(cluster, "first");
    for (std::size_t i = 0; i < cluster.peer_count(); ++i) {
        REQUIRE_SUCCESS(cluster.pull(i));
        const stdfs::path peer = cluster.peer(i).dir;
        write_file(peer / "api/orders.xml", "<orders hand-edited='yes'/>\n");
        write_file(peer / "api/legacy.xml", "<legacy hand-edited='yes'/>\n");
        write_file(peer / "api/extra.xml", "<extra/>\n");
    }
    write_file(dir / "api/orders.xml", "<orders v='2'/>\n");
    write_file(dir / "api/stock.xml", "<stock v='2'/>\n");
    stdfs::remove(dir / "api/legacy.xml");
    write_file(dir / "api/billing.xml", "<billing/>\n");
    publish_ok(cluster, "second");
}

}  // namespace

TEST_CASE("verify is clean after a pull and lists modified, added and missing files with exit 4",
          "[e2e][drift]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    write_file(cluster.primary().dir / "api/orders.xml", "<orders/>\n");
    write_file(cluster.primary().dir / "api/stock.xml", "<stock/>\n");
    write_file(cluster.primary().dir / "userstores/main.xml", "<userstore/>\n");
    publish_ok(cluster, "first");
    REQUIRE_SUCCESS(cluster.pull(0));

    ProcessResult clean = cluster.depsync(peer, {"verify"});
    REQUIRE_SUCCESS(clean);
    CHECK(clean.out == "clean: the directory matches r1\n");
    ProcessResult clean_json = cluster.depsync(peer, {"verify", "--json"});
    REQUIRE_SUCCESS(clean_json);
    CHECK(clean_json.out ==
          "{\"release\":1,\"clean\":true,\"modified\":[],\"added\":[],\"missing\":[],\"signature\":\"not "
          "checked\"}\n");
    ProcessResult status = cluster.depsync(peer, {"status"});
    REQUIRE_SUCCESS(status);
    CHECK(status.out.find("\ndrift:    0 path(s) differ locally") != std::string::npos);
    CHECK(parse_flat_json(cluster.status_json(peer).out).at("drift") == "0");

    write_file(peer.dir / "api/orders.xml", "<orders edited='1'/>\n");
    write_file(peer.dir / "api/new.xml", "<new/>\n");
    stdfs::remove(peer.dir / "userstores/main.xml");

    for (const char* mode : {"", "--full"}) {
        std::vector<std::string> args = {"verify"};
        if (*mode) args.push_back(mode);
        ProcessResult r = cluster.depsync(peer, args);
        INFO("verify " << mode << ": " << describe(r));
        CHECK(r.exit_code == 4);
        CHECK(lines_of(r.out) ==
              std::vector<std::string>{"A api/new.xml", "M api/orders.xml", "D userstores/main.xml"});
    }
    ProcessResult json = cluster.depsync(peer, {"verify", "--json"});
    CHECK(json.exit_code == 4);
    CHECK(json.out ==
          "{\"release\":1,\"clean\":false,\"modified\":[\"api/orders.xml\"],\"added\":[\"api/new.xml\"],"
          "\"missing\":[\"userstores/main.xml\"],\"signature\":\"not checked\"}\n");

    ProcessResult text = cluster.depsync(peer, {"status"});
    REQUIRE_SUCCESS(text);
    CHECK(text.out.find("\ndrift:    3 path(s) differ locally (see 'depsync verify')\n") !=
          std::string::npos);
    CHECK(parse_flat_json(cluster.status_json(peer).out).at("drift") == "3");
}

TEST_CASE("verify --full catches an edit that kept the file's size and mtime", "[e2e][drift]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    write_file(cluster.primary().dir / "api/orders.xml", "<orders timeout='30'/>\n");
    publish_ok(cluster, "first");
    REQUIRE_SUCCESS(cluster.pull(0));
    const stdfs::path file = peer.dir / "api/orders.xml";
    const auto mtime = stdfs::last_write_time(file);
    write_file(file, "<orders timeout='99'/>\n");
    stdfs::last_write_time(file, mtime);
    REQUIRE(stdfs::file_size(file) == std::string("<orders timeout='30'/>\n").size());
    REQUIRE(stdfs::last_write_time(file) == mtime);

    ProcessResult full = cluster.depsync(peer, {"verify", "--full"});
    INFO(describe(full));
    CHECK(full.exit_code == 4);
    CHECK(full.out == "M api/orders.xml\n");
    // The fast mode is only promised to catch it when the stat cache can tell; it also compares ctime,
    // which userspace cannot restore, so here it may catch it as well. It must never say anything else.
    ProcessResult fast = cluster.depsync(peer, {"verify"});
    INFO(describe(fast));
    CHECK((fast.exit_code == 0 || (fast.exit_code == 4 && fast.out == full.out)));
}

TEST_CASE("the primary's status counts its unpublished changes as drift", "[e2e][drift]") {
    Cluster cluster(0);
    const Node& primary = cluster.primary();
    write_file(primary.dir / "api/orders.xml", "<orders/>\n");
    publish_ok(cluster, "first");
    write_file(primary.dir / "api/orders.xml", "<orders edited='1'/>\n");
    write_file(primary.dir / "api/new.xml", "<new/>\n");
    ProcessResult verify = cluster.depsync(primary, {"verify"});
    REQUIRE(verify.exit_code == 4);
    REQUIRE(lines_of(verify.out).size() == 2);

    CHECK(parse_flat_json(cluster.status_json(primary).out).at("drift") == "2");
    ProcessResult text = cluster.depsync(primary, {"status"});
    CHECK(text.out.find("\ndrift:    2 path(s) differ locally") != std::string::npos);
}

TEST_CASE("local_changes = overwrite ends identical to the release and saves every local file it replaces",
          "[e2e][drift]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    releases_with_local_changes(cluster);

    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    auto lines = lines_of(pulled.out);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] == "r1 -> r2 (+1 ~2 -1)");
    std::smatch m;
    REQUIRE(std::regex_match(lines[1], m, std::regex(R"(saved 3 local file\(s\) to (.*))")));
    const stdfs::path backup = m.str(1);
    CHECK(backup.parent_path() == peer.state / "backup");
    CHECK(std::regex_match(backup.filename().string(), std::regex(R"(\d{8}-\d{6}-r2)")));

    auto diff = differences(cluster.primary().dir, peer.dir);
    INFO(dt::format_differences(diff));
    CHECK(diff.empty());
    // Exactly the three local files, with the content the operator wrote.
    auto saved = dt::describe_tree(backup);
    CHECK(saved.size() == 4);  // api/ and three files
    CHECK(read_file(backup / "api/orders.xml") == "<orders hand-edited='yes'/>\n");
    CHECK(read_file(backup / "api/legacy.xml") == "<legacy hand-edited='yes'/>\n");
    CHECK(read_file(backup / "api/extra.xml") == "<extra/>\n");

    ProcessResult backups = cluster.depsync(peer, {"backups"});
    REQUIRE_SUCCESS(backups);
    const std::size_t bytes = read_file(backup / "api/orders.xml").size() +
                              read_file(backup / "api/legacy.xml").size() +
                              read_file(backup / "api/extra.xml").size();
    CHECK(lines_of(backups.out) ==
          std::vector<std::string>{backup.string() + "  3 file(s), " + std::to_string(bytes) + " bytes"});
    ProcessResult verify = cluster.depsync(peer, {"verify"});
    CHECK(verify.exit_code == 0);
}

TEST_CASE("local_changes = keep leaves local edits and extra files alone and applies the rest",
          "[e2e][drift]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    releases_with_local_changes(cluster);

    ProcessResult pulled = cluster.pull(0, {"--local-changes", "keep"});
    REQUIRE_SUCCESS(pulled);
    // The edits r2 changed (orders) or deleted (legacy) are conflicts, listed apart from the extra file.
    CHECK(lines_of(pulled.out) ==
          std::vector<std::string>{"r1 -> r2 (+1 ~2 -1)",
                                   "kept over release change: 2 paths held back ('depsync repair' restores "
                                   "the release):",
                                   "  api/legacy.xml", "  api/orders.xml",
                                   "left 1 local change(s) alone:", "  api/extra.xml"});
    CHECK(read_file(peer.dir / "api/orders.xml") == "<orders hand-edited='yes'/>\n");
    CHECK(read_file(peer.dir / "api/legacy.xml") == "<legacy hand-edited='yes'/>\n");
    CHECK(read_file(peer.dir / "api/extra.xml") == "<extra/>\n");
    CHECK(read_file(peer.dir / "api/stock.xml") == "<stock v='2'/>\n");
    CHECK(read_file(peer.dir / "api/billing.xml") == "<billing/>\n");
    CHECK(read_file(peer.dir / "api/same.xml") == "<same/>\n");
    CHECK(backup_folders(peer).empty());
    ProcessResult backups = cluster.depsync(peer, {"backups"});
    REQUIRE_SUCCESS(backups);
    CHECK(backups.out == "no backups\n");
    CHECK(parse_flat_json(cluster.status_json(peer).out).at("release") == "2");
    CHECK(parse_flat_json(cluster.status_json(peer).out).at("held_back") == "2");

    // What was kept is drift from r2, and verify says so.
    ProcessResult verify = cluster.depsync(peer, {"verify"});
    CHECK(verify.exit_code == 4);
    CHECK(lines_of(verify.out) ==
          std::vector<std::string>{"A api/extra.xml", "A api/legacy.xml", "M api/orders.xml"});
}

TEST_CASE("local_changes = refuse applies nothing when drift touches the update and lists the paths",
          "[e2e][drift]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    releases_with_local_changes(cluster);
    set_config(peer, "local_changes", "refuse");
    const dt::TreeListing before = dt::describe_tree(peer.dir);

    ProcessResult refused = cluster.pull(0);
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(refused.out.empty());
    CHECK(refused.err.find("local_changes = refuse") != std::string::npos);
    // One line (a message's text is escaped as a whole), the paths listed in it.
    CHECK(std::count(refused.err.begin(), refused.err.end(), '\n') == 1);
    CHECK(refused.err.find(" api/orders.xml") != std::string::npos);
    CHECK(refused.err.find(" api/legacy.xml") != std::string::npos);
    CHECK(touched(before, dt::describe_tree(peer.dir)).empty());
    CHECK(read_file(peer.dir / "api/stock.xml") == "<stock v='1'/>\n");
    CHECK_FALSE(stdfs::exists(peer.dir / "api/billing.xml"));
    CHECK(backup_folders(peer).empty());
    CHECK(parse_flat_json(cluster.status_json(peer).out).at("release") == "1");

    // Once the drift on the paths r2 changes is gone, the pull goes through; the extra file stays.
    write_file(peer.dir / "api/orders.xml", "<orders v='1'/>\n");
    write_file(peer.dir / "api/legacy.xml", "<legacy/>\n");
    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    CHECK(
        lines_of(pulled.out) ==
        std::vector<std::string>{"r1 -> r2 (+1 ~2 -1)", "left 1 local change(s) alone:", "  api/extra.xml"});
    CHECK(read_file(peer.dir / "api/orders.xml") == "<orders v='2'/>\n");
    CHECK_FALSE(stdfs::exists(peer.dir / "api/legacy.xml"));
    CHECK(read_file(peer.dir / "api/extra.xml") == "<extra/>\n");
}

TEST_CASE("backups are listed and only the newest backup_keep of them are kept", "[e2e][drift]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    const stdfs::path file = "api/orders.xml";
    write_file(cluster.primary().dir / file, "<orders v='1'/>\n");
    publish_ok(cluster, "r1");
    REQUIRE_SUCCESS(cluster.pull(0, {"--backup-keep", "2"}));
    ProcessResult none = cluster.depsync(peer, {"backups"});
    REQUIRE_SUCCESS(none);
    CHECK(none.out == "no backups\n");

    for (int n = 2; n <= 5; ++n) {
        write_file(peer.dir / file, "<orders local='" + std::to_string(n) + "'/>\n");
        write_file(cluster.primary().dir / file, "<orders v='" + std::to_string(n) + "'/>\n");
        publish_ok(cluster, "r" + std::to_string(n));
        ProcessResult pulled = cluster.pull(0, {"--backup-keep", "2"});
        REQUIRE_SUCCESS(pulled);
        REQUIRE(lines_of(pulled.out).size() == 2);
        CHECK(lines_of(pulled.out)[1].rfind("saved 1 local file(s) to ", 0) == 0);
    }

    auto folders = backup_folders(peer);
    REQUIRE(folders.size() == 2);
    CHECK(std::regex_match(folders[0].filename().string(), std::regex(R"(\d{8}-\d{6}-r4)")));
    CHECK(std::regex_match(folders[1].filename().string(), std::regex(R"(\d{8}-\d{6}-r5)")));
    CHECK(read_file(folders[0] / file) == "<orders local='4'/>\n");
    CHECK(read_file(folders[1] / file) == "<orders local='5'/>\n");
    ProcessResult listed = cluster.depsync(peer, {"backups"});
    REQUIRE_SUCCESS(listed);
    const std::string bytes = std::to_string(std::string("<orders local='4'/>\n").size());
    CHECK(lines_of(listed.out) ==
          std::vector<std::string>{folders[0].string() + "  1 file(s), " + bytes + " bytes",
                                   folders[1].string() + "  1 file(s), " + bytes + " bytes"});
}

// backup_keep counts the current run's backup, which that run never removes: 0 keeps only this run's.
TEST_CASE("backup_keep = 0 keeps the backup the pull just saved and removes the older ones", "[e2e][drift]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    const stdfs::path file = "api/orders.xml";
    write_file(cluster.primary().dir / file, "<orders v='1'/>\n");
    publish_ok(cluster, "r1");
    REQUIRE_SUCCESS(cluster.pull(0));
    set_config(peer, "backup_keep", "0");

    for (int n = 2; n <= 3; ++n) {
        write_file(peer.dir / file, "<orders local='" + std::to_string(n) + "'/>\n");
        write_file(cluster.primary().dir / file, "<orders v='" + std::to_string(n) + "'/>\n");
        publish_ok(cluster, "r" + std::to_string(n));
        ProcessResult pulled = cluster.pull(0);
        REQUIRE_SUCCESS(pulled);
        REQUIRE(lines_of(pulled.out).size() == 2);
        const std::string saved = lines_of(pulled.out)[1];
        const std::string prefix = "saved 1 local file(s) to ";
        REQUIRE(saved.rfind(prefix, 0) == 0);
        // What the pull says it saved is there, and it is the only backup.
        const stdfs::path folder = saved.substr(prefix.size());
        CHECK(read_file(folder / file) == "<orders local='" + std::to_string(n) + "'/>\n");
        CHECK(backup_folders(peer) == std::vector<stdfs::path>{folder});
    }
    // A pull that saves nothing keeps none.
    write_file(cluster.primary().dir / file, "<orders v='4'/>\n");
    publish_ok(cluster, "r4");
    REQUIRE_SUCCESS(cluster.pull(0));
    CHECK(backup_folders(peer).empty());
}

TEST_CASE("node_local files are never published, reported or touched", "[e2e][drift]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    set_config(primary, "node_local", "[\"imports/*.xml\"]");
    set_config(peer, "node_local", "[\"imports/*.xml\"]");

    write_file(primary.dir / "api/orders.xml", "<orders v='1'/>\n");
    write_file(primary.dir / "imports/generated.xml", "<generated node='primary'/>\n");
    write_file(primary.dir / "imports/readme.txt", "shared\n");
    publish_ok(cluster, "first");
    ProcessResult tree = git({"-C", cluster.repo().string(), "ls-tree", "-r", "--name-only", "main"});
    REQUIRE_SUCCESS(tree);
    CHECK(tree.out == "api/orders.xml\nimports/readme.txt\n");
    write_file(primary.dir / "imports/generated.xml", "<generated node='primary' again='1'/>\n");
    ProcessResult primary_verify = cluster.depsync(primary, {"verify"});
    CHECK(primary_verify.exit_code == 0);
    ProcessResult nothing = cluster.publish("only node-local files changed");
    REQUIRE_SUCCESS(nothing);
    CHECK(parse_nothing_to_publish(nothing.out) == std::optional<std::uint64_t>(1));

    // The peer has its own file of that name, and one more, before its first pull.
    write_file(peer.dir / "imports/generated.xml", "<generated node='peer1'/>\n");
    write_file(peer.dir / "imports/peer-only.xml", "<peer-only/>\n");
    ProcessResult first = cluster.pull(0);
    REQUIRE_SUCCESS(first);
    CHECK(first.out == "none -> r1 (+2 ~0 -0)\n");
    CHECK(read_file(peer.dir / "imports/generated.xml") == "<generated node='peer1'/>\n");
    CHECK(read_file(peer.dir / "imports/peer-only.xml") == "<peer-only/>\n");
    CHECK(backup_folders(peer).empty());
    write_file(peer.dir / "imports/peer-only.xml", "<peer-only edited='1'/>\n");
    ProcessResult verify = cluster.depsync(peer, {"verify"});
    CHECK(verify.exit_code == 0);
    CHECK(verify.out == "clean: the directory matches r1\n");
    CHECK(parse_flat_json(cluster.status_json(peer).out).at("drift") == "0");

    // A release without any file under imports/ leaves them all in place.
    stdfs::remove(primary.dir / "imports/readme.txt");
    write_file(primary.dir / "api/orders.xml", "<orders v='2'/>\n");
    publish_ok(cluster, "second");
    ProcessResult second = cluster.pull(0);
    REQUIRE_SUCCESS(second);
    CHECK(lines_of(second.out).at(0) == "r1 -> r2 (+0 ~1 -1)");
    CHECK(read_file(peer.dir / "imports/generated.xml") == "<generated node='peer1'/>\n");
    CHECK(read_file(peer.dir / "imports/peer-only.xml") == "<peer-only edited='1'/>\n");
    CHECK(read_file(peer.dir / "api/orders.xml") == "<orders v='2'/>\n");
    CHECK_FALSE(stdfs::exists(peer.dir / "imports/readme.txt"));
    CHECK(backup_folders(peer).empty());
    CHECK(cluster.depsync(peer, {"verify"}).exit_code == 0);

    // The command-line option works like the config key.
    set_config(peer, "node_local", "");
    ProcessResult without = cluster.depsync(peer, {"verify"});
    CHECK(without.exit_code == 4);
    CHECK(cluster.depsync(peer, {"verify", "--node-local", "imports/*.xml"}).exit_code == 0);
}

TEST_CASE("node_local files in a folder the release does not have are not reported as drift",
          "[e2e][drift]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    set_config(peer, "node_local", "[\"imports/*.xml\"]");
    write_file(cluster.primary().dir / "api/orders.xml", "<orders/>\n");
    publish_ok(cluster, "first");
    write_file(peer.dir / "imports/generated.xml", "<generated node='peer1'/>\n");
    REQUIRE_SUCCESS(cluster.pull(0));
    REQUIRE(read_file(peer.dir / "imports/generated.xml") == "<generated node='peer1'/>\n");

    ProcessResult verify = cluster.depsync(peer, {"verify"});
    INFO(describe(verify));
    CHECK(verify.exit_code == 0);
    CHECK(parse_flat_json(cluster.status_json(peer).out).at("drift") == "0");

    // The next release leaves the folder where it is, without a word about it.
    write_file(cluster.primary().dir / "api/orders.xml", "<orders v='2'/>\n");
    publish_ok(cluster, "second");
    ProcessResult pulled = cluster.pull(0);
    INFO(describe(pulled));
    REQUIRE(pulled.exit_code == 0);
    CHECK(pulled.err.find("imports") == std::string::npos);
    CHECK(read_file(peer.dir / "imports/generated.xml") == "<generated node='peer1'/>\n");
    CHECK(cluster.depsync(peer, {"verify"}).exit_code == 0);
}
