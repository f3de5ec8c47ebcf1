// The release repository stays an ordinary git repository: plain git can clone and check it, and a commit
// pushed there with plain git is a release peers pull like any other.

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <set>
#include <thread>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

// Folders with no file or symlink anywhere below them: git checkouts cannot hold them.
std::set<std::string> fileless_folders(const dt::TreeListing& listing) {
    std::set<std::string> out;
    for (const auto& [path, info] : listing) {
        if (info.type != dt::NodeType::directory) continue;
        bool has_file = false;
        for (auto it = listing.upper_bound(path); it != listing.end() && it->first.rfind(path + "/", 0) == 0;
             ++it)
            if (it->second.type != dt::NodeType::directory) has_file = true;
        if (!has_file) out.insert(path);
    }
    return out;
}

bool is_git_dir(const std::string& path) {
    return path == ".git" || path.rfind(".git/", 0) == 0;
}

std::string first_line(const std::string& text) {
    return text.substr(0, text.find('\n'));
}

}  // namespace

TEST_CASE("git clone of the release repository yields the release tree and git fsck is clean", "[e2e]") {
    Cluster cluster(0);
    const stdfs::path primary = cluster.primary().dir;
    dt::generate_tree(primary, dt::Profile::small, 71);
    stdfs::create_symlink("OrdersAPI.xml", primary / "synapse-configs/default/api/Current.xml");
    stdfs::create_symlink("../api", primary / "synapse-configs/default/sequences/apis");
    ProcessResult published = cluster.publish("release for git");
    REQUIRE_SUCCESS(published);
    auto line = parse_published(published.out);
    REQUIRE(line);

    const stdfs::path clone = cluster.root() / "clone";
    REQUIRE_SUCCESS(git({"clone", "--quiet", cluster.repo().string(), clone.string()}));
    const dt::TreeListing released = dt::describe_tree(primary);
    const dt::TreeListing checked_out = dt::describe_tree(clone, is_git_dir);
    const std::set<std::string> dropped = fileless_folders(released);
    CHECK(dropped.count("synapse-configs/default/tasks") == 1);  // the layout has empty folders
    auto diff = dt::diff_trees(released, checked_out,
                               [&](const std::string& path) { return dropped.count(path) == 1; });
    INFO("clone differs from the primary:" << dt::format_differences(diff));
    CHECK(diff.empty());
    CHECK(checked_out.at("synapse-configs/default/api/Current.xml").type == dt::NodeType::symlink);
    CHECK((checked_out.at("class-mediators/run-check.sh").mode & S_IXUSR) != 0);

    ProcessResult fsck =
        git({"-C", cluster.repo().string(), "fsck", "--strict", "--no-progress", "--no-dangling"});
    INFO(describe(fsck));
    CHECK(fsck.exit_code == 0);
    CHECK(fsck.out.find("error") == std::string::npos);
    CHECK(fsck.err.find("error") == std::string::npos);
    CHECK(fsck.err.find("warning") == std::string::npos);

    // The release is reachable by its tag and carries its message.
    ProcessResult tag = git({"-C", cluster.repo().string(), "rev-parse", "r1^{commit}"});
    ProcessResult head = git({"-C", cluster.repo().string(), "rev-parse", "main"});
    REQUIRE_SUCCESS(tag);
    CHECK(tag.out == head.out);
    CHECK(head.out.rfind(line->id, 0) == 0);
    ProcessResult subject = git({"-C", cluster.repo().string(), "log", "-1", "--format=%s", "main"});
    CHECK(first_line(subject.out) == "release for git");
}

TEST_CASE("a commit pushed with plain git is pulled by a peer as the next release", "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    dt::generate_tree(primary, dt::Profile::small, 72);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    // A second peer fetches through a file:// URL rather than a path.
    const Node url_peer = cluster.add_peer("peer-url", "file://" + cluster.repo().string());
    for (std::size_t i = 0; i < cluster.peer_count(); ++i) REQUIRE_SUCCESS(cluster.pull(i));

    const stdfs::path clone = cluster.root() / "clone";
    REQUIRE_SUCCESS(git({"clone", "--quiet", cluster.repo().string(), clone.string()}));
    write_file(clone / "synapse-configs/default/api/OrdersAPI.xml",
               "<api name=\"OrdersAPI\" context=\"/v2\"/>\n");
    write_file(clone / "synapse-configs/default/api/HotfixAPI.xml", "<api name=\"HotfixAPI\"/>\n");
    REQUIRE_SUCCESS(
        git({"-C", clone.string(), "rm", "--quiet", "synapse-configs/default/endpoints/OrdersEP.xml"}));
    REQUIRE_SUCCESS(git({"-C", clone.string(), "add", "--all"}));
    REQUIRE_SUCCESS(git({"-C", clone.string(), "commit", "--quiet", "-m", "hotfix made with plain git"}));
    REQUIRE_SUCCESS(git({"-C", clone.string(), "push", "--quiet", "origin", "HEAD:main"}));
    ProcessResult pushed = git({"-C", clone.string(), "rev-parse", "HEAD"});
    REQUIRE_SUCCESS(pushed);

    for (std::size_t i = 0; i < cluster.peer_count(); ++i) {
        const Node& peer = cluster.peer(i);
        ProcessResult pulled = cluster.pull(i);
        REQUIRE_SUCCESS(pulled);
        auto pline = parse_pulled(pulled.out);
        INFO(peer.name << ": " << pulled.out);
        REQUIRE(pline);
        CHECK(pline->from == std::optional<std::uint64_t>(1));
        CHECK(pline->to == 2);
        CHECK(pline->counts.added == 1);
        CHECK(pline->counts.modified == 1);
        CHECK(pline->counts.deleted == 1);
        // The peer now holds exactly the pushed tree (which, made by git, has no empty folders).
        auto diff = dt::diff_trees(dt::describe_tree(clone, is_git_dir), dt::describe_tree(peer.dir));
        INFO(peer.name << " differs from the pushed tree:" << dt::format_differences(diff));
        CHECK(diff.empty());

        ProcessResult status = cluster.status_json(peer);
        REQUIRE_SUCCESS(status);
        auto json = parse_flat_json(status.out);
        CHECK(json.at("release") == "2");
        CHECK(json.at("commit") == first_line(pushed.out));
    }

    // The primary numbers its next release above the pushed one.
    ProcessResult primary_status = cluster.status_json(cluster.primary());
    REQUIRE_SUCCESS(primary_status);
    CHECK(parse_flat_json(primary_status.out).at("release") == "2");
    write_file(primary / "userstores/after_hotfix.xml", "<userstore/>\n");
    ProcessResult next = cluster.publish("after the hotfix");
    REQUIRE_SUCCESS(next);
    auto nline = parse_published(next.out);
    INFO(next.out);
    REQUIRE(nline);
    CHECK(nline->release == 3);
}

// A publish that finds the directory as it was ends early, trusting what it recorded about the branch. When
// plain git has moved the branch meanwhile, that record no longer holds: the directory is compared with the
// new release and published again.
TEST_CASE("an unchanged directory is published again after plain git moved the branch", "[e2e]") {
    Cluster cluster(0);
    const stdfs::path primary = cluster.primary().dir;
    dt::generate_tree(primary, dt::Profile::small, 73);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    // Files written just now are looked at again by the next publish; these ones are settled.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    for (int i = 0; i < 2; ++i) {
        ProcessResult again = cluster.publish("no change");
        REQUIRE_SUCCESS(again);
        INFO(again.out);
        CHECK(parse_nothing_to_publish(again.out) == std::optional<std::uint64_t>(1));
    }
    // What the early end trusts: the release the branch names, with its tree and number.
    ProcessResult main1 = git({"-C", cluster.repo().string(), "rev-parse", "main"});
    ProcessResult tree1_early = git({"-C", cluster.repo().string(), "rev-parse", "r1^{tree}"});
    REQUIRE_SUCCESS(main1);
    REQUIRE_SUCCESS(tree1_early);
    CHECK(read_file(cluster.primary().state / "published") ==
          "commit=" + first_line(main1.out) + "\ntree=" + first_line(tree1_early.out) + "\nrelease=1\n");

    const stdfs::path clone = cluster.root() / "clone";
    REQUIRE_SUCCESS(git({"clone", "--quiet", cluster.repo().string(), clone.string()}));
    write_file(clone / "synapse-configs/default/api/HotfixAPI.xml", "<api name=\"HotfixAPI\"/>\n");
    REQUIRE_SUCCESS(git({"-C", clone.string(), "add", "--all"}));
    REQUIRE_SUCCESS(git({"-C", clone.string(), "commit", "--quiet", "-m", "made with plain git"}));
    REQUIRE_SUCCESS(git({"-C", clone.string(), "push", "--quiet", "origin", "HEAD:main"}));

    // The primary's directory still lacks the pushed file: publishing it is release 3 without it.
    ProcessResult published = cluster.publish("the directory as it is");
    REQUIRE_SUCCESS(published);
    INFO(published.out);
    auto line = parse_published(published.out);
    REQUIRE(line);
    CHECK(line->release == 3);
    CHECK(line->counts.deleted == 1);
    CHECK(line->counts.added == 0);
    ProcessResult tree3 = git({"-C", cluster.repo().string(), "rev-parse", "r3^{tree}"});
    ProcessResult tree1 = git({"-C", cluster.repo().string(), "rev-parse", "r1^{tree}"});
    REQUIRE_SUCCESS(tree3);
    CHECK(tree3.out == tree1.out);
    ProcessResult after = cluster.publish("no change");
    REQUIRE_SUCCESS(after);
    CHECK(parse_nothing_to_publish(after.out) == std::optional<std::uint64_t>(3));
    ProcessResult main3 = git({"-C", cluster.repo().string(), "rev-parse", "main"});
    REQUIRE_SUCCESS(main3);
    CHECK(
        read_file(cluster.primary().state / "published").rfind("commit=" + first_line(main3.out) + "\n", 0) ==
        0);
}
