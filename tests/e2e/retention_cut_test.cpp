// A peer follows a retention cut only when the new history proves it replaces the node's own, and its
// records change only once the release it applies is trusted: a forged cut (a root commit with a
// Depsync-Cut trailer and a copied tree) is refused with every record as it was, and a dry run writes none.

#include <catch2/catch.hpp>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

std::string git_out(const stdfs::path& repo, const std::vector<std::string>& args) {
    std::vector<std::string> full{"-C", repo.string()};
    full.insert(full.end(), args.begin(), args.end());
    ProcessResult r = git(full);
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

// Every file of the state folder but the fetched copy and the lock, with its bytes.
std::map<std::string, std::string> state_records(const Node& node) {
    std::map<std::string, std::string> out;
    for (auto it = stdfs::recursive_directory_iterator(node.state);
         it != stdfs::recursive_directory_iterator(); ++it) {
        const std::string rel = stdfs::relative(it->path(), node.state).string();
        if (rel == "repo.git" || rel == "lock") {
            if (it->is_directory()) it.disable_recursion_pending();
            continue;
        }
        out[rel] = it->is_regular_file() ? read_file(it->path()) : std::string("<dir>");
    }
    return out;
}

// `run_record`: whether the record of the last run (which a real run updates, failed or not) is compared
// too.
enum class RunRecord { compare, skip };

void require_same_records(std::map<std::string, std::string> before, const Node& node,
                          RunRecord run_record = RunRecord::compare) {
    auto after = state_records(node);
    if (run_record == RunRecord::skip) {
        before.erase("last-run");
        after.erase("last-run");
    }
    for (const auto& [path, bytes] : before) {
        INFO(path);
        CHECK(after.count(path) == 1);
        if (after.count(path)) CHECK(after.at(path) == bytes);
    }
    for (const auto& [path, bytes] : after) {
        INFO("new in the state folder: " << path);
        CHECK(before.count(path) == 1);
    }
}

// Writes a commit with plain git into the release repository (as someone with push access would).
std::string commit_tree(const Cluster& cluster, const std::string& tree, const std::string& message,
                        const std::string& parent = {}) {
    std::vector<std::string> args{"commit-tree", tree, "-m", message};
    if (!parent.empty()) args.insert(args.end(), {"-p", parent});
    return git_out(cluster.repo(), args);
}

void point_main_at(const Cluster& cluster, const std::string& id) {
    REQUIRE_SUCCESS(git({"-C", cluster.repo().string(), "update-ref", "refs/heads/main", id}));
}

// Sets `key` in the node's config file, replacing the line init wrote.
void set_config(const Node& node, const std::string& key, const std::string& value) {
    std::istringstream in(read_file(node.config));
    std::string out;
    for (std::string line; std::getline(in, line);)
        if (line.rfind(key + " =", 0) != 0) out += line + "\n";
    out += key + " = " + value + "\n";
    write_file(node.config, out);
}

void publish_file(const Cluster& cluster, const std::string& content) {
    write_file(cluster.primary().dir / "api/a.xml", content);
    ProcessResult r = cluster.publish("release");
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
}

}  // namespace

TEST_CASE("a forged retention cut is refused, changes no record, and the genuine history applies after it",
          "[e2e][gc][cut]") {
    Cluster cluster(1);
    publish_file(cluster, "<a v='1'/>\n");
    publish_file(cluster, "<a v='2'/>\n");
    REQUIRE_SUCCESS(cluster.pull(0));
    const Node& peer = cluster.peer(0);
    const std::string genuine = git_out(cluster.repo(), {"rev-parse", "main"});
    const std::string r1 = git_out(cluster.repo(), {"rev-parse", "main~1"});
    const std::string r2_tree = git_out(cluster.repo(), {"rev-parse", "main^{tree}"});
    const std::string r1_tree = git_out(cluster.repo(), {"rev-parse", "main~1^{tree}"});
    const std::string root = git_out(cluster.repo(), {"rev-list", "--max-parents=0", "main"});
    const auto records = state_records(peer);
    const dt::TreeListing deployed_tree = dt::describe_tree(peer.dir);

    // The forger's root copies r2's tree; its child is what the forger wants deployed.
    std::string trailers;
    SECTION("no Depsync-Replaces") {
        trailers = "Depsync-Release: 2\nDepsync-Cut: 1\nDepsync-Origin: " + root;
    }
    SECTION("Depsync-Replaces naming another release") {
        trailers =
            "Depsync-Release: 2\nDepsync-Replaces: " + r1 + "\nDepsync-Cut: 1\nDepsync-Origin: " + root;
    }
    SECTION("the right Depsync-Replaces in a history of another origin") {
        trailers = "Depsync-Release: 2\nDepsync-Replaces: " + genuine +
                   "\nDepsync-Cut: 1\nDepsync-Origin: " + genuine;
    }
    SECTION("a cut number that wrapped around") {
        trailers =
            "Depsync-Release: 2\nDepsync-Replaces: " + genuine + "\nDepsync-Cut: -1\nDepsync-Origin: " + root;
    }
    SECTION("a cut that is not older than the release it keeps") {
        trailers =
            "Depsync-Release: 2\nDepsync-Replaces: " + genuine + "\nDepsync-Cut: 2\nDepsync-Origin: " + root;
    }
    SECTION("two releases claiming to replace the deployed one") {
        const std::string first = commit_tree(cluster, r2_tree,
                                              "release\n\nDepsync-Release: 2\nDepsync-Replaces: " + genuine +
                                                  "\nDepsync-Cut: 1\nDepsync-Origin: " + root);
        const std::string second = commit_tree(
            cluster, r2_tree, "release\n\nDepsync-Release: 3\nDepsync-Replaces: " + genuine, first);
        trailers.clear();
        point_main_at(cluster, commit_tree(cluster, r1_tree, "evil\n\nDepsync-Release: 4", second));
    }
    if (!trailers.empty()) {
        const std::string forged_root = commit_tree(cluster, r2_tree, "release\n\n" + trailers);
        point_main_at(cluster, commit_tree(cluster, r1_tree, "evil\n\nDepsync-Release: 3", forged_root));
    }

    for (bool dry : {true, false}) {
        INFO((dry ? "pull --dry-run" : "pull"));
        ProcessResult refused =
            cluster.pull(0, dry ? std::vector<std::string>{"--dry-run"} : std::vector<std::string>{});
        INFO(describe(refused));
        CHECK(refused.exit_code == 1);
        CHECK(contains(refused.err, "no longer contains the deployed release r2"));
        CHECK(contains(refused.err, "Nothing was applied"));
        CHECK(refused.err.find('\n') == refused.err.size() - 1);  // one line
        // A real pull records its failure in last-run; a dry run writes nothing at all.
        require_same_records(records, peer, dry ? RunRecord::compare : RunRecord::skip);
        CHECK(dt::diff_trees(deployed_tree, dt::describe_tree(peer.dir)).empty());
    }

    // The genuine history comes back and moves on: the node takes its next release as if nothing happened.
    point_main_at(cluster, genuine);
    publish_file(cluster, "<a v='3'/>\n");
    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    auto line = parse_pulled(pulled.out);
    REQUIRE(line);
    CHECK(line->from == std::optional<std::uint64_t>(2));
    CHECK(line->to == 3);
    CHECK(differences(cluster.primary().dir, peer.dir).empty());
}

TEST_CASE("pull --dry-run after a genuine cut changes no state record, and the real pull follows the cut",
          "[e2e][gc][cut]") {
    Cluster cluster(1);
    for (int n = 1; n <= 3; ++n) publish_file(cluster, "<a v='" + std::to_string(n) + "'/>\n");
    REQUIRE_SUCCESS(cluster.pull(0));
    publish_file(cluster, "<a v='4'/>\n");
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"gc", "--keep", "2", "--keep-days", "0"}));
    const Node& peer = cluster.peer(0);
    const auto records = state_records(peer);
    REQUIRE(records.count("deployed"));

    ProcessResult dry = cluster.pull(0, {"--dry-run"});
    REQUIRE_SUCCESS(dry);
    CHECK(contains(dry.out, "would apply r3 -> r4"));
    require_same_records(records, peer);

    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    auto line = parse_pulled(pulled.out);
    REQUIRE(line);
    CHECK(line->from == std::optional<std::uint64_t>(3));
    CHECK(line->to == 4);
    CHECK(parse_flat_json(cluster.status_json(peer).out).at("commit") ==
          git_out(cluster.repo(), {"rev-parse", "main"}));
}

TEST_CASE("a peer that missed two cuts follows them, and a tag follows its release through both",
          "[e2e][gc][cut]") {
    Cluster cluster(1);
    for (int n = 1; n <= 4; ++n) publish_file(cluster, "<a v='" + std::to_string(n) + "'/>\n");
    REQUIRE_SUCCESS(cluster.pull(0, {"--to", "r3"}));
    REQUIRE_SUCCESS(git({"-C", cluster.repo().string(), "tag", "golden", "r3"}));
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"gc", "--keep", "3", "--keep-days", "0"}));
    publish_file(cluster, "<a v='5'/>\n");
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"gc", "--keep", "3", "--keep-days", "0"}));
    // r3 was written again twice; the tag followed it both times.
    CHECK(git_out(cluster.repo(), {"rev-parse", "golden^{commit}"}) ==
          git_out(cluster.repo(), {"rev-parse", "r3"}));
    CHECK(git_out(cluster.repo(), {"rev-list", "--count", "main"}) == "3");

    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    auto line = parse_pulled(pulled.out);
    REQUIRE(line);
    CHECK(line->from == std::optional<std::uint64_t>(3));
    CHECK(line->to == 5);
    CHECK(differences(cluster.primary().dir, cluster.peer(0).dir).empty());
}

TEST_CASE(
    "a cut by an older gc (no Depsync-Origin) is refused with the command to run, and after it the next "
    "cut is followed",
    "[e2e][gc][cut]") {
    Cluster cluster(1);
    for (int n = 1; n <= 3; ++n) publish_file(cluster, "<a v='" + std::to_string(n) + "'/>\n");
    REQUIRE_SUCCESS(cluster.pull(0, {"--to", "r2"}));
    const Node& peer = cluster.peer(0);

    // What gc wrote before cuts named their origin: the kept releases again, the oldest without a parent,
    // each naming the id it replaces, the oldest the cut.
    auto again = [&](const std::string& rev, const std::string& extra, const std::string& parent) {
        std::string message = git_out(cluster.repo(), {"log", "-1", "--format=%B", rev});
        message += "\nDepsync-Replaces: " + git_out(cluster.repo(), {"rev-parse", rev}) + extra;
        return commit_tree(cluster, git_out(cluster.repo(), {"rev-parse", rev + "^{tree}"}), message, parent);
    };
    const std::string old_root = again("r2", "\nDepsync-Cut: 1", "");
    point_main_at(cluster, again("r3", "", old_root));
    const auto records = state_records(peer);
    const dt::TreeListing deployed_tree = dt::describe_tree(peer.dir);

    ProcessResult refused = cluster.pull(0);
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(contains(refused.err, "names no Depsync-Origin, as a cut written by an older depsync gc does"));
    CHECK(contains(refused.err, "then run 'depsync pull --accept-rewrite' once"));
    CHECK(refused.err.find('\n') == refused.err.size() - 1);  // one line
    require_same_records(records, peer, RunRecord::skip);
    CHECK(dt::diff_trees(deployed_tree, dt::describe_tree(peer.dir)).empty());

    // The command it names takes the node onto the cut history.
    ProcessResult accepted = cluster.pull(0, {"--accept-rewrite"});
    REQUIRE_SUCCESS(accepted);
    auto line = parse_pulled(accepted.out);
    REQUIRE(line);
    CHECK(line->from == std::optional<std::uint64_t>(2));
    CHECK(line->to == 3);

    // The next gc names the origin of that history (its cut root), and the node follows it unaided.
    publish_file(cluster, "<a v='4'/>\n");
    publish_file(cluster, "<a v='5'/>\n");
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"gc", "--keep", "2", "--keep-days", "0"}));
    CHECK(git_out(cluster.repo(), {"log", "-1", "--format=%(trailers:key=Depsync-Origin,valueonly)",
                                   git_out(cluster.repo(), {"rev-list", "--max-parents=0", "main"})}) ==
          old_root);
    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    line = parse_pulled(pulled.out);
    REQUIRE(line);
    CHECK(line->from == std::optional<std::uint64_t>(3));
    CHECK(line->to == 5);
    CHECK(differences(cluster.primary().dir, peer.dir).empty());
}

TEST_CASE(
    "a pull after a genuine cut that the apply refuses changes no record, and the next pull follows the cut",
    "[e2e][gc][cut]") {
    Cluster cluster(1);
    for (int n = 1; n <= 3; ++n) publish_file(cluster, "<a v='" + std::to_string(n) + "'/>\n");
    REQUIRE_SUCCESS(cluster.pull(0));
    publish_file(cluster, "<a v='4'/>\n");
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"gc", "--keep", "2", "--keep-days", "0"}));
    const Node& peer = cluster.peer(0);
    set_config(peer, "local_changes", "refuse");
    write_file(peer.dir / "api/a.xml", "<a v='local'/>\n");  // a local edit of the path r4 changes
    const auto records = state_records(peer);
    REQUIRE(records.count("deployed"));
    const dt::TreeListing local_tree = dt::describe_tree(peer.dir);

    // The cut is genuine and r4 trusted, but the apply refuses: the records stay as they were.
    ProcessResult refused = cluster.pull(0);
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(contains(refused.err, "local_changes = refuse"));
    require_same_records(records, peer, RunRecord::skip);
    CHECK(dt::diff_trees(local_tree, dt::describe_tree(peer.dir)).empty());

    // With local_changes = overwrite (the edit goes to a backup) the node follows the cut and applies r4.
    set_config(peer, "local_changes", "overwrite");
    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    auto line = parse_pulled(pulled.out);
    REQUIRE(line);
    CHECK(line->from == std::optional<std::uint64_t>(3));
    CHECK(line->to == 4);
    CHECK(differences(cluster.primary().dir, peer.dir).empty());
    CHECK(parse_flat_json(cluster.status_json(peer).out).at("commit") ==
          git_out(cluster.repo(), {"rev-parse", "main"}));
}
