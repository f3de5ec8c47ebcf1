// Backups cannot fill the state folder's file system. The peer's state folder is a small tmpfs mounted by the
// test (so backups are copies, not hard links): a huge sparse local file is refused by backup_max_bytes, or
// copied with its holes once the bound allows it; a backup larger than the free space is refused before
// anything changes; on a full state file system the pull reports the first error (not the failure to record
// it in last-run) and leaves no partial backup, no journal and no temp file. Each time the next pull works
// once the cause is gone.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <iostream>
#include <sstream>

#include "cluster.hpp"
#include "support/fault_util.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

constexpr std::uint64_t MiB = 1 << 20;

void publish_ok(const Cluster& cluster, const std::string& message) {
    ProcessResult r = cluster.publish(message);
    REQUIRE_SUCCESS(r);
}

// The line main prints for the error that ended the run.
std::string error_line(const std::string& err) {
    std::istringstream in(err);
    for (std::string line; std::getline(in, line);)
        if (line.rfind("depsync: error: ", 0) == 0) return line;
    return "";
}

void require_untouched(const Cluster& cluster, const Node& peer, const dt::TreeListing& before,
                       const std::string& deployed_before) {
    const dt::TreeListing now = dt::describe_tree(peer.dir);
    INFO(dt::format_differences(dt::diff_trees(before, now)));
    CHECK(dt::diff_trees(before, now).empty());
    CHECK(dt::temp_files_in(peer.dir).empty());
    CHECK(read_file(peer.state / "deployed") == deployed_before);
    CHECK_FALSE(stdfs::exists(peer.state / "journal"));
    std::error_code ec;
    const bool no_backup_left =
        !stdfs::exists(peer.state / "backup") || stdfs::is_empty(peer.state / "backup", ec);
    CHECK(no_backup_left);
    CHECK(cluster.depsync(peer, {"backups"}).out == "no backups\n");
}

// The peer's state folder on a tmpfs of `mib` MiB, then r1 pulled into it.
struct StateOnTmpfs {
    Cluster cluster{1};
    const Node& peer = cluster.peer(0);
    dt::TmpfsMount disk{peer.state, 64};
    bool ok = false;

    explicit StateOnTmpfs(unsigned mib) {
        if (!disk.mounted()) return;
        disk.resize(mib);
        REQUIRE(::chmod(peer.state.c_str(), 0700) == 0);
        write_file(cluster.primary().dir / "api/orders.xml", "<orders v='1'/>\n");
        publish_ok(cluster, "r1");
        REQUIRE_SUCCESS(cluster.pull(0));
        ok = true;
    }
};

void dense_file(const stdfs::path& path, std::uint64_t bytes) {
    write_file(path, std::string(bytes, 'x'));
}

}  // namespace

TEST_CASE("a huge sparse local file is refused by backup_max_bytes, then backed up with its holes",
          "[e2e][fault]") {
    StateOnTmpfs s(64);
    if (!s.ok) {
        WARN("skipped: cannot mount tmpfs: " << s.disk.error());
        return;
    }
    const Node& peer = s.peer;
    // 512 MiB, of which 4 KiB hold data, dropped into the directory by hand: the next update removes it.
    // (The bound is lowered to 256 MiB so that the scan does not hash gigabytes of holes.)
    const stdfs::path huge = peer.dir / "carbonapps/Huge_1.0.0.car";
    stdfs::create_directories(huge.parent_path());
    {
        int fd = ::open(huge.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        REQUIRE(fd >= 0);
        REQUIRE(::ftruncate(fd, static_cast<off_t>(512 * MiB)) == 0);
        REQUIRE(::pwrite(fd, "data", 4, static_cast<off_t>(300 * MiB)) == 4);
        ::close(fd);
    }
    write_file(s.cluster.primary().dir / "api/orders.xml", "<orders v='2'/>\n");
    publish_ok(s.cluster, "r2");
    const dt::TreeListing before = dt::describe_tree(peer.dir);
    const std::string deployed_before = read_file(peer.state / "deployed");

    ProcessResult refused = s.cluster.pull(0, {"--backup-max-bytes", "256MiB"});
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(dt::contains(error_line(refused.err), huge.string()));
    CHECK(dt::contains(error_line(refused.err), "(512.0 MiB)"));
    CHECK(dt::contains(error_line(refused.err), "backup_max_bytes"));
    require_untouched(s.cluster, peer, before, deployed_before);
    CHECK(dt::contains(read_file(peer.state / "last-run"), "backup_max_bytes"));

    const std::uint64_t free_before = s.disk.free_bytes();
    ProcessResult pulled = s.cluster.pull(0, {"--backup-max-bytes", "1GiB"});
    REQUIRE_SUCCESS(pulled);
    CHECK(dt::diff_trees(s.cluster.primary().dir, peer.dir).empty());
    auto backups = dt::describe_tree(peer.state / "backup");
    std::string saved;
    const std::string suffix = "/carbonapps/Huge_1.0.0.car";
    for (const auto& [path, info] : backups)
        if (path.size() > suffix.size() &&
            path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
            saved = path;
    REQUIRE_FALSE(saved.empty());
    struct stat st {};
    REQUIRE(::stat((peer.state / "backup" / saved).c_str(), &st) == 0);
    CHECK(static_cast<std::uint64_t>(st.st_size) == 512 * MiB);
    CHECK(static_cast<std::uint64_t>(st.st_blocks) * 512 <= MiB);
    CHECK(free_before - s.disk.free_bytes() < 8 * MiB);
}

TEST_CASE("a backup larger than the state folder's free space is refused before anything changes",
          "[e2e][fault]") {
    StateOnTmpfs s(24);
    if (!s.ok) {
        WARN("skipped: cannot mount tmpfs: " << s.disk.error());
        return;
    }
    const Node& peer = s.peer;
    dense_file(peer.dir / "carbonapps/Local_1.0.0.car", 40 * MiB);
    write_file(s.cluster.primary().dir / "api/orders.xml", "<orders v='2'/>\n");
    publish_ok(s.cluster, "r2");
    const dt::TreeListing before = dt::describe_tree(peer.dir);
    const std::string deployed_before = read_file(peer.state / "deployed");

    ProcessResult refused = s.cluster.pull(0);
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(dt::contains(error_line(refused.err), "not enough space"));
    CHECK(dt::contains(error_line(refused.err), peer.state.string()));
    require_untouched(s.cluster, peer, before, deployed_before);

    s.disk.resize(128);
    REQUIRE_SUCCESS(s.cluster.pull(0));
    CHECK(dt::diff_trees(s.cluster.primary().dir, peer.dir).empty());
    CHECK(dt::contains(s.cluster.depsync(peer, {"backups"}).out, "1 file(s), 41943040 bytes"));
}

TEST_CASE("on a full state file system the pull reports the first error and leaves no partial backup",
          "[e2e][fault]") {
    StateOnTmpfs s(32);
    if (!s.ok) {
        WARN("skipped: cannot mount tmpfs: " << s.disk.error());
        return;
    }
    const Node& peer = s.peer;
    dense_file(peer.dir / "carbonapps/Local_1.0.0.car", 4 * MiB);
    write_file(s.cluster.primary().dir / "api/orders.xml", "<orders v='2'/>\n");
    publish_ok(s.cluster, "r2");
    REQUIRE_SUCCESS(s.cluster.pull(0, {"--dry-run"}));  // r2 is fetched: the next pull needs no new objects
    const dt::TreeListing before = dt::describe_tree(peer.dir);
    const std::string deployed_before = read_file(peer.state / "deployed");
    const std::string last_run_before = read_file(peer.state / "last-run");
    // Fill the state file system to the last byte.
    {
        int fd = ::open((peer.state / "filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        REQUIRE(fd >= 0);
        std::string block(1 << 16, 'f');
        while (::write(fd, block.data(), block.size()) > 0) {
        }
        std::string byte = "f";
        while (::write(fd, byte.data(), 1) > 0) {
        }
        ::close(fd);
    }

    ProcessResult failed = s.cluster.pull(0);
    INFO(describe(failed));
    CHECK(failed.exit_code == 1);
    const std::string error = error_line(failed.err);
    CHECK(dt::contains(error, "No space left on device"));
    CHECK_FALSE(dt::contains(error, "last-run"));  // the failure to record the error is only a warning
    CHECK(dt::contains(failed.err, "cannot record this failure"));
    std::cout << "full state file system: " << error << "\n";
    stdfs::remove(peer.state / "filler");
    require_untouched(s.cluster, peer, before, deployed_before);
    CHECK(read_file(peer.state / "last-run") == last_run_before);

    ProcessResult pulled = s.cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    CHECK(dt::diff_trees(s.cluster.primary().dir, peer.dir).empty());
    CHECK(dt::contains(s.cluster.depsync(peer, {"backups"}).out, "1 file(s), 4194304 bytes"));
    CHECK(dt::contains(read_file(peer.state / "last-run"), "consecutive_failures=0"));
}
