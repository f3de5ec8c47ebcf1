// Configuration mistakes are reported, never ignored: exit 2 and one line on stderr naming what is wrong.

#include <unistd.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <set>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

void append_line(const stdfs::path& file, const std::string& line) {
    std::ofstream out(file, std::ios::app);
    out << line << "\n";
}

std::size_t line_count(const std::string& text) {
    std::size_t n = 0;
    for (char c : text)
        if (c == '\n') ++n;
    return n;
}

}  // namespace

TEST_CASE("a config with an unknown key is refused with exit 2 naming the key", "[e2e]") {
    Cluster cluster(1);
    append_line(cluster.peer(0).config, "setle = 1");
    append_line(cluster.primary().config, "exclud = *.old");

    for (const auto& [node, command] : {std::pair<Node, std::string>{cluster.peer(0), "pull"},
                                        {cluster.peer(0), "status"},
                                        {cluster.primary(), "publish"}}) {
        ProcessResult r = cluster.depsync(node, {command});
        INFO(node.name << " " << command << ": " << describe(r));
        CHECK(r.exit_code == 2);
        CHECK(r.out.empty());
        CHECK(r.err.find(node.name == "primary" ? "exclud" : "setle") != std::string::npos);
        CHECK(line_count(r.err) == 1);
    }
    // Nothing was published or pulled.
    CHECK(cluster.release_commits() == 0);
}

TEST_CASE("a missing deployment directory is reported with exit 2 naming it", "[e2e]") {
    Cluster cluster(1);
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 91);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    stdfs::remove_all(cluster.peer(0).dir);

    ProcessResult pulled = cluster.pull(0);
    INFO(describe(pulled));
    CHECK(pulled.exit_code == 2);
    CHECK(pulled.err.find(cluster.peer(0).dir.string()) != std::string::npos);
    CHECK(line_count(pulled.err) == 1);
    CHECK_FALSE(stdfs::exists(cluster.peer(0).dir));

    stdfs::rename(cluster.primary().dir, cluster.root() / "moved-away");
    ProcessResult published = cluster.publish("r2");
    INFO(describe(published));
    CHECK(published.exit_code == 2);
    CHECK(published.err.find(cluster.primary().dir.string()) != std::string::npos);
    CHECK(line_count(published.err) == 1);
    CHECK(cluster.release_commits() == 1);
}

TEST_CASE("a remote that is not a depsync repository is reported with exit 2", "[e2e]") {
    Cluster cluster(0);
    // An ordinary repository: branch master, one commit, no release branch.
    const stdfs::path other = cluster.root() / "other";
    REQUIRE_SUCCESS(git({"init", "--quiet", "--initial-branch=master", other.string()}));
    write_file(other / "README", "not releases\n");
    REQUIRE_SUCCESS(git({"-C", other.string(), "add", "README"}));
    REQUIRE_SUCCESS(git({"-C", other.string(), "commit", "--quiet", "-m", "unrelated"}));
    const Node peer = cluster.add_peer("peer-wrong", other.string());

    ProcessResult pulled = cluster.pull(0);
    INFO(describe(pulled));
    CHECK(pulled.exit_code == 2);
    CHECK(pulled.err.find(other.string()) != std::string::npos);
    CHECK(pulled.err.find("not a depsync repository") != std::string::npos);
    CHECK(line_count(pulled.err) == 1);
    CHECK(stdfs::is_empty(peer.dir));
    CHECK(parse_flat_json(cluster.status_json(peer).out).at("release") == "null");
}

TEST_CASE("a config file that does not exist is reported with exit 2", "[e2e]") {
    dt::TempDir temp;
    ProcessResult r = dt::run({dt::depsync_bin(), "-c", (temp / "nope.conf").string(), "status"});
    INFO(describe(r));
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("nope.conf") != std::string::npos);
}

namespace {

// Every path below `root` (links not followed), so a run that created anything shows.
std::set<std::string> listing(const stdfs::path& root) {
    std::set<std::string> out;
    for (auto it = stdfs::recursive_directory_iterator(root); it != stdfs::recursive_directory_iterator();
         ++it)
        out.insert(it->path().string());
    return out;
}

std::string in_quotes(const stdfs::path& p) {
    return "\"" + p.string() + "\"";
}

// Where a node's paths lie: either `dir` or `roots` (NAME=PATH), a state folder, and a repository (for a
// primary; a peer's local remote).
struct Layout {
    std::string name;
    std::string dir;
    std::vector<std::string> roots;
    std::string state, repo;
};

}  // namespace

TEST_CASE(
    "overlapping deployment directory, state folder and repository are refused by init and every command",
    "[e2e]") {
    dt::TempDir t;
    const std::string d = (t / "d").string(), s = (t / "s").string(), r = (t / "r.git").string();
    stdfs::create_directories(t / "d");
    write_file(t / "d/app.xml", "<app/>\n");
    stdfs::create_directory_symlink(t / "d", t / "link-to-d");
    stdfs::create_directories(t / "s-existing");
    stdfs::create_directory_symlink(t / "s-existing", t / "link-to-s");
    const std::vector<Layout> layouts = {
        {"state inside dir", d, {}, d + "/state", r},
        {"repo inside dir", d, {}, s, d + "/r.git"},
        {"dir inside state", s + "/d", {}, s, r},
        {"dir is /", "/", {}, s, r},
        {"dir is the repository", r, {}, s, r},
        {"dir is the state folder", d, {}, d, r},
        {"a root inside another", "", {"a=" + d, "b=" + d + "/b"}, s, r},
        {"a root inside the state folder", "", {"a=" + d, "b=" + s + "/b"}, s, r},
        {"a root inside the repository", "", {"a=" + d, "b=" + r + "/b"}, s, r},
        {"state inside dir through a symlink, not yet existing", d, {}, (t / "link-to-d/state").string(), r},
        {"dir inside state through a symlink", (t / "link-to-s/d").string(), {}, t.path() / "s-existing", r},
    };
    for (const Layout& layout : layouts) {
        for (const std::string role : {"primary", "peer"}) {
            INFO(layout.name << " (" << role << ")");
            const stdfs::path config = t / ("depsync-" + role + ".conf");
            const std::set<std::string> before = listing(t.path());

            std::vector<std::string> init = {dt::depsync_bin(), "-c",        config.string(), "init", role,
                                             "--state",         layout.state};
            init.insert(init.end(), {role == std::string("primary") ? "--repo" : "--remote", layout.repo});
            if (!layout.dir.empty()) init.insert(init.end(), {"--dir", layout.dir});
            for (const auto& root : layout.roots) init.insert(init.end(), {"--root", root});
            ProcessResult initialized = dt::run(init);
            INFO(describe(initialized));
            CHECK(initialized.exit_code == 2);
            CHECK(initialized.err.find("cannot use these paths") != std::string::npos);
            CHECK(line_count(initialized.err) == 1);
            CHECK(listing(t.path()) == before);

            // The same paths in a config written by hand: every command refuses them before touching
            // anything.
            std::string text = std::string("role = ") + role + "\nstate = " + in_quotes(layout.state) + "\n" +
                               (role == std::string("primary") ? "repo = " : "remote = ") +
                               in_quotes(layout.repo) + "\n";
            if (!layout.dir.empty()) text += "dir = " + in_quotes(layout.dir) + "\n";
            std::string roots;
            for (const auto& root : layout.roots) roots += (roots.empty() ? "" : ", ") + in_quotes(root);
            if (!roots.empty()) text += "root = [" + roots + "]\n";
            write_file(config, text);
            const std::set<std::string> with_config = listing(t.path());
            const std::vector<std::string> commands =
                role == std::string("primary") ? std::vector<std::string>{"publish", "status", "log"}
                                               : std::vector<std::string>{"pull", "status", "verify"};
            for (const std::string& command : commands) {
                ProcessResult run = dt::run({dt::depsync_bin(), "-c", config.string(), command});
                INFO(command << ": " << describe(run));
                CHECK(run.exit_code == 2);
                CHECK(run.err.find("cannot use these paths") != std::string::npos);
                CHECK(line_count(run.err) == 1);
                CHECK(listing(t.path()) == with_config);
            }
            stdfs::remove(config);
        }
    }
    CHECK(read_file(t / "d/app.xml") == "<app/>\n");
}

TEST_CASE("separate paths that share a name prefix are accepted", "[e2e]") {
    // /x/d and /x/d-state are apart: the comparison is by whole path components.
    dt::TempDir t;
    const stdfs::path config = t / "depsync.conf";
    ProcessResult r =
        dt::run({dt::depsync_bin(), "-c", config.string(), "init", "primary", "--dir", (t / "d").string(),
                 "--state", (t / "d-state").string(), "--repo", (t / "d.git").string()});
    INFO(describe(r));
    CHECK(r.exit_code == 0);
    CHECK(stdfs::is_directory(t / "d-state"));
}

namespace {

// A system account made for one test and removed after it (the suite runs as root for these tests).
class TestUser {
  public:
    TestUser() : m_name("dsown" + std::to_string(::getpid() % 100000)) {
        ProcessResult r = dt::run({"useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", m_name});
        if (r.exit_code != 0) throw std::runtime_error("useradd failed: " + r.err);
    }
    ~TestUser() { dt::run({"userdel", m_name}); }
    TestUser(const TestUser&) = delete;
    TestUser& operator=(const TestUser&) = delete;
    const std::string& name() const { return m_name; }
    void give(const stdfs::path& path) const {
        ProcessResult r = dt::run({"chown", "-R", m_name, path.string()});
        if (r.exit_code != 0) throw std::runtime_error("chown failed: " + r.err);
    }

  private:
    std::string m_name;
};

}  // namespace

TEST_CASE("a repository owned by another user is reported as such, naming the owner and who runs", "[e2e]") {
    if (::geteuid() != 0) {
        WARN("skipped: needs root to create a user and chown a repository to it");
        return;
    }
    Cluster cluster(1);
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 1313);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));
    TestUser user;
    auto require_owner_named = [&](const ProcessResult& r, const stdfs::path& repo) {
        INFO(describe(r));
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("cannot open repository " + repo.string()) != std::string::npos);
        CHECK(r.err.find("owned by " + user.name()) != std::string::npos);
        CHECK(r.err.find("this run is root (uid 0)") != std::string::npos);
        CHECK(r.err.find("Run depsync as " + user.name()) != std::string::npos);
        CHECK(r.err.find("not a git repository") == std::string::npos);
        CHECK(r.err.find("depsync init") == std::string::npos);
        CHECK(line_count(r.err) == 1);
    };

    SECTION("the peer's fetched copy in its state folder") {
        user.give(cluster.peer(0).state);
        const stdfs::path fetched = cluster.peer(0).state / "repo.git";
        require_owner_named(cluster.depsync(cluster.peer(0), {"log"}), fetched);
        require_owner_named(cluster.depsync(cluster.peer(0), {"diff", "r1"}), fetched);
    }
    SECTION("the primary's repository, for the primary and for a peer fetching from it") {
        write_file(cluster.primary().dir / "userstores/r2.xml", "<userstore/>\n");
        REQUIRE_SUCCESS(cluster.publish("r2"));
        user.give(cluster.repo());
        write_file(cluster.primary().dir / "userstores/r3.xml", "<userstore/>\n");
        require_owner_named(cluster.publish("r3"), cluster.repo());
        require_owner_named(cluster.depsync(cluster.primary(), {"status"}), cluster.repo());
        require_owner_named(cluster.depsync(cluster.primary(), {"log"}), cluster.repo());
        // init over it says the same instead of failing to create what exists.
        ProcessResult init =
            dt::run({dt::depsync_bin(), "-c", (cluster.root() / "again.conf").string(), "init", "primary",
                     "--dir", cluster.primary().dir.string(), "--repo", cluster.repo().string(), "--state",
                     (cluster.root() / "again").string()});
        require_owner_named(init, cluster.repo());
        // The peer reads the primary's repository through a path: the same message, not "not a git
        // repository".
        require_owner_named(cluster.pull(0), cluster.repo());
        CHECK(parse_flat_json(cluster.status_json(cluster.peer(0)).out).at("release") == "1");
    }
}
