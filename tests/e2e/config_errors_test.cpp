// Configuration mistakes are reported, never ignored: exit 2 and one line on stderr naming what is wrong.

#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

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

namespace {

// The line number of the first line of `file` that starts with `prefix` (1-based), 0 when none does.
int line_of(const stdfs::path& file, const std::string& prefix) {
    std::istringstream in(read_file(file));
    std::string line;
    for (int n = 1; std::getline(in, line); ++n)
        if (line.rfind(prefix, 0) == 0) return n;
    return 0;
}

}  // namespace

TEST_CASE("a key given twice is refused with exit 2 naming the file and both lines, before anything changes",
          "[e2e]") {
    Cluster cluster(1);
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 1601);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    const Node& peer = cluster.peer(0);
    // init wrote local_changes = overwrite; the operator appends the policy they want.
    const int first = line_of(peer.config, "local_changes");
    REQUIRE(first > 0);
    append_line(peer.config, "local_changes = refuse");
    const int second = static_cast<int>(line_count(read_file(peer.config)));

    ProcessResult pulled = cluster.pull(0);
    INFO(describe(pulled));
    CHECK(pulled.exit_code == 2);
    CHECK(pulled.out.empty());
    CHECK(contains(pulled.err, "config " + peer.config.string() + " line " + std::to_string(second)));
    CHECK(contains(pulled.err, "local_changes is given twice, on line " + std::to_string(first) +
                                   " and on line " + std::to_string(second)));
    CHECK(line_count(pulled.err) == 1);
    CHECK(stdfs::is_empty(peer.dir));
    CHECK_FALSE(stdfs::exists(peer.state / "repo.git"));

    // The same on the primary, and for a key spelt with dashes.
    write_file(cluster.primary().dir / "userstores/new.xml", "<userstore/>\n");
    append_line(cluster.primary().config, "repo = \"/srv/other.git\"");
    ProcessResult published = cluster.publish("r2");
    INFO(describe(published));
    CHECK(published.exit_code == 2);
    CHECK(contains(published.err, "repo is given twice"));
    CHECK(cluster.release_commits() == 1);
    stdfs::path dashed = cluster.root() / "dashed.conf";
    write_file(dashed, "hook_timeout = 5\n# a comment\nhook-timeout = 6\n");
    ProcessResult r = dt::run({dt::depsync_bin(), "-c", dashed.string(), "status"});
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "hook_timeout is given twice, on line 1 and on line 3"));
}

TEST_CASE("a value a key cannot take is reported with the file and its line", "[e2e]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    const std::string original = read_file(peer.config);
    const int next = static_cast<int>(line_count(original)) + 1;
    // Each bad line, and a word its message has; checked by the option parser or when the settings are made.
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"timeout = 2m", "timeout = 2m: expected a whole number"},
        {"timeout = 0", "timeout must be at least 1"},
        {"gc_keep = 0", "not in range"},
        {"on_change_failure = sometimes", "expected one of record, revert"},
        {"max_fetch_bytes = lots", "expected a number of bytes"},
        {"max_fetch_memory = 1KiB", "at least 67108864"},
        {"wait = soon", "expected a number"},
        {"setle = 1", "unknown key 'setle' (did you mean 'settle'?)"},
        {"node = \"a\\qb\"", "unknown escape"},
        {"node = \"open", "closing \" is missing"},
        {"mirror = [\"ssh://h/r.git\"", "not closed"},
        {"timeout = [5]", "takes one value, not a list"},
        {"validate = make check;rm -rf x", "in double quotes"},
        {"[pull]", "sections are not used"},
        {"just words", "expected 'key = value'"},
    };
    for (const auto& [line, expected] : cases) {
        write_file(peer.config, original + line + "\n");
        ProcessResult r = cluster.depsync(peer, {"status"});
        INFO(line << ": " << describe(r));
        CHECK(r.exit_code == 2);
        CHECK(r.out.empty());
        CHECK(contains(r.err, "config " + peer.config.string() + " line " + std::to_string(next)));
        CHECK(contains(r.err, expected));
        CHECK(line_count(r.err) == 1);
    }
    // A value given on the command line wins over the file's; a bad one there is named as an option.
    write_file(peer.config, original + "timeout = 7\n");
    CHECK(cluster.depsync(peer, {"--timeout", "9", "status"}).exit_code == 0);
    ProcessResult option = cluster.depsync(peer, {"--timeout", "2m", "status"});
    CHECK(option.exit_code == 2);
    CHECK(contains(option.err, "--timeout"));
}

TEST_CASE("quoted values, comments and lists are read as written", "[e2e]") {
    dt::TempDir t;
    const stdfs::path config = t / "depsync.conf";
    write_file(config,
               "[default]\n"
               "role = peer   # inline comment\n"
               "; a comment line\n"
               "dir = " +
                   in_quotes(t / "d") +
                   "\n"
                   "state = '" +
                   (t / "s").string() +
                   "'\n"
                   "remote = " +
                   (t / "r.git").string() +
                   "\n"
                   "node = \"a # b ; c \\\"q\\\" \\\\ \\t end\"\n"
                   "exclude = [\"*.log\", 'x,y',\n"
                   "           \"[ab]\" # a comment inside the list\n"
                   "          ]\n"
                   "timeout = 42\n"
                   "exclude = \"*.tmp\"\n");
    ProcessResult r = dt::run({dt::depsync_bin(), "-c", config.string(), "config", "--json"});
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.out, R"("node":{"value":"a # b ; c \"q\" \\ \t end","source":"file","file":)"));
    CHECK(contains(r.out, R"("exclude":{"value":["*.log","x,y","[ab]","*.tmp"],"source":"file")"));
    CHECK(contains(r.out, R"("timeout":{"value":42,"source":"file")"));
    CHECK(contains(r.out, R"("role":{"value":"peer","source":"file")"));
}

TEST_CASE("a mistyped command is named with the nearest command", "[e2e]") {
    dt::TempDir t;
    for (const auto& [args, expected] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"rollbak"}, "unknown command 'rollbak'; did you mean 'rollback'?"},
             {{"-v", "--timeout", "5", "stauts"}, "unknown command 'stauts'; did you mean 'status'?"},
             {{"cluster", "staus", "--nodes", "x"},
              "unknown command 'cluster staus'; did you mean 'cluster status'?"},
             {{"frobnicate"}, "unknown command 'frobnicate' (the commands: init, publish, pull"},
         }) {
        std::vector<std::string> argv = {dt::depsync_bin(), "-c", (t / "none.conf").string()};
        argv.insert(argv.end(), args.begin(), args.end());
        ProcessResult r = dt::run(argv);
        INFO(describe(r));
        CHECK(r.exit_code == 2);
        CHECK(r.out.empty());
        CHECK(contains(r.err, expected));
        CHECK(line_count(r.err) == 1);
    }
}

TEST_CASE("diff between releases with the same content says there are no differences", "[e2e]") {
    Cluster cluster(1);
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 1602);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    write_file(cluster.primary().dir / "userstores/extra.xml", "<userstore/>\n");
    REQUIRE_SUCCESS(cluster.publish("r2"));
    stdfs::remove(cluster.primary().dir / "userstores/extra.xml");
    REQUIRE_SUCCESS(cluster.publish("r3"));
    ProcessResult same = cluster.depsync(cluster.primary(), {"diff", "r1", "r3"});
    INFO(describe(same));
    CHECK(same.exit_code == 0);
    CHECK(same.out == "no differences between r1 and r3\n");
    ProcessResult differ = cluster.depsync(cluster.primary(), {"diff", "r1", "r2"});
    CHECK(differ.out == "A userstores/extra.xml\n");
}

TEST_CASE("init writes every key it was given, mode 600 whatever the umask, and hostile values read back",
          "[e2e]") {
    Cluster cluster(0);
    const stdfs::path config = cluster.root() / "peer.conf";
    // Bytes a config file could confuse: quotes, backslashes, comment characters, control characters, a
    // newline, a list delimiter, leading and trailing spaces, UTF-8.
    const std::string hostile = " a\"b\\c #d ;e\tf\ng,h]i\x01\x7f\xc3\xa9'j ";
    const std::string on_change = "/usr/local/bin/reload --why '" + hostile + "'";
    const ::mode_t old_umask = ::umask(0);
    ProcessResult init = dt::run({dt::depsync_bin(),
                                  "-c",
                                  config.string(),
                                  "init",
                                  "peer",
                                  "--dir",
                                  (cluster.root() / "d").string(),
                                  "--remote",
                                  cluster.repo().string(),
                                  "--state",
                                  (cluster.root() / "s").string(),
                                  "--node",
                                  hostile,
                                  "--ssh-key",
                                  "/etc/depsync/id_ed25519",
                                  "--known-hosts",
                                  "/etc/depsync/known_hosts",
                                  "--metrics-file",
                                  "/var/lib/prom/depsync.prom",
                                  "--log-file",
                                  (cluster.root() / "depsync.log").string(),
                                  "--timeout",
                                  "45",
                                  "--exclude",
                                  "#not-a-comment",
                                  "--exclude",
                                  "[ab]*.log",
                                  "--on-change",
                                  on_change});
    ::umask(old_umask);
    INFO(describe(init));
    REQUIRE(init.exit_code == 0);
    struct stat st {};
    REQUIRE(::stat(config.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);

    ProcessResult shown = dt::run({dt::depsync_bin(), "-c", config.string(), "config", "--json"});
    INFO(describe(shown));
    REQUIRE(shown.exit_code == 0);
    const nlohmann::json settings = nlohmann::json::parse(shown.out).at("settings");
    const std::map<std::string, nlohmann::json> expected = {
        {"node", hostile},
        {"ssh_key", "/etc/depsync/id_ed25519"},
        {"known_hosts", "/etc/depsync/known_hosts"},
        {"metrics_file", "/var/lib/prom/depsync.prom"},
        {"log_file", (cluster.root() / "depsync.log").string()},
        {"timeout", 45},
        {"exclude", nlohmann::json::array({"#not-a-comment", "[ab]*.log"})},
        {"on_change", on_change},
        {"remote", cluster.repo().string()},
        {"local_changes", "overwrite"},
    };
    for (const auto& [key, value] : expected) {
        INFO(key);
        CHECK(settings.at(key).at("value") == value);
        CHECK(settings.at(key).at("source") == "file");
    }
    // Keys not given are not written.
    CHECK(settings.at("ca_file").at("source") == "default");
}

TEST_CASE("init keeps an existing config, refuses one that disagrees, and makes it private", "[e2e]") {
    Cluster cluster(0);
    const stdfs::path config = cluster.root() / "peer.conf";
    const std::vector<std::string> init = {dt::depsync_bin(),
                                           "-c",
                                           config.string(),
                                           "init",
                                           "peer",
                                           "--dir",
                                           (cluster.root() / "d").string(),
                                           "--remote",
                                           cluster.repo().string(),
                                           "--state",
                                           (cluster.root() / "s").string(),
                                           "--timeout",
                                           "30"};
    REQUIRE_SUCCESS(dt::run(init));
    ::chmod(config.c_str(), 0644);
    const std::string written = read_file(config);

    ProcessResult again = dt::run(init);
    INFO(describe(again));
    CHECK(again.exit_code == 0);
    CHECK(contains(again.out, "exists (kept as it is)"));
    CHECK(read_file(config) == written);
    struct stat st {};
    REQUIRE(::stat(config.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);

    std::vector<std::string> other = init;
    other.back() = "60";
    other.insert(other.end(), {"--ssh-key", "/etc/depsync/key"});
    ProcessResult refused = dt::run(other);
    INFO(describe(refused));
    CHECK(refused.exit_code == 2);
    CHECK(contains(refused.err, "exists and differs from the options given"));
    CHECK(contains(refused.err, "timeout (line "));
    CHECK(contains(refused.err, "ssh_key (not in it)"));
    CHECK(read_file(config) == written);
}

TEST_CASE("init peer checks its remote once: an unreachable one is reported with the fix, the config kept",
          "[e2e]") {
    Cluster cluster(0);
    const stdfs::path config = cluster.root() / "peer.conf";
    const stdfs::path missing = cluster.root() / "no-such-repo.git";
    const std::vector<std::string> init = {dt::depsync_bin(),
                                           "-c",
                                           config.string(),
                                           "init",
                                           "peer",
                                           "--dir",
                                           (cluster.root() / "d").string(),
                                           "--remote",
                                           missing.string(),
                                           "--state",
                                           (cluster.root() / "s").string()};
    ProcessResult checked = dt::run(init);
    INFO(describe(checked));
    CHECK(checked.exit_code == 1);
    CHECK(contains(checked.err, "cannot reach remote " + missing.string()));
    CHECK(contains(checked.err, "the config is written"));
    CHECK(line_count(checked.err) == 1);
    CHECK(contains(read_file(config), "remote = \"" + missing.string() + "\""));

    stdfs::remove(config);
    std::vector<std::string> unchecked = init;
    unchecked.push_back("--no-check");
    CHECK(dt::run(unchecked).exit_code == 0);

    // A reachable remote: what it holds is said.
    stdfs::remove(config);
    std::vector<std::string> good = init;
    good[8] = cluster.repo().string();
    ProcessResult ok = dt::run(good);
    INFO(describe(ok));
    CHECK(ok.exit_code == 0);
    CHECK(contains(ok.out, "answers: nothing published yet"));
}
