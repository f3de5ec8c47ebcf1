// Releases an operator can name, compare and undo: REV forms, log, diff, rollback on the primary, pin and
// pull --to on a peer, and a peer's refusal of an upstream whose history was rewritten.

#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <regex>
#include <sstream>

#include "cluster.hpp"
#include "crafter.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

std::string quoted(const std::string& s) {
    return "\"" + s + "\"";
}

// Reads a JSON document strictly and flattens it: path -> value, where a path is "[0].release",
// "changes[1].path" or "changes#" (an array's length), strings are quoted ("\"text\"") and other values
// are as written ("3", "null", "true"). Malformed JSON fails the test.
class JsonReader {
  public:
    static std::map<std::string, std::string> flatten(const std::string& text) {
        JsonReader reader(text);
        reader.value("");
        reader.skip_space();
        if (reader.m_i != text.size()) reader.fail("text after the document");
        return reader.m_out;
    }

  private:
    explicit JsonReader(const std::string& text) : m_text(text) {}

    const std::string& m_text;
    std::size_t m_i = 0;
    std::map<std::string, std::string> m_out;

    [[noreturn]] void fail(const std::string& what) const {
        FAIL("invalid JSON (" << what << " at offset " << m_i << "): " << m_text);
        throw std::logic_error("unreachable");
    }
    void skip_space() {
        while (m_i < m_text.size() && std::isspace(static_cast<unsigned char>(m_text[m_i]))) ++m_i;
    }
    char peek() {
        skip_space();
        if (m_i >= m_text.size()) fail("unexpected end");
        return m_text[m_i];
    }
    void expect(char c) {
        if (peek() != c) fail(std::string("expected '") + c + "'");
        ++m_i;
    }

    void value(const std::string& path) {
        char c = peek();
        if (c == '{') {
            object(path);
        } else if (c == '[') {
            array(path);
        } else if (c == '"') {
            m_out[path] = quoted(string());
        } else {
            static const std::regex scalar(
                R"(^(true|false|null|-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?))");
            std::smatch m;
            std::string rest = m_text.substr(m_i);
            if (!std::regex_search(rest, m, scalar)) fail("expected a value");
            m_out[path] = m.str(0);
            m_i += static_cast<std::size_t>(m.length(0));
        }
    }
    void object(const std::string& path) {
        expect('{');
        if (peek() == '}') {
            ++m_i;
            return;
        }
        for (;;) {
            if (peek() != '"') fail("expected a key");
            std::string key = string();
            expect(':');
            value(path.empty() ? key : path + "." + key);
            if (peek() == '}') break;
            expect(',');
        }
        ++m_i;
    }
    void array(const std::string& path) {
        expect('[');
        std::size_t n = 0;
        if (peek() != ']') {
            for (;; ++n) {
                value(path + "[" + std::to_string(n) + "]");
                if (peek() == ']') break;
                expect(',');
            }
            ++n;
        }
        ++m_i;
        m_out[path + "#"] = std::to_string(n);
    }
    std::string string() {
        expect('"');
        std::string s;
        for (;;) {
            if (m_i >= m_text.size()) fail("unfinished string");
            char c = m_text[m_i++];
            if (c == '"') return s;
            if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
            if (c != '\\') {
                s += c;
                continue;
            }
            if (m_i >= m_text.size()) fail("unfinished escape");
            char e = m_text[m_i++];
            static const std::string plain = "\"\\/", letters = "bfnrt", meant = "\b\f\n\r\t";
            if (plain.find(e) != std::string::npos) {
                s += e;
            } else if (letters.find(e) != std::string::npos) {
                s += meant[letters.find(e)];
            } else if (e == 'u' && m_i + 4 <= m_text.size() &&
                       std::all_of(m_text.begin() + static_cast<std::ptrdiff_t>(m_i),
                                   m_text.begin() + static_cast<std::ptrdiff_t>(m_i + 4),
                                   [](char h) { return std::isxdigit(static_cast<unsigned char>(h)); })) {
                s += "\\u" + m_text.substr(m_i, 4);  // kept escaped: the tests compare ASCII only
                m_i += 4;
            } else {
                fail("invalid escape");
            }
        }
    }
};

std::map<std::string, std::string> json_values(const std::string& text) {
    return JsonReader::flatten(text);
}

std::string rev_parse(const Cluster& cluster, const std::string& rev) {
    ProcessResult r = git({"-C", cluster.repo().string(), "rev-parse", rev});
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    return r.out.substr(0, r.out.find('\n'));
}

// The commit time of `rev`, as depsync prints times.
std::string commit_time(const Cluster& cluster, const std::string& rev) {
    ProcessResult r = git({"-C", cluster.repo().string(), "log", "-1", "--format=%ct", rev});
    REQUIRE(r.exit_code == 0);
    std::time_t t = static_cast<std::time_t>(std::stoll(r.out));
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string host_name() {
    char buf[256] = {};
    ::gethostname(buf, sizeof buf - 1);
    return buf;
}

// A copy of the tree as it is now, to compare nodes with a release after later releases changed it.
void snapshot(const stdfs::path& from, const stdfs::path& to) {
    stdfs::create_directories(to.parent_path());
    stdfs::copy(from, to, stdfs::copy_options::recursive | stdfs::copy_options::copy_symlinks);
}

void require_same_tree(const stdfs::path& expected, const stdfs::path& actual) {
    auto diff = dt::diff_trees(expected, actual);
    INFO(actual.string() << " differs from " << expected.string() << ":" << dt::format_differences(diff));
    REQUIRE(diff.empty());
}

// Paths whose file was rewritten (other inode or mtime) or that appeared or went away.
std::vector<std::string> touched(const dt::TreeListing& before, const dt::TreeListing& after) {
    std::vector<std::string> out;
    for (const auto& [path, info] : before) {
        auto it = after.find(path);
        if (it == after.end() || it->second.inode != info.inode || it->second.mtime_ns != info.mtime_ns ||
            it->second.content != info.content)
            out.push_back(path);
    }
    for (const auto& [path, info] : after)
        if (before.count(path) == 0) out.push_back(path);
    return out;
}

std::map<std::string, std::string> status_of(const Cluster& cluster, const Node& node) {
    ProcessResult r = cluster.status_json(node);
    REQUIRE_SUCCESS(r);
    return parse_flat_json(r.out);
}

ProcessResult publish_ok(const Cluster& cluster, const std::string& message) {
    ProcessResult r = cluster.publish(message);
    REQUIRE_SUCCESS(r);
    INFO(r.out);
    REQUIRE(parse_published(r.out));
    return r;
}

// r1: a/x.xml, b.xml, c.xml and the empty folder empty/.
// r2: a/x.xml edited, b.xml renamed to b2.xml, c.xml deleted, empty/ removed, d.xml and newdir/n.xml added,
//     newdir/sub/ an empty folder.
void publish_two_releases(const Cluster& cluster) {
    const stdfs::path dir = cluster.primary().dir;
    write_file(dir / "a/x.xml", "<one/>\n");
    write_file(dir / "b.xml", "<b/>\n");
    write_file(dir / "c.xml", "<c/>\n");
    stdfs::create_directories(dir / "empty");
    publish_ok(cluster, "first");

    write_file(dir / "a/x.xml", "<two/>\n");
    stdfs::rename(dir / "b.xml", dir / "b2.xml");
    stdfs::remove(dir / "c.xml");
    stdfs::remove(dir / "empty");
    write_file(dir / "d.xml", "<d/>\n");
    write_file(dir / "newdir/n.xml", "<n/>\n");
    stdfs::create_directories(dir / "newdir/sub");
    publish_ok(cluster, "second");
}

const std::vector<std::string> r1_to_r2 = {"M a/x.xml", "D b.xml",        "A b2.xml",
                                           "D c.xml",   "A d.xml",        "D empty/",
                                           "A newdir/", "A newdir/n.xml", "A newdir/sub/"};

// The release number `rev` names on `node`, read from `diff REV --json`; 0 when depsync refused it.
std::uint64_t resolved_number(const Cluster& cluster, const Node& node, const std::string& rev) {
    ProcessResult r = cluster.depsync(node, {"diff", rev, "--json"});
    INFO("diff " << rev << ": " << describe(r));
    if (r.exit_code != 0) return 0;
    return std::stoull(json_values(r.out).at("from"));
}

}  // namespace

TEST_CASE("a release is named by rN, its commit id, a 7-digit prefix, a tag or 'previous'",
          "[e2e][releases]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    publish_two_releases(cluster);
    write_file(primary.dir / "e.xml", "<e/>\n");
    publish_ok(cluster, "third");
    const std::string r1 = rev_parse(cluster, "r1"), r2 = rev_parse(cluster, "r2");
    REQUIRE_SUCCESS(git({"-C", cluster.repo().string(), "tag", "mytag", r2}));
    REQUIRE_SUCCESS(git({"-C", cluster.repo().string(), "tag", "-a", "-m", "annotated", "golden", r1}));

    SECTION("on the primary") {
        CHECK(resolved_number(cluster, primary, "r2") == 2);
        CHECK(resolved_number(cluster, primary, "r3") == 3);
        CHECK(resolved_number(cluster, primary, r2) == 2);
        CHECK(resolved_number(cluster, primary, r1.substr(0, 7)) == 1);
        CHECK(resolved_number(cluster, primary, r1.substr(0, 12)) == 1);
        CHECK(resolved_number(cluster, primary, "mytag") == 2);
        CHECK(resolved_number(cluster, primary, "golden") == 1);
        CHECK(resolved_number(cluster, primary, "previous") == 2);
    }

    SECTION("on a peer, by pull --to and pin") {
        const Node& peer = cluster.peer(0);
        REQUIRE_SUCCESS(cluster.pull(0));
        ProcessResult r = cluster.pull(0, {"--to", "previous"});
        REQUIRE_SUCCESS(r);
        CHECK(lines_of(r.out).at(0).rfind("r3 -> r2 ", 0) == 0);
        r = cluster.pull(0, {"--to", r1.substr(0, 7)});
        REQUIRE_SUCCESS(r);
        CHECK(lines_of(r.out).at(0).rfind("r2 -> r1 ", 0) == 0);
        r = cluster.pull(0, {"--to", rev_parse(cluster, "r3")});
        REQUIRE_SUCCESS(r);
        CHECK(lines_of(r.out).at(0).rfind("r1 -> r3 ", 0) == 0);
        r = cluster.depsync(peer, {"pin", "r2"});
        REQUIRE_SUCCESS(r);
        CHECK(r.out == "pinned at r2 (upstream at r3)\n");
        CHECK(status_of(cluster, peer).at("release") == "2");
        CHECK(resolved_number(cluster, peer, "previous") == 1);
        CHECK(resolved_number(cluster, peer, r2) == 2);
    }
}

TEST_CASE("a peer names a release by a tag made on the primary", "[e2e][releases]") {
    Cluster cluster(1);
    // A file:// remote is served like a local path.
    cluster.add_peer("peer2", "file://" + cluster.repo().string());
    publish_two_releases(cluster);
    REQUIRE_SUCCESS(git({"-C", cluster.repo().string(), "tag", "mytag", rev_parse(cluster, "r1")}));

    for (std::size_t i = 0; i < cluster.peer_count(); ++i) {
        const Node& peer = cluster.peer(i);
        INFO(peer.name);
        REQUIRE_SUCCESS(cluster.pull(i));
        ProcessResult r = cluster.pull(i, {"--to", "mytag"});
        INFO(describe(r));
        CHECK(r.exit_code == 0);
        CHECK(status_of(cluster, peer).at("release") == "1");
    }

    // Tags made after the peers fetched the newest release arrive with the next pull, though no release
    // came: an annotated one, and one moved to another release.
    REQUIRE_SUCCESS(git(
        {"-C", cluster.repo().string(), "tag", "-a", "-m", "good one", "golden", rev_parse(cluster, "r2")}));
    REQUIRE_SUCCESS(git({"-C", cluster.repo().string(), "tag", "-f", "mytag", rev_parse(cluster, "r2")}));
    for (std::size_t i = 0; i < cluster.peer_count(); ++i) {
        const Node& peer = cluster.peer(i);
        INFO(peer.name);
        CHECK(resolved_number(cluster, peer, "golden") == 0);  // not fetched yet
        REQUIRE_SUCCESS(cluster.depsync(peer, {"pin", "r1"}));
        ProcessResult r = cluster.depsync(peer, {"pin", "golden"});
        INFO(describe(r));
        CHECK(r.exit_code == 0);
        CHECK(status_of(cluster, peer).at("release") == "2");
        CHECK(resolved_number(cluster, peer, "mytag") == 2);
    }
}

TEST_CASE("an unknown release name or a prefix shorter than 7 digits exits 2 and changes nothing",
          "[e2e][releases]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    publish_two_releases(cluster);
    REQUIRE_SUCCESS(cluster.pull(0, {"--to", "r1"}));
    // A commit in the primary's repository that is not on the release branch is not a release.
    ProcessResult stray = git({"-C", cluster.repo().string(), "commit-tree", rev_parse(cluster, "r1^{tree}"),
                               "-m", "not a release"});
    REQUIRE_SUCCESS(stray);
    const std::string stray_id = stray.out.substr(0, 40);

    const dt::TreeListing primary_before = dt::describe_tree(primary.dir);
    const dt::TreeListing peer_before = dt::describe_tree(peer.dir);
    const std::vector<std::string> bad = {
        "r99", "r0", "r2x", "nosuch", "deadbeefdeadbeefdeadbeef", rev_parse(cluster, "r2").substr(0, 6)};

    for (const std::string& rev : bad) {
        INFO("REV " << rev);
        for (const auto& args : std::vector<std::vector<std::string>>{{"diff", rev}, {"rollback", rev}}) {
            ProcessResult r = cluster.depsync(primary, args);
            INFO(describe(r));
            CHECK(r.exit_code == 2);
            CHECK(r.out.empty());
            CHECK(r.err.find("unknown release '" + rev + "'") != std::string::npos);
        }
        for (const auto& args :
             std::vector<std::vector<std::string>>{{"pull", "--to", rev}, {"pin", rev}, {"diff", rev}}) {
            ProcessResult r = cluster.depsync(peer, args);
            INFO(describe(r));
            CHECK(r.exit_code == 2);
            CHECK(r.err.find("unknown release '" + rev + "'") != std::string::npos);
        }
    }
    ProcessResult short_prefix = cluster.depsync(primary, {"diff", bad.back()});
    CHECK(short_prefix.err.find("at least 7 hex digits") != std::string::npos);
    ProcessResult not_release = cluster.depsync(primary, {"rollback", stray_id});
    INFO(describe(not_release));
    CHECK(not_release.exit_code == 2);
    CHECK(not_release.err.find("not part of the release history") != std::string::npos);

    CHECK(cluster.release_commits() == 2);
    CHECK(touched(primary_before, dt::describe_tree(primary.dir)).empty());
    CHECK(touched(peer_before, dt::describe_tree(peer.dir)).empty());
    auto status = status_of(cluster, peer);
    CHECK(status.at("release") == "1");
    CHECK(status.at("pinned") == "false");
}

TEST_CASE("log lists releases newest first with number, id, time, node, counts and message",
          "[e2e][releases]") {
    Cluster cluster(1);
    publish_two_releases(cluster);
    ProcessResult rollback = cluster.depsync(cluster.primary(), {"rollback", "r1", "-m", "undo second"});
    REQUIRE_SUCCESS(rollback);
    REQUIRE(rollback.out == "rollback: r3 restores r1\n");

    const std::string host = host_name();
    const std::string who = host == "primary" ? "primary" : "primary@" + host;
    struct Expected {
        std::uint64_t number;
        std::string counts, message, restores;
    };
    const std::vector<Expected> expected = {{3, "(+2 ~1 -3)", "undo second", "1"},
                                            {2, "(+3 ~1 -2)", "second", "null"},
                                            {1, "(+3 ~0 -0)", "first", "null"}};

    ProcessResult log = cluster.depsync(cluster.primary(), {"log"});
    REQUIRE_SUCCESS(log);
    auto lines = lines_of(log.out);
    REQUIRE(lines.size() == 3);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const Expected& e = expected[i];
        const std::string rn = "r" + std::to_string(e.number);
        const std::string id = rev_parse(cluster, rn);
        std::string line = rn + "  " + id.substr(0, 10) + "  " + commit_time(cluster, rn) + "  " + who +
                           "  " + e.counts + "  " + e.message + (e.restores == "1" ? "  [restores r1]" : "") +
                           (i == 0 ? "  [current]" : "");
        CHECK(lines[i] == line);
    }

    ProcessResult limited = cluster.depsync(cluster.primary(), {"log", "-n", "2"});
    REQUIRE_SUCCESS(limited);
    CHECK(lines_of(limited.out) == std::vector<std::string>{lines[0], lines[1]});

    ProcessResult json = cluster.depsync(cluster.primary(), {"log", "--json"});
    REQUIRE_SUCCESS(json);
    auto v = json_values(json.out);
    REQUIRE(v.at("#") == "3");
    const std::vector<std::string> counts[] = {{"2", "1", "3"}, {"3", "1", "2"}, {"3", "0", "0"}};
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const std::string p = "[" + std::to_string(i) + "].";
        const std::string rn = "r" + std::to_string(expected[i].number);
        INFO(p);
        CHECK(v.at(p + "release") == std::to_string(expected[i].number));
        CHECK(v.at(p + "commit") == quoted(rev_parse(cluster, rn)));
        CHECK(v.at(p + "time") == quoted(commit_time(cluster, rn)));
        CHECK(v.at(p + "node") == quoted("primary"));
        CHECK(v.at(p + "host") == quoted(host));
        CHECK(v.at(p + "message") == quoted(expected[i].message));
        CHECK(v.at(p + "added") == counts[i][0]);
        CHECK(v.at(p + "modified") == counts[i][1]);
        CHECK(v.at(p + "deleted") == counts[i][2]);
        CHECK(v.at(p + "restores") == expected[i].restores);
    }
    ProcessResult json_limited = cluster.depsync(cluster.primary(), {"log", "--json", "-n", "1"});
    REQUIRE_SUCCESS(json_limited);
    CHECK(json_values(json_limited.out).at("#") == "1");
}

TEST_CASE("diff lists A, M and D lines, renames as D plus A, folders with a trailing slash",
          "[e2e][releases]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    publish_two_releases(cluster);

    ProcessResult both = cluster.depsync(primary, {"diff", "r1", "r2"});
    REQUIRE_SUCCESS(both);
    CHECK(lines_of(both.out) == r1_to_r2);
    // REV2 defaults to the release the node runs: the primary's newest.
    ProcessResult one = cluster.depsync(primary, {"diff", "r1"});
    REQUIRE_SUCCESS(one);
    CHECK(one.out == both.out);
    ProcessResult none = cluster.depsync(primary, {"diff", "r2"});
    REQUIRE_SUCCESS(none);
    CHECK(none.out == "no differences between r2 and r2\n");

    ProcessResult json = cluster.depsync(primary, {"diff", "r1", "--json"});
    REQUIRE_SUCCESS(json);
    auto v = json_values(json.out);
    CHECK(v.at("from") == "1");
    CHECK(v.at("to") == "2");
    REQUIRE(v.at("changes#") == std::to_string(r1_to_r2.size()));
    for (std::size_t i = 0; i < r1_to_r2.size(); ++i) {
        const std::string p = "changes[" + std::to_string(i) + "].";
        CHECK(v.at(p + "status") + " " + v.at(p + "path") ==
              quoted(r1_to_r2[i].substr(0, 1)) + " " + quoted(r1_to_r2[i].substr(2)));
    }

    // On a peer REV2 defaults to the release it runs: held at r1, `diff r2` goes backwards.
    REQUIRE_SUCCESS(cluster.pull(0, {"--to", "r1"}));
    ProcessResult back = cluster.depsync(cluster.peer(0), {"diff", "r2"});
    REQUIRE_SUCCESS(back);
    CHECK(lines_of(back.out) == std::vector<std::string>{"M a/x.xml", "A b.xml", "D b2.xml", "A c.xml",
                                                         "D d.xml", "A empty/", "D newdir/", "D newdir/n.xml",
                                                         "D newdir/sub/"});
}

TEST_CASE("on a peer, log and diff work from its fetched copy when the primary is unreachable",
          "[e2e][releases]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    publish_two_releases(cluster);
    REQUIRE_SUCCESS(cluster.pull(0));
    ProcessResult primary_log = cluster.depsync(cluster.primary(), {"log"});
    REQUIRE_SUCCESS(primary_log);

    stdfs::rename(cluster.repo(), cluster.root() / "moved-away.git");
    ProcessResult unreachable = cluster.pull(0);
    INFO(describe(unreachable));
    REQUIRE(unreachable.exit_code != 0);

    ProcessResult log = cluster.depsync(peer, {"log"});
    REQUIRE_SUCCESS(log);
    CHECK(log.out == primary_log.out);
    ProcessResult json = cluster.depsync(peer, {"log", "--json"});
    REQUIRE_SUCCESS(json);
    CHECK(json_values(json.out).at("#") == "2");
    ProcessResult diff = cluster.depsync(peer, {"diff", "r1"});
    REQUIRE_SUCCESS(diff);
    CHECK(lines_of(diff.out) == r1_to_r2);
    ProcessResult previous = cluster.depsync(peer, {"diff", "previous", "r2", "--json"});
    REQUIRE_SUCCESS(previous);
    CHECK(json_values(previous.out).at("changes#") == std::to_string(r1_to_r2.size()));
}

TEST_CASE("three releases then a rollback to the first leave every node byte-identical to the first",
          "[e2e][releases]") {
    Cluster cluster(2);
    const Node& primary = cluster.primary();
    dt::TempDir scratch;
    const stdfs::path first = scratch / "r1";

    dt::generate_tree(primary.dir, dt::Profile::small, 5, 0.2);
    snapshot(primary.dir, first);
    publish_ok(cluster, "first");
    REQUIRE_SUCCESS(cluster.pull(0));
    REQUIRE_SUCCESS(cluster.pull(1));

    dt::Rng rng(17);
    dt::bump_version(primary.dir, rng);
    dt::edit_xml(primary.dir, 2, rng);
    publish_ok(cluster, "second");
    REQUIRE_SUCCESS(cluster.pull(0));  // peer2 stays at r1 and must converge all the same

    dt::delete_app(primary.dir, rng);
    dt::edit_xml(primary.dir, 1, rng);
    write_file(primary.dir / "class-mediators/new-check.sh", "#!/bin/sh\nexit 0\n");
    stdfs::permissions(primary.dir / "class-mediators/new-check.sh", stdfs::perms::owner_exec,
                       stdfs::perm_options::add);
    dt::empty_folder(primary.dir, "synapse-configs/default/endpoints");
    publish_ok(cluster, "third");
    REQUIRE_SUCCESS(cluster.pull(0));
    const std::vector<std::string> ids = {rev_parse(cluster, "r1"), rev_parse(cluster, "r2"),
                                          rev_parse(cluster, "r3")};

    ProcessResult rollback = cluster.depsync(primary, {"rollback", "r1", "-m", "third broke orders"});
    REQUIRE_SUCCESS(rollback);
    CHECK(rollback.out == "rollback: r4 restores r1\n");
    require_same_tree(first, primary.dir);

    // History is never rewritten: r4 is a new commit on top of r3.
    CHECK(cluster.release_commits() == 4);
    CHECK(rev_parse(cluster, "main^") == ids[2]);
    CHECK(rev_parse(cluster, "main^^") == ids[1]);
    CHECK(rev_parse(cluster, "main^^^") == ids[0]);
    CHECK(rev_parse(cluster, "main^{tree}") == rev_parse(cluster, "r1^{tree}"));

    for (std::size_t i = 0; i < cluster.peer_count(); ++i) {
        ProcessResult pulled = cluster.pull(i);
        REQUIRE_SUCCESS(pulled);
        auto line = parse_pulled(pulled.out);
        INFO(pulled.out);
        REQUIRE(line);
        CHECK(line->from == std::optional<std::uint64_t>(i == 0 ? 3 : 1));
        CHECK(line->to == 4);
        require_same_tree(first, cluster.peer(i).dir);
        CHECK(status_of(cluster, cluster.peer(i)).at("release") == "4");
    }

    ProcessResult log = cluster.depsync(primary, {"log", "--json"});
    REQUIRE_SUCCESS(log);
    auto v = json_values(log.out);
    CHECK(v.at("#") == "4");
    CHECK(v.at("[0].release") == "4");
    CHECK(v.at("[0].restores") == "1");
    CHECK(v.at("[0].message") == quoted("third broke orders"));
    ProcessResult peer_log = cluster.depsync(cluster.peer(1), {"log"});
    REQUIRE_SUCCESS(peer_log);
    REQUIRE(lines_of(peer_log.out).size() == 4);
    CHECK(lines_of(peer_log.out)[0].find("third broke orders  [restores r1]") != std::string::npos);

    {
        INFO("rolling back to the content the cluster already runs is a no-op");
        const dt::TreeListing before = dt::describe_tree(primary.dir);
        ProcessResult same_content = cluster.depsync(primary, {"rollback", "r1"});
        REQUIRE_SUCCESS(same_content);
        CHECK(same_content.out == "nothing to roll back: r4 already has the content of r1\n");
        ProcessResult current = cluster.depsync(primary, {"rollback", "r4"});
        REQUIRE_SUCCESS(current);
        CHECK(current.out == "nothing to roll back: r4 already has the content of r4\n");
        CHECK(cluster.release_commits() == 4);
        CHECK(touched(before, dt::describe_tree(primary.dir)).empty());
    }

    {
        INFO("a peer cannot roll back the cluster");
        ProcessResult r = cluster.depsync(cluster.peer(0), {"rollback", "r2"});
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("depsync pin REV") != std::string::npos);
        CHECK(cluster.release_commits() == 4);
    }
}

TEST_CASE("rollback refuses unpublished changes and names them, then --force saves them to backup first",
          "[e2e][releases]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    dt::TempDir scratch;
    write_file(primary.dir / "api/orders.xml", "<api v='1'/>\n");
    write_file(primary.dir / "api/stock.xml", "<stock/>\n");
    snapshot(primary.dir, scratch / "r1");
    publish_ok(cluster, "first");
    write_file(primary.dir / "api/orders.xml", "<api v='2'/>\n");
    publish_ok(cluster, "second");

    // Unpublished: an edit to a file, and a new file.
    write_file(primary.dir / "api/stock.xml", "<stock edited='by hand'/>\n");
    write_file(primary.dir / "api/hotfix.xml", "<hotfix/>\n");

    ProcessResult refused = cluster.depsync(primary, {"rollback", "r1"});
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(refused.out.empty());
    CHECK(refused.err.find("unpublished changes") != std::string::npos);
    CHECK(std::count(refused.err.begin(), refused.err.end(), '\n') == 1);
    CHECK(refused.err.find(" M api/stock.xml") != std::string::npos);
    CHECK(refused.err.find(" A api/hotfix.xml") != std::string::npos);
    CHECK(refused.err.find("--force") != std::string::npos);
    CHECK(cluster.release_commits() == 2);
    CHECK(read_file(primary.dir / "api/hotfix.xml") == "<hotfix/>\n");
    CHECK(read_file(primary.dir / "api/stock.xml") == "<stock edited='by hand'/>\n");
    CHECK(read_file(primary.dir / "api/orders.xml") == "<api v='2'/>\n");
    CHECK((!stdfs::exists(primary.state / "backup") || stdfs::is_empty(primary.state / "backup")));

    ProcessResult forced = cluster.depsync(primary, {"rollback", "r1", "--force"});
    REQUIRE_SUCCESS(forced);
    auto lines = lines_of(forced.out);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] == "rollback: r3 restores r1");
    std::smatch m;
    REQUIRE(std::regex_match(lines[1], m, std::regex("saved unpublished changes to (.*)")));
    const stdfs::path backup = m.str(1);
    CHECK(backup.parent_path() == primary.state / "backup");
    CHECK(std::regex_match(backup.filename().string(), std::regex(R"(\d{8}-\d{6}-r3-unpublished)")));
    CHECK(read_file(backup / "api/hotfix.xml") == "<hotfix/>\n");
    CHECK(read_file(backup / "api/stock.xml") == "<stock edited='by hand'/>\n");
    CHECK(cluster.release_commits() == 3);
    require_same_tree(scratch / "r1", primary.dir);

    ProcessResult backups = cluster.depsync(primary, {"backups"});
    REQUIRE_SUCCESS(backups);
    CHECK(backups.out.rfind(backup.string() + "  2 file(s), ", 0) == 0);
}

TEST_CASE("a pinned peer holds its release through publishes until unpin, then catches up",
          "[e2e][releases]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    dt::TempDir scratch;
    write_file(primary.dir / "api/orders.xml", "<api v='1'/>\n");
    snapshot(primary.dir, scratch / "r1");
    publish_ok(cluster, "first");
    write_file(primary.dir / "api/orders.xml", "<api v='2'/>\n");
    publish_ok(cluster, "second");
    REQUIRE_SUCCESS(cluster.pull(0));

    ProcessResult pin = cluster.depsync(peer, {"pin", "r1"});
    REQUIRE_SUCCESS(pin);
    CHECK(pin.out == "pinned at r1 (upstream at r2)\n");
    require_same_tree(scratch / "r1", peer.dir);
    const dt::TreeListing held = dt::describe_tree(peer.dir);

    write_file(primary.dir / "api/orders.xml", "<api v='3'/>\n");
    write_file(primary.dir / "api/stock.xml", "<stock/>\n");
    publish_ok(cluster, "third");
    for (int i = 0; i < 2; ++i) {
        ProcessResult pulled = cluster.pull(0);
        REQUIRE_SUCCESS(pulled);
        CHECK(pulled.out == "pinned at r1 (upstream at r3)\n");
    }
    CHECK(touched(held, dt::describe_tree(peer.dir)).empty());

    auto status = status_of(cluster, peer);
    CHECK(status.at("pinned") == "true");
    CHECK(status.at("release") == "1");
    CHECK(status.at("upstream_release") == "3");
    ProcessResult text = cluster.depsync(peer, {"status"});
    REQUIRE_SUCCESS(text);
    CHECK(text.out.find("pinned:   r1 since ") != std::string::npos);
    CHECK(text.out.find("(no reason given)") != std::string::npos);

    ProcessResult unpin = cluster.depsync(peer, {"unpin"});
    REQUIRE_SUCCESS(unpin);
    CHECK(unpin.out == "unpinned (was pinned at r1); the next pull moves to the newest release\n");
    ProcessResult again = cluster.depsync(peer, {"unpin"});
    REQUIRE_SUCCESS(again);
    CHECK(again.out == "not pinned\n");

    ProcessResult caught_up = cluster.pull(0);
    REQUIRE_SUCCESS(caught_up);
    CHECK(caught_up.out == "r1 -> r3 (+1 ~1 -0)\n");
    require_same_tree(primary.dir, peer.dir);
    status = status_of(cluster, peer);
    CHECK(status.at("pinned") == "false");
    CHECK(status.at("release") == "3");
}

TEST_CASE("pull --to applies an older release once and the next plain pull moves forward",
          "[e2e][releases]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    dt::TempDir scratch;
    write_file(primary.dir / "api/orders.xml", "<api v='1'/>\n");
    snapshot(primary.dir, scratch / "r1");
    publish_ok(cluster, "first");
    write_file(primary.dir / "api/orders.xml", "<api v='2'/>\n");
    write_file(primary.dir / "api/stock.xml", "<stock/>\n");
    publish_ok(cluster, "second");
    stdfs::remove(primary.dir / "api/stock.xml");
    write_file(primary.dir / "api/billing.xml", "<billing/>\n");
    publish_ok(cluster, "third");

    ProcessResult to = cluster.pull(0, {"--to", "r1"});
    REQUIRE_SUCCESS(to);
    CHECK(to.out == "none -> r1 (+1 ~0 -0)\n");
    require_same_tree(scratch / "r1", peer.dir);
    auto status = status_of(cluster, peer);
    CHECK(status.at("release") == "1");
    CHECK(status.at("upstream_release") == "3");
    CHECK(status.at("pinned") == "false");

    ProcessResult forward = cluster.pull(0);
    REQUIRE_SUCCESS(forward);
    CHECK(forward.out == "r1 -> r3 (+1 ~1 -0)\n");
    require_same_tree(primary.dir, peer.dir);
    ProcessResult noop = cluster.pull(0);
    REQUIRE_SUCCESS(noop);
    CHECK(noop.out == "up to date at r3\n");
}

TEST_CASE("a peer refuses an upstream whose history no longer holds its release, unless --accept-rewrite",
          "[e2e][releases]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    dt::TempDir scratch;
    write_file(primary.dir / "api/orders.xml", "<api v='1'/>\n");
    publish_ok(cluster, "first");
    write_file(primary.dir / "api/orders.xml", "<api v='2'/>\n");
    publish_ok(cluster, "second");
    REQUIRE_SUCCESS(cluster.pull(0));
    snapshot(peer.dir, scratch / "r2");

    // Plain git rewrites the branch: a commit with new content whose only parent is r1, so r2 (which the
    // peer runs) is no longer in the history.
    write_file(primary.dir / "api/orders.xml", "<api v='rewritten'/>\n");
    write_file(primary.dir / "api/other.xml", "<other/>\n");
    publish_ok(cluster, "content for the rewrite");
    ProcessResult rewritten =
        git({"-C", cluster.repo().string(), "commit-tree", rev_parse(cluster, "r3^{tree}"), "-p",
             rev_parse(cluster, "r1"), "-m", "rewritten history"});
    REQUIRE_SUCCESS(rewritten);
    const std::string new_tip = rewritten.out.substr(0, 40);
    REQUIRE_SUCCESS(git({"-C", cluster.repo().string(), "update-ref", "refs/heads/main", new_tip}));
    const dt::TreeListing before = dt::describe_tree(peer.dir);

    ProcessResult refused = cluster.pull(0);
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(refused.out.empty());
    CHECK(refused.err.find("upstream history no longer contains the deployed release r2") !=
          std::string::npos);
    CHECK(refused.err.find("Nothing was applied") != std::string::npos);
    CHECK(refused.err.find("--accept-rewrite") != std::string::npos);
    CHECK(touched(before, dt::describe_tree(peer.dir)).empty());
    require_same_tree(scratch / "r2", peer.dir);
    CHECK(status_of(cluster, peer).at("commit") == rev_parse(cluster, "r2"));

    ProcessResult accepted = cluster.pull(0, {"--accept-rewrite"});
    REQUIRE_SUCCESS(accepted);
    INFO(accepted.out);
    auto line = parse_pulled(accepted.out);
    REQUIRE(line);
    CHECK(line->from == std::optional<std::uint64_t>(2));
    require_same_tree(primary.dir, peer.dir);
    CHECK(status_of(cluster, peer).at("commit") == new_tip);
    ProcessResult noop = cluster.pull(0);
    REQUIRE_SUCCESS(noop);
    CHECK(parse_up_to_date(noop.out));
}

// The command is the first word that is not an option or its value: a message that reads like a command
// is a message.
TEST_CASE("a release message that is a command name is just the message", "[e2e][releases]") {
    Cluster cluster(0);
    write_file(cluster.primary().dir / "a.xml", "<a/>\n");
    for (const char* word : {"init", "status"}) {
        write_file(cluster.primary().dir / (std::string(word) + ".xml"), "<b/>\n");
        ProcessResult published = cluster.depsync(cluster.primary(), {"publish", "-m", word});
        INFO(describe(published));
        REQUIRE_SUCCESS(published);
        REQUIRE(parse_published(published.out));
        ProcessResult log = cluster.depsync(cluster.primary(), {"log", "-n", "1", "--json"});
        REQUIRE_SUCCESS(log);
        CHECK(json_values(log.out).at("[0].message") == quoted(word));
    }
}

namespace {

// The number `log` gives the release branch's tip.
std::uint64_t tip_number(const Cluster& cluster) {
    ProcessResult log = cluster.depsync(cluster.primary(), {"log", "-n", "1", "--json"});
    INFO(describe(log));
    REQUIRE(log.exit_code == 0);
    return std::stoull(json_values(log.out).at("[0].release"));
}

}  // namespace

TEST_CASE("a release number counts only from the final trailer block, in range and above its parent's",
          "[e2e][releases]") {
    Cluster cluster(0);
    Crafter craft(cluster.repo(), cluster.root() / "craft");
    write_file(cluster.primary().dir / "a.xml", "<a/>\n");
    REQUIRE_SUCCESS(cluster.publish("first"));
    write_file(cluster.primary().dir / "b.xml", "<b/>\n");
    REQUIRE_SUCCESS(cluster.publish("second"));
    const std::string r2 = craft.rev("refs/heads/main");
    const std::string tree = craft.rev("r2^{tree}");
    struct Case {
        const char* what;
        std::string message;
        std::uint64_t number;
    };
    const std::vector<Case> cases = {
        {"a trailer-like line in the body", "x\n\nDepsync-Release: 1\n\nmore text\n", 3},
        {"a trailer in the subject paragraph only", "Depsync-Release: 9\n", 3},
        {"a final block with one line that is not a trailer", "x\n\nDepsync-Release: 9\nnot a trailer\n", 3},
        {"a negative number", "x\n\nDepsync-Release: -1\n", 3},
        {"a number not above the parent's", "x\n\nDepsync-Release: 2\n", 3},
        {"a number far below", "x\n\nDepsync-Release: 1\n", 3},
        {"hexadecimal", "x\n\nDepsync-Release: 0x10\n", 3},
        {"a leading zero", "x\n\nDepsync-Release: 09\n", 3},
        {"trailing text", "x\n\nDepsync-Release: 7 or so\n", 3},
        {"out of range", "x\n\nDepsync-Release: 18446744073709551617\n", 3},
        {"a plain decimal number above the parent's", "x\n\nDepsync-Release: 7\n", 7},
        {"a valid number, followed by other trailers", "x\n\nDepsync-Release: 5\nSigned-off-by: A <a@b>\n",
         5},
    };
    for (const Case& c : cases) {
        INFO(c.what);
        craft.publish(tree, r2, c.message);
        CHECK(tip_number(cluster) == c.number);
    }
    // The primary's next publish numbers on from the tip and tags it.
    craft.publish(tree, r2, "x\n\nDepsync-Release: -1\n");
    write_file(cluster.primary().dir / "c.xml", "<c/>\n");
    ProcessResult published = cluster.publish("fourth");
    INFO(describe(published));
    REQUIRE(published.exit_code == 0);
    auto line = parse_published(published.out);
    REQUIRE(line);
    CHECK(line->release == 4);
    CHECK(craft.rev("r4") == craft.rev("refs/heads/main"));
}

TEST_CASE("publish moves a tag rN that names another commit, and says so", "[e2e][releases]") {
    Cluster cluster(0);
    Crafter craft(cluster.repo(), cluster.root() / "craft");
    write_file(cluster.primary().dir / "a.xml", "<a/>\n");
    REQUIRE_SUCCESS(cluster.publish("first"));
    const std::string r1 = craft.rev("refs/heads/main");
    // Plain git made r2 name release 1.
    checked_git({"-C", cluster.repo().string(), "tag", "r2", r1});
    write_file(cluster.primary().dir / "b.xml", "<b/>\n");
    ProcessResult published = cluster.publish("second");
    INFO(describe(published));
    REQUIRE(published.exit_code == 0);
    REQUIRE(parse_published(published.out));
    CHECK(parse_published(published.out)->release == 2);
    CHECK(craft.rev("r2") == craft.rev("refs/heads/main"));
    CHECK(published.err.find("tag r2") != std::string::npos);
    // The rollback's tag is repaired the same way.
    checked_git({"-C", cluster.repo().string(), "tag", "r3", r1});
    ProcessResult rollback = cluster.depsync(cluster.primary(), {"rollback", "r1"});
    INFO(describe(rollback));
    REQUIRE(rollback.exit_code == 0);
    CHECK(craft.rev("r3") == craft.rev("refs/heads/main"));
    CHECK(rollback.err.find("tag r3") != std::string::npos);
}

TEST_CASE("a release message cannot add trailers: single-root peers still apply it", "[e2e][releases]") {
    Cluster cluster(1);
    Crafter craft(cluster.repo(), cluster.root() / "craft");
    write_file(cluster.primary().dir / "a.xml", "<a/>\n");
    REQUIRE_SUCCESS(cluster.publish("first"));
    REQUIRE_SUCCESS(cluster.pull(0));
    for (const std::string& message :
         {std::string("x\n\nDepsync-Roots: a,b"), std::string("x\n\nDepsync-Roots: a,b\n \n"),
          std::string("x\nDepsync-Roots: a,b\nDepsync-Release: 1"),
          std::string("x\n\nDepsync-Release: 99\nDepsync-Restores: 1")}) {
        INFO(message);
        write_file(cluster.primary().dir / "a.xml", "<a n=\"" + std::to_string(message.size()) + "\"/>\n");
        ProcessResult published = cluster.depsync(cluster.primary(), {"publish", "-m", message});
        INFO(describe(published));
        REQUIRE(published.exit_code == 0);
        auto line = parse_published(published.out);
        REQUIRE(line);
        ProcessResult pulled = cluster.pull(0);
        INFO(describe(pulled));
        CHECK(pulled.exit_code == 0);
        CHECK(differences(cluster.primary().dir, cluster.peer(0).dir).empty());
        // git reads the same trailers as depsync: only depsync's own block.
        ProcessResult body = git({"-C", cluster.repo().string(), "log", "-1", "--format=%B", "main"});
        std::string msg = body.out;
        write_file(cluster.root() / "msg", msg);
        ProcessResult git_view = depsync::testing::run(
            {"sh", "-c",
             "GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null git interpret-trailers --parse < \"$0\"",
             (cluster.root() / "msg").string()},
            {});
        INFO(describe(git_view));
        CHECK(git_view.out.find("Depsync-Roots") == std::string::npos);
        CHECK(git_view.out.find("Depsync-Release: " + std::to_string(line->release) + "\n") == 0);
        CHECK(git_view.out.find("Depsync-Restores") == std::string::npos);
        CHECK(tip_number(cluster) == line->release);
    }
}

TEST_CASE("rollback previous walks back: three in a row restore r4, r3 and r2, never the bad release again",
          "[e2e][releases]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const stdfs::path dir = primary.dir;
    dt::generate_tree(dir, dt::Profile::small, 121);
    dt::Rng rng(122);
    // r1..r5, each with other content; r5 is the bad one. A copy of every release's tree to compare with.
    for (int n = 1; n <= 5; ++n) {
        if (n > 1) {
            write_file(dir / "synapse-configs/default/api/Release.xml",
                       "<api name=\"Release\" n=\"" + std::to_string(n) + "\"/>\n");
            dt::write_car(dir / ("carbonapps/Step_1.0." + std::to_string(n) + ".car"), "Step",
                          "1.0." + std::to_string(n), 2000, rng);
            if (n > 2) stdfs::remove(dir / ("carbonapps/Step_1.0." + std::to_string(n - 1) + ".car"));
        }
        publish_ok(cluster, "release " + std::to_string(n));
        snapshot(dir, cluster.root() / ("r" + std::to_string(n)));
    }
    REQUIRE_SUCCESS(cluster.pull(0));

    for (int rollback = 1; rollback <= 3; ++rollback) {
        const int release = 5 + rollback, restored = 5 - rollback;
        INFO("rollback previous #" << rollback);
        ProcessResult r = cluster.depsync(primary, {"rollback", "previous"});
        REQUIRE_SUCCESS(r);
        CHECK(r.out ==
              "rollback: r" + std::to_string(release) + " restores r" + std::to_string(restored) + "\n");
        const stdfs::path expected = cluster.root() / ("r" + std::to_string(restored));
        require_same_tree(expected, dir);
        CHECK(rev_parse(cluster, "r" + std::to_string(release) + "^{tree}") ==
              rev_parse(cluster, "r" + std::to_string(restored) + "^{tree}"));
        REQUIRE_SUCCESS(cluster.pull(0));
        require_same_tree(expected, cluster.peer(0).dir);
    }

    // log marks the release each node runs and what every rollback restored.
    for (const Node* node : {&primary, &cluster.peer(0)}) {
        ProcessResult log = cluster.depsync(*node, {"log"});
        REQUIRE_SUCCESS(log);
        auto lines = lines_of(log.out);
        REQUIRE(lines.size() == 8);
        INFO(log.out);
        CHECK(contains(lines[0], "  [restores r2]  [current]"));
        CHECK(contains(lines[1], "  [restores r3]"));
        CHECK(contains(lines[2], "  [restores r4]"));
        for (std::size_t i = 1; i < lines.size(); ++i) CHECK_FALSE(contains(lines[i], "[current]"));
        for (std::size_t i = 3; i < lines.size(); ++i) CHECK_FALSE(contains(lines[i], "[restores"));
    }
    ProcessResult json = cluster.depsync(primary, {"log", "--json", "-n", "2"});
    REQUIRE_SUCCESS(json);
    auto v = json_values(json.out);
    CHECK(v.at("[0].current") == "true");
    CHECK(v.at("[1].current") == "false");

    // A peer's pull --to previous means the same: r8 holds r2, so previous is r1; the next pull returns.
    ProcessResult back = cluster.pull(0, {"--to", "previous"});
    REQUIRE_SUCCESS(back);
    CHECK(parse_pulled(back.out)->to == 1);
    require_same_tree(cluster.root() / "r1", cluster.peer(0).dir);
    ProcessResult log = cluster.depsync(cluster.peer(0), {"log"});
    CHECK(contains(lines_of(log.out).at(7), "  [current]"));
    REQUIRE_SUCCESS(cluster.pull(0));
    require_same_tree(cluster.root() / "r2", cluster.peer(0).dir);
}
