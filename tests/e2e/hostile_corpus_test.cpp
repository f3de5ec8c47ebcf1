// The hostile-repository corpus: every case is a release crafted with git plumbing on top of a good release
// (real objects in the bare repository a peer pulls from), replayed on every run. For each case the peer's
// pull must: exit 1 with one error line naming the reason; leave the deployment directory exactly as the
// good release left it; write nothing into the canary folder beside it; leave the state records (deployed,
// journal, pinned) unchanged byte for byte; keep its fetched copy (never set it aside to fetch everything
// again). log, status and verify keep working on the peer and on the primary, and log marks the release.
//
// Adding a case: one entry in a table below, a function that returns the hostile root tree built from the
// good one, and a piece of the reason the refusal must give.

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <functional>
#include <optional>

#include "cluster.hpp"
#include "crafter.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

struct CorpusCase {
    std::string what;
    // The hostile root tree, given the crafter and the good release's root tree.
    std::function<std::string(Crafter&, const std::string& good)> tree;
    std::string reason;  // a piece of the one-line refusal
    // false when only applying the release finds the defect (a file entry naming a tree: reading every
    // file's object type on every read would cost a pull one object header per file). log then does not
    // mark it, and the primary's verify reports the file as missing (exit 4).
    bool found_by_reading = true;
    std::vector<std::string> options = {};  // global options for every command of the case
};

// A primary with a good release applied on one peer; beside the peer's directory a canary folder.
struct Corpus {
    Cluster cluster{1};
    Crafter craft{cluster.repo(), cluster.root() / "craft"};
    stdfs::path canary = cluster.peer(0).dir.parent_path() / "outside";
    std::string good_commit;
    dt::TreeListing good_tree;
    dt::TreeListing canary_tree;

    explicit Corpus(const std::vector<std::string>& extra_init = {}) {
        (void)extra_init;
        const stdfs::path dir = cluster.primary().dir;
        dt::Rng rng(3);
        stdfs::create_directories(dir / "carbonapps");
        dt::write_car(dir / "carbonapps/Orders_1.0.0.car", "Orders", "1.0.0", 2000, rng);
        write_file(dir / "synapse-configs/default/api/OrdersAPI.xml", "<api name=\"OrdersAPI\"/>\n");
        write_file(dir / "userstores/primary.xml", "<userstore/>\n");
        stdfs::create_directories(dir / "synapse-configs/default/sequences");
        write_file(canary / "passwd", "root:x:0:0\n");
        ProcessResult published = cluster.publish("good");
        if (published.exit_code != 0) throw std::runtime_error("cannot publish:\n" + describe(published));
        ProcessResult pulled = cluster.pull(0);
        if (pulled.exit_code != 0) throw std::runtime_error("cannot pull:\n" + describe(pulled));
        good_commit = craft.rev("refs/heads/main");
        good_tree = dt::describe_tree(cluster.peer(0).dir);
        canary_tree = dt::describe_tree(canary);
    }

    std::string good_root() { return craft.rev(good_commit + "^{tree}"); }

    std::map<std::string, std::optional<std::string>> records() const {
        std::map<std::string, std::optional<std::string>> out;
        for (const char* name : {"deployed", "journal", "pinned"}) {
            stdfs::path p = cluster.peer(0).state / name;
            out[name] = stdfs::exists(p) ? std::optional<std::string>(read_file(p)) : std::nullopt;
        }
        return out;
    }

    ino_t fetched_copy_inode() const {
        struct stat st {};
        ::stat((cluster.peer(0).state / "repo.git").c_str(), &st);
        return st.st_ino;
    }

    void require_intact() {
        auto diff =
            dt::diff_trees(good_tree, dt::describe_tree(cluster.peer(0).dir), {}, dt::ModeCheck::exact);
        INFO("the deployment directory changed:" << dt::format_differences(diff));
        CHECK(diff.empty());
        auto outside = dt::diff_trees(canary_tree, dt::describe_tree(canary), {}, dt::ModeCheck::exact);
        INFO("written outside the deployment directory:" << dt::format_differences(outside));
        CHECK(outside.empty());
    }

    // Publishes the case's tree as the branch tip (a plain commit on the good release) and checks the pull.
    void replay(const CorpusCase& c) {
        INFO("case: " << c.what);
        const std::string tree = c.tree(craft, good_root());
        const std::string commit = craft.publish(tree, good_commit);
        const auto records_before = records();
        const ino_t copy_before = fetched_copy_inode();

        auto run = [&](const Node& node, std::vector<std::string> args) {
            args.insert(args.begin(), c.options.begin(), c.options.end());
            return cluster.depsync(node, args);
        };
        ProcessResult r = run(cluster.peer(0), {"pull"});
        INFO(describe(r));
        CHECK(r.exit_code == 1);
        // One error line, naming the reason; no refetch of the whole history.
        std::size_t errors = 0;
        std::string error_line;
        std::size_t pos = 0;
        while (pos < r.err.size()) {
            std::size_t eol = r.err.find('\n', pos);
            std::string line = r.err.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
            if (line.rfind("depsync: error: ", 0) == 0) {
                ++errors;
                error_line = line;
            }
            pos = eol == std::string::npos ? r.err.size() : eol + 1;
        }
        CHECK(errors == 1);
        CHECK(error_line.find(c.reason) != std::string::npos);
        CHECK(r.err.find("fetching them again") == std::string::npos);
        CHECK(fetched_copy_inode() == copy_before);
        CHECK(records() == records_before);
        require_intact();

        // Refused again, the same way, by the next pull (nothing remembered wrongly in between).
        ProcessResult again = run(cluster.peer(0), {"pull"});
        INFO(describe(again));
        CHECK(again.exit_code == 1);
        CHECK(again.err.find(c.reason) != std::string::npos);
        CHECK(records() == records_before);

        // The other verbs keep working, on the peer and on the primary.
        for (const Node* node : {&cluster.peer(0), &cluster.primary()}) {
            INFO("node " << node->name);
            ProcessResult log = run(*node, {"log", "-n", "3"});
            INFO(describe(log));
            CHECK(log.exit_code == 0);
            if (c.found_by_reading) CHECK(log.out.find("[unsafe: ") != std::string::npos);
            ProcessResult status = run(*node, {"status"});
            INFO(describe(status));
            CHECK(status.exit_code == 0);
            ProcessResult verify = run(*node, {"verify"});
            INFO(describe(verify));
            if (c.found_by_reading || node == &cluster.peer(0)) {
                CHECK(verify.exit_code == 0);
            } else {
                CHECK(verify.exit_code == 4);
            }
        }
        require_intact();
        (void)commit;
    }
};

std::string nul(const std::string& before, const std::string& after = "") {
    return before + std::string(1, '\0') + after;
}

// `depth` folders named `name`, nested, with one file at the bottom.
std::string nested(Crafter& c, const std::string& name, std::size_t depth) {
    std::string t = c.tree({{blob_mode, "leaf.xml", c.blob("<leaf/>\n")}});
    for (std::size_t i = 0; i < depth; ++i) t = c.tree({{tree_mode, name, t}});
    return t;
}

const std::vector<CorpusCase>& symlink_cases() {
    static const std::vector<CorpusCase> cases = {
        {"symlink target with a NUL byte ('..\\0x': symlink() would store '..')",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{link_mode, "up", c.blob(nul("..", "x"))}});
         },
         "NUL"},
        {"chained links through NUL targets to a file outside (u1 -> ..\\0, u2 -> u1/..\\0, ...)",
         [](Crafter& c, const std::string& g) {
             std::vector<RawEntry> links{{link_mode, "u1", c.blob(nul(".."))}};
             for (int i = 2; i <= 24; ++i)
                 links.push_back(
                     {link_mode, "u" + std::to_string(i), c.blob(nul("u" + std::to_string(i - 1) + "/.."))});
             links.push_back({link_mode, "passwd.xml", c.blob("u24/etc/passwd")});
             return c.with_entries(g, "", links);
         },
         "NUL"},
        {"symlink target longer than the kernel stores (4096 bytes)",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{link_mode, "long", c.blob(std::string(4096, 'a'))}});
         },
         "longer than 4095"},
        {"absolute symlink (a plain-git push of lib.jar -> /opt/shared/driver.jar)",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "carbonapps",
                                   {{link_mode, "lib.jar", c.blob("/opt/shared/driver.jar")}});
         },
         "carbonapps/lib.jar"},
        {"symlink out of the directory into the canary",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "userstores", {{link_mode, "pw", c.blob("../../outside/passwd")}});
         },
         "leaves the deployment directory"},
        {"empty symlink target",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{link_mode, "e", c.blob("")}});
         },
         "empty symlink target"},
    };
    return cases;
}

const std::vector<CorpusCase>& name_cases() {
    static const std::vector<CorpusCase> cases = {
        {"'..' folder",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{tree_mode, "..", g}});
         },
         "'..'"},
        {"'.' file",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{blob_mode, ".", c.blob("x")}});
         },
         "'.'"},
        {"'.git' folder",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{tree_mode, ".git", g}});
         },
         "'.git' name"},
        {"'.GiT' case variant in a subfolder",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "userstores", {{blob_mode, ".GiT", c.blob("[core]\n")}});
         },
         "'.git' name"},
        {"'.git.' with a trailing dot",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{tree_mode, ".git.", g}});
         },
         "'.git' name"},
        {"a name holding '/'",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{blob_mode, "../outside/passwd", c.blob("pwned\n")}});
         },
         "path separator"},
        {"an empty name (git cannot parse the tree)",
         [](Crafter& c, const std::string& g) {
             std::vector<RawEntry> e = c.entries_of(g);
             e.insert(e.begin(), {blob_mode, "", c.blob("x")});
             return c.tree_as_is(e);
         },
         "malformed tree"},
        {"a tree entry named like depsync's temp files",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "carbonapps",
                                   {{blob_mode, ".depsync-tmp.Orders_1.0.0.car", c.blob("x")}});
         },
         "reserved depsync temp name"},
        {"a name of 256 bytes (more than any Linux file system stores)",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{blob_mode, std::string(256, 'n'), c.blob("x")}});
         },
         "longer than 255"},
        {"a path longer than 4095 bytes (folders of 250-byte names)",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{tree_mode, "deep", nested(c, std::string(250, 'd'), 17)}});
         },
         "path longer than 4095"},
        {"a name with a newline",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{blob_mode, "a\nb.xml", c.blob("x")}});
         },
         "control character"},
        {"the same file twice",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(
                 g, "userstores",
                 {{blob_mode, "twice.xml", c.blob("1")}, {blob_mode, "twice.xml", c.blob("2")}});
         },
         "userstores/twice.xml"},
        {"a symlink and a folder of the same name",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{link_mode, "carbonapps", c.blob("../outside")}});
         },
         "carbonapps"},
        {"an unsorted tree (b before a)",
         [](Crafter& c, const std::string& g) {
             std::vector<RawEntry> e = c.entries_of(g);
             e.push_back({blob_mode, "b.xml", c.blob("b")});
             e.push_back({blob_mode, "a.xml", c.blob("a")});
             return c.tree_as_is(e);
         },
         "out of order"},
    };
    return cases;
}

const std::vector<CorpusCase>& mode_cases() {
    static const std::vector<CorpusCase> cases = {
        {"a symlink-mode entry naming a tree",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{link_mode, "l", g}});
         },
         "a symlink entry names a tree"},
        {"a symlink-mode entry naming a commit",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{link_mode, "l", c.rev("refs/heads/main")}});
         },
         "a symlink entry names a commit"},
        {"a folder-mode entry naming a blob",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{tree_mode, "d", c.blob("x")}});
         },
         "a folder entry names a blob"},
        {"a file-mode entry naming a tree",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{blob_mode, "f.xml", g}});
         },
         "a file entry names tree", false},
        {"an executable-mode entry naming a tree",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{exec_mode, "run.sh", g}});
         },
         "a file entry names tree", false},
        {"a submodule (gitlink)",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{gitlink_mode, "module", c.rev("refs/heads/main")}});
         },
         "submodule"},
        {"mode 100600",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{"100600", "f", c.blob("x")}});
         },
         "unsupported entry mode 100600"},
        {"a symlink mode with execute bits (120755)",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{"120755", "l", c.blob("/etc/passwd")}});
         },
         "unsupported entry mode 120755"},
        {"a folder mode with permission bits (40755)",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{"40755", "d", c.tree({{blob_mode, "x", c.blob("x")}})}});
         },
         "unsupported entry mode 40755"},
        {"mode 0",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{"0", "z", c.blob("x")}});
         },
         "unsupported entry mode 0"},
        {"folders nested 300 deep",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{tree_mode, "d", nested(c, "d", 300)}});
         },
         "nested deeper than 256"},
    };
    return cases;
}

}  // namespace

// `fanout` names for the same subtree at each of `levels` levels, above one file: fanout^levels files.
std::string expanding(Crafter& c, int fanout, int levels) {
    std::string t = c.tree({{blob_mode, "f.xml", c.blob("<f/>\n")}});
    for (int level = 0; level < levels; ++level) {
        std::vector<RawEntry> entries;
        for (int i = 0; i < fanout; ++i) entries.push_back({tree_mode, "d" + std::to_string(i), t});
        t = c.tree(entries);
    }
    return t;
}

const std::vector<CorpusCase>& size_cases() {
    static const std::vector<CorpusCase> cases = {
        {"shared subtrees expanding to 10^8 paths, at the default max_entries",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{tree_mode, "x", expanding(c, 10, 8)}});
         },
         "more than 1000000 entries (max_entries)"},
        {"shared subtrees expanding to 4,000 paths, above a lowered max_entries",
         [](Crafter& c, const std::string& g) {
             return c.with_entries(g, "", {{tree_mode, "x", expanding(c, 4, 6)}});
         },
         "more than 1000 entries (max_entries)",
         true,
         {"--max-entries", "1000"}},
    };
    return cases;
}

TEST_CASE("hostile corpus: releases that expand beyond max_entries are refused before anything is written",
          "[e2e][hostile][corpus]") {
    Corpus corpus;
    for (const auto& c : size_cases()) corpus.replay(c);
}

TEST_CASE("hostile corpus: symlinks that escape or cannot be stored as checked are refused cleanly",
          "[e2e][hostile][corpus]") {
    Corpus corpus;
    for (const auto& c : symlink_cases()) corpus.replay(c);
}

TEST_CASE("hostile corpus: names no file system should receive are refused cleanly",
          "[e2e][hostile][corpus]") {
    Corpus corpus;
    for (const auto& c : name_cases()) corpus.replay(c);
}

TEST_CASE("hostile corpus: entries whose mode and object disagree, or odd modes, are refused cleanly",
          "[e2e][hostile][corpus]") {
    Corpus corpus;
    for (const auto& c : mode_cases()) corpus.replay(c);
}

TEST_CASE("one plain-git push of an unsafe tree does not wedge the cluster", "[e2e][hostile]") {
    Cluster cluster(2);
    const stdfs::path dir = cluster.primary().dir;
    write_file(dir / "carbonapps/orders.xml", "<orders n=\"1\"/>\n");
    write_file(dir / "userstores/primary.xml", "<userstore/>\n");
    REQUIRE_SUCCESS(cluster.publish("first"));
    for (std::size_t i = 0; i < 2; ++i) REQUIRE_SUCCESS(cluster.pull(i));
    const stdfs::path clone = cluster.root() / "clone";

    // An operator (or attacker) pushes with plain git: a symlink to a path outside every deployment dir.
    auto plain_push = [&](const std::string& link, const std::string& target) {
        if (!stdfs::exists(clone)) checked_git({"clone", "-q", cluster.repo().string(), clone.string()});
        checked_git({"-C", clone.string(), "pull", "-q", "--ff-only"});
        stdfs::create_symlink(target, clone / link);
        checked_git({"-C", clone.string(), "add", "-A"});
        checked_git({"-C", clone.string(), "commit", "-q", "-m", "shared driver"});
        checked_git({"-C", clone.string(), "push", "-q", "origin", "HEAD:main"});
    };
    auto require_every_verb_works = [&](const char* when) {
        INFO(when);
        for (const Node* node : {&cluster.primary(), &cluster.peer(0), &cluster.peer(1)}) {
            INFO("node " << node->name);
            ProcessResult log = cluster.depsync(*node, {"log", "-n", "2"});
            INFO(describe(log));
            CHECK(log.exit_code == 0);
            CHECK(log.out.find("[unsafe: unsafe path 'carbonapps/lib.jar': absolute symlink target") !=
                  std::string::npos);
            ProcessResult status = cluster.depsync(*node, {"status"});
            INFO(describe(status));
            CHECK(status.exit_code == 0);
            ProcessResult verify = cluster.depsync(*node, {"verify"});
            INFO(describe(verify));
            CHECK(verify.exit_code == 0);
        }
    };
    auto require_peers_follow = [&](const char* when) {
        INFO(when);
        for (std::size_t i = 0; i < 2; ++i) {
            ProcessResult pulled = cluster.pull(i);
            INFO(describe(pulled));
            CHECK(pulled.exit_code == 0);
            CHECK(differences(dir, cluster.peer(i).dir).empty());
        }
    };

    plain_push("carbonapps/lib.jar", "/opt/shared/driver.jar");
    for (std::size_t i = 0; i < 2; ++i) {
        const std::string deployed = read_file(cluster.peer(i).state / "deployed");
        ProcessResult pulled = cluster.pull(i);
        INFO(describe(pulled));
        CHECK(pulled.exit_code == 1);
        CHECK(pulled.err.find("carbonapps/lib.jar") != std::string::npos);
        CHECK(read_file(cluster.peer(i).state / "deployed") == deployed);
        CHECK(differences(dir, cluster.peer(i).dir).empty());
        CHECK_FALSE(stdfs::exists(stdfs::symlink_status(cluster.peer(i).dir / "carbonapps/lib.jar")));
    }
    require_every_verb_works("after the unsafe push");

    // The primary rolls back over it; the peers follow.
    ProcessResult rollback = cluster.depsync(cluster.primary(), {"rollback", "r1"});
    INFO(describe(rollback));
    REQUIRE(rollback.exit_code == 0);
    CHECK(rollback.out == "rollback: r3 restores r1\n");
    require_peers_follow("after the rollback");

    // Again, and this time the primary's next publish from its directory replaces it.
    stdfs::remove_all(clone);
    plain_push("carbonapps/lib.jar", "/opt/shared/driver.jar");
    require_every_verb_works("after the second unsafe push");
    write_file(dir / "carbonapps/orders.xml", "<orders n=\"2\"/>\n");
    ProcessResult published = cluster.publish("next");
    INFO(describe(published));
    REQUIRE(published.exit_code == 0);
    auto line = parse_published(published.out);
    REQUIRE(line);
    CHECK(line->release == 5);
    require_peers_follow("after the publish");
    for (const Node* node : {&cluster.primary(), &cluster.peer(0)}) {
        ProcessResult verify = cluster.depsync(*node, {"verify"});
        INFO(describe(verify));
        CHECK(verify.exit_code == 0);
    }
}
