// depsync gc: retention on the primary, peers following the cut, and space reclaimed on both sides.

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <sstream>

#include "cluster.hpp"
#include "support/fault_util.hpp"
#include "support/process.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

std::uint64_t objects_bytes(const stdfs::path& repo) {
    std::uint64_t total = 0;
    for (const auto& e : stdfs::recursive_directory_iterator(repo / "objects"))
        if (e.is_regular_file()) total += e.file_size();
    return total;
}

std::string git_out(const stdfs::path& repo, const std::vector<std::string>& args) {
    std::vector<std::string> full{"-C", repo.string()};
    full.insert(full.end(), args.begin(), args.end());
    ProcessResult r = git(full);
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    return r.out;
}

bool has_object(const stdfs::path& repo, const std::string& oid) {
    return git({"-C", repo.string(), "cat-file", "-e", oid}).exit_code == 0;
}

// Blob ids of every file of a release, by path.
std::map<std::string, std::string> blobs_of(const stdfs::path& repo, const std::string& rev) {
    std::map<std::string, std::string> out;
    std::istringstream in(git_out(repo, {"ls-tree", "-r", rev}));
    for (std::string line; std::getline(in, line);) {
        // "<mode> blob <oid>\t<path>"
        auto tab = line.find('\t');
        auto sp = line.rfind(' ', tab);
        out[line.substr(tab + 1)] = line.substr(sp + 1, tab - sp - 1);
    }
    return out;
}

std::uint64_t status_release(const Cluster& cluster, const Node& node) {
    return std::stoull(parse_flat_json(cluster.status_json(node).out).at("release"));
}

}  // namespace

TEST_CASE("gc drops releases beyond the retention, reclaims space, and every peer converges", "[e2e][gc]") {
    // peer 0 stays at r2 (dropped by the cut), peer 1 at r6 (kept), peer 2 pulls every kept release.
    Cluster cluster(3);
    const Node& primary = cluster.primary();
    dt::Rng rng(71);
    dt::generate_tree(primary.dir, dt::Profile::small, 71);
    std::map<std::uint64_t, dt::TreeListing> trees;
    for (std::uint64_t n = 1; n <= 8; ++n) {
        if (n > 1) {
            dt::bump_version(primary.dir, rng);
            dt::rebuild_in_place(primary.dir, rng);
        }
        REQUIRE_SUCCESS(cluster.publish("release " + std::to_string(n)));
        trees[n] = dt::describe_tree(primary.dir);
        if (n == 2) REQUIRE_SUCCESS(cluster.pull(0));
        if (n == 6) REQUIRE_SUCCESS(cluster.pull(1));
    }
    // A file only the dropped releases hold: its object must be gone afterwards, on both sides.
    std::map<std::string, std::string> r1_blobs = blobs_of(cluster.repo(), "r1");
    std::set<std::string> kept_blobs;
    for (int n = 5; n <= 8; ++n)
        for (const auto& kv : blobs_of(cluster.repo(), "r" + std::to_string(n))) kept_blobs.insert(kv.second);
    std::string dropped_blob;
    for (const auto& kv : r1_blobs)
        if (!kept_blobs.count(kv.second)) dropped_blob = kv.second;
    REQUIRE_FALSE(dropped_blob.empty());
    REQUIRE(has_object(cluster.peer(0).state / "repo.git", dropped_blob));
    const std::string old_tip = git_out(cluster.repo(), {"rev-parse", "main"});

    SECTION("a dry run changes nothing") {
        ProcessResult dry = cluster.depsync(primary, {"gc", "--keep", "4", "--keep-days", "0", "--dry-run"});
        REQUIRE_SUCCESS(dry);
        CHECK(dry.out.find("would keep r5..r8 (4 releases) and drop r1..r4") != std::string::npos);
        CHECK(git_out(cluster.repo(), {"rev-parse", "main"}) == old_tip);
        CHECK(has_object(cluster.repo(), dropped_blob));
    }

    SECTION("releases newer than keep_days are kept whatever keep says") {
        ProcessResult kept = cluster.depsync(primary, {"gc", "--keep", "1", "--keep-days", "1", "--json"});
        REQUIRE_SUCCESS(kept);
        std::string flat = kept.out;
        const std::string no_tags = "\"tags_removed\":[],";
        REQUIRE(flat.find(no_tags) != std::string::npos);
        flat.erase(flat.find(no_tags), no_tags.size());
        auto json = parse_flat_json(flat);
        CHECK(json.at("kept") == "8");
        CHECK(json.at("dropped") == "0");
        CHECK(git_out(cluster.repo(), {"rev-parse", "main"}) == old_tip);
        CHECK(dt::fsck_problems(cluster.repo()).empty());
    }

    SECTION("the cut") {
        const std::uint64_t before = objects_bytes(cluster.repo());
        ProcessResult gc = cluster.depsync(primary, {"gc", "--keep", "4", "--keep-days", "0", "--json"});
        REQUIRE_SUCCESS(gc);
        // tags_removed is the one array: checked as text, the rest as a flat object.
        const std::string tags = "\"tags_removed\":[\"r1\",\"r2\",\"r3\",\"r4\"],";
        REQUIRE(gc.out.find(tags) != std::string::npos);
        std::string flat = gc.out;
        flat.erase(flat.find(tags), tags.size());
        auto json = parse_flat_json(flat);
        CHECK(json.at("first_kept") == "5");
        CHECK(json.at("last") == "8");
        CHECK(json.at("dropped") == "4");
        CHECK(std::stoull(json.at("bytes_before")) == before);
        const std::uint64_t after = objects_bytes(cluster.repo());
        CHECK(std::stoull(json.at("bytes_after")) == after);
        CHECK(after < before);
        CHECK(std::stoull(json.at("reclaimed")) == before - after);
        std::cout << "gc: primary repository " << before << " -> " << after << " bytes for 8 -> 4 releases\n";

        // git agrees: a valid repository, four commits, the dropped releases' tags and objects gone.
        CHECK(dt::fsck_problems(cluster.repo()).empty());
        CHECK(git_out(cluster.repo(), {"rev-list", "--count", "main"}) == "4\n");
        CHECK(git_out(cluster.repo(), {"tag", "--list"}) == "r5\nr6\nr7\nr8\n");
        CHECK_FALSE(has_object(cluster.repo(), dropped_blob));
        CHECK(git_out(cluster.repo(),
                      {"log", "-1", "--format=%(trailers:key=Depsync-Cut,valueonly)", "r5"}) == "4\n\n");
        // The primary's own status and history still name the releases by number.
        CHECK(status_release(cluster, primary) == 8);
        ProcessResult log = cluster.depsync(primary, {"log"});
        REQUIRE_SUCCESS(log);
        CHECK(log.out.find("r5 ") != std::string::npos);
        CHECK(log.out.find("r4 ") == std::string::npos);

        // Every kept release still pulls byte-exact.
        for (std::uint64_t n = 5; n <= 8; ++n) {
            INFO("pull --to r" << n);
            REQUIRE_SUCCESS(cluster.pull(2, {"--to", "r" + std::to_string(n)}));
            auto diff = dt::diff_trees(trees[n], dt::describe_tree(cluster.peer(2).dir));
            INFO(dt::format_differences(diff));
            CHECK(diff.empty());
        }
        // A peer whose release was dropped, and one whose release was rewritten, follow without
        // --accept-rewrite.
        for (std::size_t p : {std::size_t{0}, std::size_t{1}}) {
            INFO("peer " << p);
            ProcessResult pulled = cluster.pull(p);
            REQUIRE_SUCCESS(pulled);
            auto line = parse_pulled(pulled.out);
            REQUIRE(line);
            CHECK(line->from == std::optional<std::uint64_t>(p == 0 ? 2 : 6));
            CHECK(line->to == 8);
            CHECK(dt::diff_trees(trees[8], dt::describe_tree(cluster.peer(p).dir)).empty());
            CHECK(status_release(cluster, cluster.peer(p)) == 8);
            const stdfs::path peer_repo = cluster.peer(p).state / "repo.git";
            CHECK(dt::fsck_problems(peer_repo).empty());
            CHECK_FALSE(has_object(peer_repo, dropped_blob));
        }
        // Rolling back to a kept release works; a dropped one cannot be named any more.
        ProcessResult gone = cluster.depsync(primary, {"rollback", "r2"});
        CHECK(gone.exit_code == 2);
        REQUIRE_SUCCESS(cluster.depsync(primary, {"rollback", "r5"}));
        REQUIRE_SUCCESS(cluster.pull(0));
        CHECK(dt::diff_trees(trees[5], dt::describe_tree(cluster.peer(0).dir)).empty());

        // A second gc with nothing to drop keeps the history as it is.
        ProcessResult again = cluster.depsync(primary, {"gc", "--keep", "4", "--keep-days", "0"});
        REQUIRE_SUCCESS(again);
        CHECK(again.out.find("dropped r5") != std::string::npos);  // r9 is new: r5 goes now
        REQUIRE_SUCCESS(cluster.pull(0));
        REQUIRE_SUCCESS(cluster.pull(1));
        CHECK(dt::diff_trees(trees[5], dt::describe_tree(cluster.peer(1).dir)).empty());
        CHECK(dt::fsck_problems(cluster.repo()).empty());
    }
}

TEST_CASE("gc packs a history of tiny files and XML, and git reads every kept release", "[e2e][gc]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    std::map<int, dt::TreeListing> trees;
    for (int n = 1; n <= 4; ++n) {
        write_file(primary.dir / "f.txt", "1 " + std::to_string(n) + "\n");  // smaller than a SHA-1
        write_file(primary.dir / "api/a.xml", std::string(4000, 'x') + std::to_string(n) + "\n");
        REQUIRE_SUCCESS(cluster.publish("r" + std::to_string(n)));
        trees[n] = dt::describe_tree(primary.dir);
    }
    ProcessResult gc = cluster.depsync(primary, {"gc", "--keep", "2", "--keep-days", "0"});
    REQUIRE_SUCCESS(gc);
    CHECK(gc.out.find("gc: kept r3..r4 (2 releases); dropped r1..r2\n") == 0);
    CHECK(dt::fsck_problems(cluster.repo()).empty());
    CHECK(git_out(cluster.repo(), {"show", "r3:f.txt"}) == "1 3\n");
    CHECK(git_out(cluster.repo(), {"show", "r4:api/a.xml"}) == std::string(4000, 'x') + "4\n");
    REQUIRE_SUCCESS(cluster.pull(0));
    CHECK(dt::diff_trees(trees[4], dt::describe_tree(cluster.peer(0).dir)).empty());
    // Text is deflated in the pack: the pack is far smaller than the 4 KB XML releases it holds.
    CHECK(objects_bytes(cluster.repo()) < 4000);
}

TEST_CASE("a peer pinned at a release that gc drops stays there until unpinned", "[e2e][gc]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    dt::Rng rng(72);
    dt::generate_tree(primary.dir, dt::Profile::small, 72);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    const dt::TreeListing r1 = dt::describe_tree(primary.dir);
    REQUIRE_SUCCESS(cluster.pull(0));
    REQUIRE_SUCCESS(cluster.depsync(cluster.peer(0), {"pin", "r1"}));
    for (int n = 2; n <= 4; ++n) {
        dt::bump_version(primary.dir, rng);
        REQUIRE_SUCCESS(cluster.publish("r" + std::to_string(n)));
    }
    REQUIRE_SUCCESS(cluster.depsync(primary, {"gc", "--keep", "2", "--keep-days", "0"}));

    ProcessResult held = cluster.pull(0);
    REQUIRE_SUCCESS(held);
    CHECK(held.out == "pinned at r1 (upstream at r4)\n");
    CHECK(dt::diff_trees(r1, dt::describe_tree(cluster.peer(0).dir)).empty());
    // The pinned release's objects stay on the peer (verify reads them).
    REQUIRE_SUCCESS(cluster.depsync(cluster.peer(0), {"gc"}));
    REQUIRE_SUCCESS(cluster.depsync(cluster.peer(0), {"verify", "--full"}));

    REQUIRE_SUCCESS(cluster.depsync(cluster.peer(0), {"unpin"}));
    REQUIRE_SUCCESS(cluster.pull(0));
    CHECK(dt::diff_trees(primary.dir, cluster.peer(0).dir).empty());
}

TEST_CASE("gc, and gc --dry-run, refuse to drop releases of a signed history without a signing key",
          "[e2e][gc]") {
    Cluster cluster(0);
    const Node& primary = cluster.primary();
    write_file(primary.dir / "api/a.xml", "<a/>\n");
    REQUIRE_SUCCESS(cluster.publish("r1"));
    write_file(primary.dir / "api/a.xml", "<a v='2'/>\n");
    REQUIRE_SUCCESS(cluster.publish("r2"));
    // A release signed by plain git stands in for a signed history.
    dt::TempDir keys;
    ProcessResult keygen =
        dt::run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (keys / "k").string()});
    REQUIRE_SUCCESS(keygen);
    const stdfs::path work = keys / "clone";
    REQUIRE_SUCCESS(git({"clone", "-q", cluster.repo().string(), work.string()}));
    REQUIRE_SUCCESS(
        git({"-C", work.string(), "-c", "gpg.format=ssh", "-c", "user.signingkey=" + (keys / "k").string(),
             "commit", "-q", "-S", "--allow-empty", "-m", "signed\n\nDepsync-Release: 3"}));
    REQUIRE_SUCCESS(git({"-C", work.string(), "push", "-q", "origin", "main"}));
    const std::string tip = git_out(cluster.repo(), {"rev-parse", "main"});

    // The dry run refuses what the real run refuses.
    for (bool dry : {true, false}) {
        INFO((dry ? "gc --dry-run" : "gc"));
        std::vector<std::string> args{"gc", "--keep", "1", "--keep-days", "0"};
        if (dry) args.push_back("--dry-run");
        ProcessResult refused = cluster.depsync(primary, args);
        INFO(describe(refused));
        CHECK(refused.exit_code == 2);
        CHECK(refused.err.find("signing_key") != std::string::npos);
        CHECK(git_out(cluster.repo(), {"rev-parse", "main"}) == tip);
    }
}
