// Hostile releases: trees crafted with git plumbing (hash-object --literally writes what git itself would
// refuse) on top of a good release in the repository a peer pulls from. Each is refused with a message naming
// the path; the peer's deployment directory stays exactly as the good release left it, and nothing appears
// outside it. Also: a symlink planted in the deployment directory cannot redirect a pull's writes.

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

#include "cluster.hpp"
#include "crafter.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

// What the attacker writes if a hostile entry gets through.
const std::string marker = "PWNED-BY-HOSTILE-RELEASE\n";

struct HostileCase {
    std::string what;
    std::string dir;  // folder the entries are added to ("" for the root)
    std::vector<RawEntry> entries;
    std::string named_path;  // the path the refusal must name
};

// A primary with a first good release, and one peer that has applied it; next to the peer's deployment
// directory, a sentinel folder that must stay empty.
struct HostileSetup {
    Cluster cluster{1};
    Crafter craft{cluster.repo(), cluster.root() / "craft"};
    stdfs::path sentinel = cluster.peer(0).dir.parent_path() / "outside";
    std::string good_commit;
    dt::TreeListing good_tree;

    HostileSetup() {
        const stdfs::path dir = cluster.primary().dir;
        dt::Rng rng(3);
        stdfs::create_directories(dir / "carbonapps");
        dt::write_car(dir / "carbonapps/Orders_1.0.0.car", "Orders", "1.0.0", 2000, rng);
        dt::write_car(dir / "carbonapps/Payments_1.2.0.car", "Payments", "1.2.0", 2000, rng);
        write_file(dir / "synapse-configs/default/api/OrdersAPI.xml", "<api name=\"OrdersAPI\"/>\n");
        write_file(dir / "userstores/primary.xml", "<userstore/>\n");
        stdfs::create_directories(sentinel);
        ProcessResult published = cluster.publish("good");
        if (published.exit_code != 0) throw std::runtime_error("cannot publish:\n" + describe(published));
        ProcessResult pulled = cluster.pull(0);
        if (pulled.exit_code != 0) throw std::runtime_error("cannot pull:\n" + describe(pulled));
        good_commit = craft.rev("refs/heads/main");
        good_tree = dt::describe_tree(cluster.peer(0).dir);
    }

    std::string good_root_tree() { return craft.rev(good_commit + "^{tree}"); }

    // Publishes the hostile case on top of the good release, pulls, and checks that the pull was refused
    // naming the path and that nothing changed on disk.
    void require_refused(const HostileCase& c) {
        INFO("case: " << c.what);
        std::string tree = craft.with_entries(good_root_tree(), c.dir, c.entries);
        craft.publish(tree, good_commit);
        ProcessResult r = cluster.pull(0);
        INFO(describe(r));
        CHECK(r.exit_code == 1);
        CHECK(r.err.find(c.named_path) != std::string::npos);
        require_nothing_written();
    }

    void require_nothing_written() {
        auto diff =
            dt::diff_trees(good_tree, dt::describe_tree(cluster.peer(0).dir), {}, dt::ModeCheck::exact);
        INFO("the deployment directory changed:" << dt::format_differences(diff));
        CHECK(diff.empty());
        auto outside = dt::describe_tree(sentinel);
        INFO("written outside the deployment directory:"
             << dt::format_differences(dt::diff_trees(dt::TreeListing{}, outside)));
        CHECK(outside.empty());
        // Nor anywhere else in the test's folder: no readable file holds the attacker's content.
        for (auto it = stdfs::recursive_directory_iterator(cluster.root());
             it != stdfs::recursive_directory_iterator(); ++it) {
            // The crafted repository, the shared repository it publishes to, and the peer's fetched copy
            // hold the release's objects by design.
            if (it->path() == cluster.root() / "craft" || it->path() == cluster.root() / "releases.git" ||
                it->path().filename() == "repo.git") {
                it.disable_recursion_pending();
                continue;
            }
            if (it->is_symlink() || !it->is_regular_file()) continue;
            INFO("file " << it->path().string());
            CHECK(read_file(it->path()).find(marker) == std::string::npos);
        }
    }

    // After the refusals, a good release on top of the good one still applies.
    void require_recovers() {
        craft.publish(good_root_tree(), good_commit);
        write_file(cluster.primary().dir / "userstores/second.xml", "<userstore name=\"second\"/>\n");
        // The primary's own publish builds on the branch tip, which is now the re-published good tree.
        ProcessResult published = cluster.publish("good again");
        INFO(describe(published));
        REQUIRE(published.exit_code == 0);
        ProcessResult pulled = cluster.pull(0);
        INFO(describe(pulled));
        REQUIRE(pulled.exit_code == 0);
        auto diff = differences(cluster.primary().dir, cluster.peer(0).dir);
        INFO(dt::format_differences(diff));
        CHECK(diff.empty());
    }
};

}  // namespace

TEST_CASE("hostile tree: names git itself rejects ('..', '.git' in any spelling) are refused",
          "[e2e][hostile]") {
    HostileSetup s;
    const std::string payload = s.craft.blob(marker);
    const std::string pwned_tree = s.craft.tree({{blob_mode, "pwned.txt", payload}});
    const std::string up_tree = s.craft.tree({{tree_mode, "outside", pwned_tree}});
    const std::string git_dir =
        s.craft.tree({{blob_mode, "config", s.craft.blob(marker)}, {tree_mode, "hooks", pwned_tree}});

    const std::vector<HostileCase> cases = {
        {"'..' folder at the root", "", {{tree_mode, "..", up_tree}}, "'..'"},
        {"'..' folder in a subfolder", "carbonapps", {{tree_mode, "..", pwned_tree}}, "carbonapps/.."},
        {"'.' folder", "", {{tree_mode, ".", pwned_tree}}, "'.'"},
        {"'.git' folder at the root", "", {{tree_mode, ".git", git_dir}}, ".git"},
        {"'.git' folder in a subfolder", "carbonapps", {{tree_mode, ".git", git_dir}}, "carbonapps/.git"},
        {"'.GIT' folder", "", {{tree_mode, ".GIT", git_dir}}, ".GIT"},
        {"'.Git' file", "userstores", {{blob_mode, ".Git", payload}}, "userstores/.Git"},
        {"'.git.' folder", "", {{tree_mode, ".git.", git_dir}}, ".git."},
        {"'.git ' folder", "", {{tree_mode, ".git ", git_dir}}, ".git "},
        {"'git~1' folder", "", {{tree_mode, "git~1", git_dir}}, "git~1"},
        {"'GIT~1' folder", "carbonapps", {{tree_mode, "GIT~1", git_dir}}, "carbonapps/GIT~1"},
    };
    for (const auto& c : cases) s.require_refused(c);
    s.require_recovers();
}

TEST_CASE("hostile tree: names with control characters, slashes or depsync's temp prefix are refused",
          "[e2e][hostile]") {
    HostileSetup s;
    const std::string payload = s.craft.blob(marker);
    const std::string absolute_target = (s.sentinel / "pwned.txt").string();
    const std::vector<HostileCase> cases = {
        {"control character \\x01",
         "carbonapps",
         {{blob_mode, "bad\x01name.car", payload}},
         "carbonapps/bad"},
        {"newline", "", {{blob_mode, "new\nline.xml", payload}}, "new"},
        {"escape sequence", "userstores", {{blob_mode, "\x1b[31mred.xml", payload}}, "userstores/"},
        {"DEL character", "", {{blob_mode, "del\x7f.xml", payload}}, "del"},
        {"a name holding '../'", "", {{blob_mode, "../outside/pwned.txt", payload}}, "../outside/pwned.txt"},
        {"an absolute name", "", {{blob_mode, absolute_target, payload}}, absolute_target},
        {"a name holding a backslash", "", {{blob_mode, "..\\outside\\pwned.txt", payload}}, "pwned.txt"},
        {"depsync's temp prefix at the root", "", {{blob_mode, ".depsync-tmp.x", payload}}, ".depsync-tmp.x"},
        {"depsync's temp prefix in a subfolder",
         "carbonapps",
         {{blob_mode, ".depsync-tmp.Orders_1.0.0.car", payload}},
         "carbonapps/.depsync-tmp.Orders_1.0.0.car"},
        {"a submodule entry", "", {{"160000", "module", s.good_commit}}, "module"},
    };
    for (const auto& c : cases) s.require_refused(c);
    s.require_recovers();
}

TEST_CASE("hostile tree: symlinks that resolve outside the deployment directory are refused",
          "[e2e][hostile]") {
    HostileSetup s;
    const std::vector<HostileCase> cases = {
        {"relative link two levels up",
         "carbonapps",
         {{link_mode, "escape", s.craft.blob("../../outside")}},
         "carbonapps/escape"},
        {"relative link one level up from the root",
         "",
         {{link_mode, "escape", s.craft.blob("../outside")}},
         "escape"},
        {"absolute link to /etc", "", {{link_mode, "etc", s.craft.blob("/etc")}}, "etc"},
        {"absolute link to the sentinel",
         "userstores",
         {{link_mode, "out", s.craft.blob(s.sentinel.string())}},
         "userstores/out"},
        {"link that climbs out and back in",
         "carbonapps",
         {{link_mode, "sneaky", s.craft.blob("../../server/carbonapps")}},
         "carbonapps/sneaky"},
        {"chain of links, each harmless-looking",
         "synapse-configs",
         {{link_mode, "up", s.craft.blob("..")}, {link_mode, "escape", s.craft.blob("up/../outside")}},
         "synapse-configs/escape"},
        {"link to a link that leaves",
         "",
         {{link_mode, "a", s.craft.blob("b")}, {link_mode, "b", s.craft.blob("../outside")}},
         "'a'"},
        {"empty link target", "", {{link_mode, "empty", s.craft.blob("")}}, "empty"},
    };
    for (const auto& c : cases) s.require_refused(c);
    s.require_recovers();
}

TEST_CASE("hostile tree: a path through a symlink (a link and a folder of the same name) is refused",
          "[e2e][hostile]") {
    HostileSetup s;
    // One tree cannot hold both `link` as a symlink and `link/x`, except with duplicate entries: the closest
    // a release can come to making a write pass through a symlink it also delivers.
    const std::string payload = s.craft.blob(marker);
    const std::string through = s.craft.tree({{blob_mode, "pwned.txt", payload}});
    const std::vector<HostileCase> cases = {
        {"link out, then a folder of the same name",
         "",
         {{link_mode, "link", s.craft.blob("../outside")}, {tree_mode, "link", through}},
         "link"},
        {"link to a sibling folder, then a folder of the same name",
         "",
         {{link_mode, "link", s.craft.blob("carbonapps")}, {tree_mode, "link", through}},
         "link"},
        {"link in a subfolder, then a file of the same name",
         "carbonapps",
         {{link_mode, "Orders_2.0.0.car", s.craft.blob("../../outside/pwned.txt")},
          {blob_mode, "Orders_2.0.0.car", payload}},
         "carbonapps/Orders_2.0.0.car"},
        {"the same file twice",
         "userstores",
         {{blob_mode, "twice.xml", payload}, {blob_mode, "twice.xml", s.craft.blob("other")}},
         "userstores/twice.xml"},
    };
    for (const auto& c : cases) s.require_refused(c);
    s.require_recovers();
}

TEST_CASE("hostile tree: a symlink planted in the deployment directory does not redirect a pull's writes",
          "[e2e][hostile]") {
    for (const std::string policy : {"overwrite", "keep", "refuse"}) {
        INFO("local_changes = " << policy);
        HostileSetup s;
        const stdfs::path peer = s.cluster.peer(0).dir;
        const stdfs::path primary = s.cluster.primary().dir;

        // The attacker moves carbonapps and userstores/primary.xml aside, outside the directory, and leaves
        // symlinks to them: the peer's files look the same, but writes through the links would land outside.
        stdfs::copy(peer / "carbonapps", s.sentinel / "carbonapps", stdfs::copy_options::recursive);
        stdfs::copy(peer / "userstores/primary.xml", s.sentinel / "primary.xml");
        stdfs::remove_all(peer / "carbonapps");
        stdfs::create_symlink(s.sentinel / "carbonapps", peer / "carbonapps");
        stdfs::remove(peer / "userstores/primary.xml");
        stdfs::create_symlink("../../outside/primary.xml", peer / "userstores/primary.xml");
        const auto outside_before = dt::describe_tree(s.sentinel);

        // The next release writes into carbonapps (a new CApp, a changed one, a removed one) and changes the
        // file the second link stands for.
        dt::Rng rng(4);
        dt::write_car(primary / "carbonapps/Orders_1.0.0.car", "Orders", "1.0.0", 3000, rng);
        dt::write_car(primary / "carbonapps/Shipping_1.0.0.car", "Shipping", "1.0.0", 2000, rng);
        stdfs::remove(primary / "carbonapps/Payments_1.2.0.car");
        write_file(primary / "userstores/primary.xml", "<userstore changed=\"yes\"/>\n");
        ProcessResult published = s.cluster.publish("second");
        INFO(describe(published));
        REQUIRE(published.exit_code == 0);

        ProcessResult r = s.cluster.depsync(s.cluster.peer(0), {"--local-changes", policy, "pull"});
        INFO(describe(r));
        auto outside_diff =
            dt::diff_trees(outside_before, dt::describe_tree(s.sentinel), {}, dt::ModeCheck::exact);
        INFO("outside the deployment directory:" << dt::format_differences(outside_diff));
        CHECK(outside_diff.empty());
        if (policy == "overwrite") {
            CHECK(r.exit_code == 0);
            auto diff = differences(primary, peer);
            INFO(dt::format_differences(diff));
            CHECK(diff.empty());
            CHECK(stdfs::is_directory(stdfs::symlink_status(peer / "carbonapps")));
            CHECK(stdfs::is_regular_file(stdfs::symlink_status(peer / "userstores/primary.xml")));
        } else {
            // Whatever the policy does with the local change, it is never done through the link.
            CHECK((r.exit_code == 0 || r.exit_code == 1));
            CHECK_FALSE(stdfs::exists(s.sentinel / "carbonapps/Shipping_1.0.0.car"));
        }
    }
}

TEST_CASE("hostile tree: a refused name's control characters are not written raw to the terminal or log",
          "[e2e][hostile]") {
    // A name can carry a newline (to forge a log line) or an escape sequence (to rewrite the terminal); the
    // refusal must name the path without passing them through.
    HostileSetup s;
    const std::string payload = s.craft.blob(marker);
    for (const std::string name :
         {"x\ndepsync: info: all good.xml", "\x1b[2J\x1b[31mred.xml", "bell\a.xml"}) {
        INFO("name: " << name);
        std::string tree = s.craft.with_entries(s.good_root_tree(), "", {{blob_mode, name, payload}});
        s.craft.publish(tree, s.good_commit);
        ProcessResult r = s.cluster.pull(0);
        INFO(describe(r));
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("unsafe path") != std::string::npos);
        // Every line of stderr is depsync's own: no byte below 0x20 but the line ends, no forged line.
        bool clean = std::none_of(r.err.begin(), r.err.end(), [](char c) {
            auto u = static_cast<unsigned char>(c);
            return (u < 0x20 && c != '\n') || u == 0x7f;
        });
        CHECK(clean);
        // The forged line does not appear as a line of its own.
        CHECK(r.err.find("\ndepsync: info: all good") == std::string::npos);
        s.require_nothing_written();
    }
}
