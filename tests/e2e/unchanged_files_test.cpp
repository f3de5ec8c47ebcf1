// The hot-deployer redeploys anything whose mtime moves: a pull must leave files the release did not change
// exactly as they were (same inode, same mtime), and give changed files the primary's content and exec bit.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <thread>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

void set_exec(const stdfs::path& p, bool exec) {
    stdfs::permissions(p, stdfs::perms::owner_exec | stdfs::perms::group_exec | stdfs::perms::others_exec,
                       exec ? stdfs::perm_options::add : stdfs::perm_options::remove);
}

}  // namespace

TEST_CASE("unchanged files keep inode and mtime across a pull that changes other files", "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    const stdfs::path peer = cluster.peer(0).dir;
    dt::generate_tree(primary, dt::Profile::small, 51);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));
    const dt::TreeListing before = dt::describe_tree(peer);
    const dt::TreeListing primary_before = dt::describe_tree(primary);

    // Let the clock move on, so a file rewritten by the pull could not keep its mtime by accident.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    dt::Rng rng(52);
    const std::string edited = dt::edit_xml(primary, 3, rng);
    const std::string rebuilt = dt::rebuild_in_place(primary, rng);
    // Mode-only changes: the content stays, the exec bit moves one way or the other.
    set_exec(primary / "class-mediators/run-check.sh", false);
    set_exec(primary / "synapse-configs/default/registry.xml", true);
    write_file(primary / "class-mediators/deploy-hook.sh", "#!/bin/sh\nexit 0\n");
    set_exec(primary / "class-mediators/deploy-hook.sh", true);
    INFO(edited << "; " << rebuilt);

    // What the release changes, from the primary's side: content or exec bit.
    const dt::TreeListing primary_now = dt::describe_tree(primary);
    std::size_t expected_modified = 0;
    for (const auto& [path, old] : primary_before)
        if (old.type == dt::NodeType::file && (primary_now.at(path).content != old.content ||
                                               ((primary_now.at(path).mode ^ old.mode) & S_IXUSR)))
            ++expected_modified;
    REQUIRE(expected_modified >= 5);  // at least 2 XML (one may also flip its mode), 1 CApp, 2 modes

    ProcessResult published = cluster.publish("r2");
    REQUIRE_SUCCESS(published);
    auto line = parse_published(published.out);
    INFO(published.out);
    REQUIRE(line);
    CHECK(line->counts.added == 1);
    CHECK(line->counts.modified == expected_modified);
    CHECK(line->counts.deleted == 0);
    REQUIRE_SUCCESS(cluster.pull(0));

    const dt::TreeListing after = dt::describe_tree(peer);
    auto diff = dt::diff_trees(primary_now, after);
    INFO("peer differs from the primary:" << dt::format_differences(diff));
    CHECK(diff.empty());

    std::size_t unchanged = 0, changed = 0;
    for (const auto& [path, old] : before) {
        if (old.type != dt::NodeType::file) continue;
        const dt::NodeInfo& now = after.at(path);
        const bool same_in_release = now.content == old.content && ((now.mode ^ old.mode) & S_IXUSR) == 0;
        INFO(path);
        if (same_in_release) {
            ++unchanged;
            CHECK(now.inode == old.inode);
            CHECK(now.mtime_ns == old.mtime_ns);
        } else if (now.content == old.content) {
            ++changed;
            // Only the exec bit changed: a chmod in place, so the server sees no new file to redeploy.
            CHECK(now.inode == old.inode);
            CHECK(now.mtime_ns == old.mtime_ns);
            CHECK((now.mode & S_IXUSR) == (primary_now.at(path).mode & S_IXUSR));
        } else {
            ++changed;
            // A changed file is a new file renamed into place: a reader holding the old one keeps it whole.
            CHECK(now.inode != old.inode);
            CHECK(now.content == primary_now.at(path).content);
            CHECK((now.mode & S_IXUSR) == (primary_now.at(path).mode & S_IXUSR));
        }
    }
    CHECK(changed == expected_modified);
    CHECK(unchanged > 15);
    CHECK((after.at("class-mediators/deploy-hook.sh").mode & S_IXUSR) != 0);
    CHECK((after.at("class-mediators/run-check.sh").mode & S_IXUSR) == 0);
    CHECK((after.at("synapse-configs/default/registry.xml").mode & S_IXUSR) != 0);

    // Folders the release did not change keep their inode too.
    for (const auto& [path, old] : before)
        if (old.type == dt::NodeType::directory) {
            INFO(path);
            CHECK(after.at(path).inode == old.inode);
        }
}
