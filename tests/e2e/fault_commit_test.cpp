// A pull that fails after staging: what the node's file systems cannot hold is found before the first visible
// change, and a failure in the commit phase is undone. Each case checks the exit code and message, that the
// directory is exactly the release it held (same files, same inodes), that no temp file is left, that the
// records (deployed, journal, backups) are as before, and that the next pull goes through once the cause is
// gone.

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <sstream>

#include "cluster.hpp"
#include "support/fault_util.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

std::string checked_git(const std::vector<std::string>& args) {
    ProcessResult r = git(args);
    if (r.exit_code != 0) throw std::runtime_error("git failed:\n" + describe(r));
    return r.out.substr(0, r.out.find('\n'));
}

void publish_ok(const Cluster& cluster, const std::string& message) {
    ProcessResult r = cluster.publish(message);
    REQUIRE_SUCCESS(r);
}

bool set_immutable(const stdfs::path& file, bool on) {
    int fd = ::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return false;
    int flags = 0;
    bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
    flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    ok = ok && ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    ::close(fd);
    return ok;
}

// What a failed pull must leave: the directory exactly as before (inodes included), no temp file, the
// records as before.
void require_untouched(const Cluster& cluster, const Node& peer, const dt::TreeListing& before,
                       const std::string& deployed_before) {
    const dt::TreeListing now = dt::describe_tree(peer.dir);
    INFO(dt::format_differences(dt::diff_trees(before, now)));
    CHECK(dt::diff_trees(before, now).empty());
    for (const auto& [path, info] : before)
        if (info.type == dt::NodeType::file && now.count(path)) CHECK(now.at(path).inode == info.inode);
    CHECK(dt::temp_files_in(peer.dir).empty());
    CHECK(read_file(peer.state / "deployed") == deployed_before);
    CHECK_FALSE(stdfs::exists(peer.state / "journal"));
    auto status = parse_flat_json(cluster.status_json(peer).out);
    CHECK(status.at("interrupted") == "false");
    ProcessResult backups = cluster.depsync(peer, {"backups"});
    CHECK(backups.out == "no backups\n");
}

// r1 with files the update modifies and removes, pulled by the peer.
void first_release(const Cluster& cluster) {
    const stdfs::path dir = cluster.primary().dir;
    write_file(dir / "api/a.xml", "<a v='1'/>\n");
    write_file(dir / "api/b.xml", "<b v='1'/>\n");
    write_file(dir / "api/c.xml", "<c v='1'/>\n");
    write_file(dir / "lib/orders-1.0.0.txt", "orders 1.0.0");
    publish_ok(cluster, "r1");
    REQUIRE_SUCCESS(cluster.pull(0));
}

}  // namespace

TEST_CASE("a release with a name longer than 255 bytes is refused before anything changes", "[e2e][fault]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    first_release(cluster);
    // r2 from the primary's directory: a rename, a removal, a modification.
    const stdfs::path dir = cluster.primary().dir;
    stdfs::rename(dir / "lib/orders-1.0.0.txt", dir / "lib/orders-1.0.1.txt");
    stdfs::remove(dir / "api/a.xml");
    write_file(dir / "api/c.xml", "<c v='2'/>\n");
    publish_ok(cluster, "r2");
    // r3 by plain git: r2's tree plus a file whose name no Linux file system holds.
    const std::string repo = cluster.repo().string();
    write_file(cluster.root() / "long.xml", "<long/>\n");
    const std::string blob =
        checked_git({"-C", repo, "hash-object", "-w", (cluster.root() / "long.xml").string()});
    std::string listing = git({"-C", repo, "ls-tree", "main"}).out;
    const std::string long_name = std::string(300, 'L') + ".xml";
    listing += "100644 blob " + blob + "\t" + long_name + "\n";
    write_file(cluster.root() / "tree.txt", listing);
    dt::ProcessResult tree = dt::run(
        {"sh", "-c", "git -C '" + repo + "' mktree < '" + (cluster.root() / "tree.txt").string() + "'"});
    INFO(tree.err);
    REQUIRE(tree.exit_code == 0);
    const std::string tree_id = tree.out.substr(0, 40);
    const std::string commit =
        checked_git({"-C", repo, "commit-tree", tree_id, "-p", "main", "-m", "long name"});
    checked_git({"-C", repo, "update-ref", "refs/heads/main", commit});

    const dt::TreeListing before = dt::describe_tree(peer.dir);
    const std::string deployed_before = read_file(peer.state / "deployed");
    ProcessResult refused = cluster.pull(0);
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(dt::contains(refused.err, "255"));
    require_untouched(cluster, peer, before, deployed_before);
    ProcessResult again = cluster.pull(0);  // the same release is refused the same way, and changes nothing
    CHECK(again.exit_code == 1);
    require_untouched(cluster, peer, before, deployed_before);

    // The primary's next release (from its directory) goes through.
    write_file(dir / "api/d.xml", "<d/>\n");
    publish_ok(cluster, "r4");
    REQUIRE_SUCCESS(cluster.pull(0));
    CHECK(dt::diff_trees(dir, peer.dir).empty());
    CHECK(dt::temp_files_in(peer.dir).empty());
}

TEST_CASE("a file that cannot be removed fails the pull with every change undone", "[e2e][fault]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    first_release(cluster);
    const stdfs::path dir = cluster.primary().dir;
    stdfs::remove(dir / "api/a.xml");  // removed first: moved aside, then brought back
    stdfs::remove(dir / "api/b.xml");  // cannot be removed on the peer
    write_file(dir / "api/c.xml", "<c v='2'/>\n");
    stdfs::rename(dir / "lib/orders-1.0.0.txt", dir / "lib/orders-1.0.1.txt");
    publish_ok(cluster, "r2");
    write_file(peer.dir / "api/a.xml", "<a edited-here='yes'/>\n");  // a local change: saved, then restored
    if (!set_immutable(peer.dir / "api/b.xml", true)) {
        WARN("cannot set the immutable attribute here (needs root and ext4/xfs/btrfs); case not run");
        return;
    }
    const dt::TreeListing before = dt::describe_tree(peer.dir);
    const std::string deployed_before = read_file(peer.state / "deployed");

    ProcessResult failed = cluster.pull(0);
    set_immutable(peer.dir / "api/b.xml", false);
    INFO(describe(failed));
    CHECK(failed.exit_code == 1);
    CHECK(dt::contains(failed.err, "api/b.xml"));
    CHECK(dt::contains(failed.err, "undone"));
    require_untouched(cluster, peer, before, deployed_before);
    CHECK(read_file(peer.dir / "api/a.xml") == "<a edited-here='yes'/>\n");
    auto last_run = read_file(peer.state / "last-run");
    CHECK(dt::contains(last_run, "api/b.xml"));

    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    CHECK(dt::diff_trees(dir, peer.dir).empty());
    CHECK(dt::temp_files_in(peer.dir).empty());
    CHECK(dt::contains(pulled.out, "saved 1 local file(s)"));
}

TEST_CASE("a folder that becomes a file while an excluded file sits in it stays a folder", "[e2e][fault]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    const stdfs::path dir = cluster.primary().dir;
    write_file(dir / "synapse-configs/default/api/Orders.xml", "<api/>\n");
    write_file(dir / "synapse-configs/default/tasks/Old.xml", "<task/>\n");
    write_file(dir / "other.xml", "<other v='1'/>\n");
    publish_ok(cluster, "r1");
    const std::vector<std::string> exclude{"--exclude", "*.bk"};
    REQUIRE_SUCCESS(cluster.pull(0, exclude));
    write_file(peer.dir / "synapse-configs/default/api/Orders.xml.bk", "an editor's backup\n");
    // r2 turns the folder api into a file, and changes other.xml.
    stdfs::remove_all(dir / "synapse-configs/default/api");
    write_file(dir / "synapse-configs/default/api", "now a file\n");
    write_file(dir / "other.xml", "<other v='2'/>\n");
    publish_ok(cluster, "r2");

    ProcessResult pulled = cluster.pull(0, exclude);
    INFO(describe(pulled));
    REQUIRE(pulled.exit_code == 0);
    // Everything else is applied; the folder stays with the excluded file, without the release's files.
    CHECK(read_file(peer.dir / "other.xml") == "<other v='2'/>\n");
    CHECK(stdfs::is_directory(peer.dir / "synapse-configs/default/api"));
    CHECK(read_file(peer.dir / "synapse-configs/default/api/Orders.xml.bk") == "an editor's backup\n");
    CHECK_FALSE(stdfs::exists(peer.dir / "synapse-configs/default/api/Orders.xml"));
    CHECK(dt::contains(pulled.out, "synapse-configs/default/api"));
    CHECK(dt::temp_files_in(peer.dir).empty());
    CHECK(parse_flat_json(cluster.status_json(peer).out).at("release") == "2");
    CHECK_FALSE(stdfs::exists(peer.state / "journal"));
    REQUIRE_SUCCESS(cluster.pull(0, exclude));

    // Once the excluded file is gone, the next release puts the file in place.
    stdfs::remove(peer.dir / "synapse-configs/default/api/Orders.xml.bk");
    write_file(dir / "other.xml", "<other v='3'/>\n");
    publish_ok(cluster, "r3");
    REQUIRE_SUCCESS(cluster.pull(0, exclude));
    CHECK(read_file(peer.dir / "synapse-configs/default/api") == "now a file\n");
    CHECK(dt::diff_trees(dir, peer.dir).empty());
}

// The peer's state folder path is longer than its directory's ("state/backup/<time>-rN" against "server"):
// a local change deep enough fits in the directory, but its backup path would not.
TEST_CASE("a local change whose backup path would be too long is refused before anything changes",
          "[e2e][fault]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    const stdfs::path dir = cluster.primary().dir;
    const std::size_t budget = 4094 - dir.native().size() - 20;  // fits below both directories
    std::string deep;
    while (deep.size() + 201 + 10 < budget) deep += (deep.empty() ? "" : "/") + std::string(200, 'd');
    deep += "/" + std::string(budget - deep.size() - 1 - 6, 'f') + ".xml";
    write_file(dir / deep, "<deep v='1'/>\n");
    write_file(dir / "api/a.xml", "<a v='1'/>\n");
    publish_ok(cluster, "r1");
    REQUIRE_SUCCESS(cluster.pull(0));
    write_file(peer.dir / deep, "<deep edited-here='yes'/>\n");
    write_file(dir / deep, "<deep v='2'/>\n");
    stdfs::remove(dir / "api/a.xml");
    publish_ok(cluster, "r2");
    const dt::TreeListing before = dt::describe_tree(peer.dir);
    const std::string deployed_before = read_file(peer.state / "deployed");

    ProcessResult refused = cluster.pull(0);
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(dt::contains(refused.err, "backup path"));
    require_untouched(cluster, peer, before, deployed_before);

    // Once the local change is gone (nothing to save), the pull goes through.
    stdfs::remove(peer.dir / deep);
    REQUIRE_SUCCESS(cluster.pull(0));
    CHECK(dt::diff_trees(dir, peer.dir).empty());
}
