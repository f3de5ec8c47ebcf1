// Text from a release or a directory never reaches a terminal raw: commit subjects, node names and file
// names with escape sequences, newlines, C1 controls or bytes that are not UTF-8 are shown escaped by log,
// status, diff, pull --dry-run, warnings and errors. Assertions are on the bytes written.

#include <catch2/catch.hpp>

#include <sstream>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

// Hostile names: a colour change and a title change (OSC), a C1 CSI (U+009B, UTF-8 c2 9b), a lone 0xff.
const std::string esc_name = "esc-\x1b[31mred\x1b]0;pwned\x07-nl\nforged.xml";
const std::string esc_shown = "esc-\\x1b[31mred\\x1b]0;pwned\\x07-nl\\nforged.xml";
const std::string c1_name =
    "c1-\xc2\x9b"
    "2J-\xff.xml";
const std::string c1_shown = "c1-\\xc2\\x9b2J-\\xff.xml";
const std::string subject = "Orders \x1b[2J\x1b[H\tcleared\rscreen\x7f";
const std::string subject_shown = "Orders \\x1b[2J\\x1b[H\\tcleared\\rscreen\\x7f";
const std::string node_name = "prim\x1b[7mary";
const std::string node_shown = "prim\\x1b[7mary";

// The bytes a terminal would act on, described; empty when there are none. A newline only ends a line.
std::string raw_controls(const std::string& text) {
    std::ostringstream found;
    for (std::size_t i = 0; i < text.size(); ++i) {
        auto c = static_cast<unsigned char>(text[i]);
        bool c1 = c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                  static_cast<unsigned char>(text[i + 1]) <= 0x9f;
        if ((c < 0x20 && c != '\n') || c == 0x7f || c == 0xff || c1)
            found << "byte 0x" << std::hex << int(c) << std::dec << " at " << i << "; ";
    }
    return found.str();
}

void require_printable(const ProcessResult& r) {
    INFO(describe(r));
    CHECK(raw_controls(r.out).empty());
    CHECK(raw_controls(r.err).empty());
}

std::string rev_parse(const stdfs::path& repo, const std::string& rev) {
    ProcessResult r = git({"-C", repo.string(), "rev-parse", rev});
    return r.out.substr(0, r.out.find('\n'));
}

}  // namespace

TEST_CASE("hostile names and messages are shown escaped by log, status, diff, dry runs, warnings and errors",
          "[e2e][hostile]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    dt::generate_tree(primary.dir, dt::Profile::small, 1309, 0.05);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));

    // r2 from the primary's directory: the C1/0xff name is published, the ESC/newline name is not (a warning
    // names it); the subject and the node name carry escapes.
    write_file(primary.dir / "userstores" / c1_name, "<c1/>\n");
    write_file(primary.dir / "userstores" / esc_name, "<esc/>\n");
    ProcessResult published = cluster.depsync(primary, {"--node", node_name, "publish", "-m", subject});
    INFO(describe(published));
    REQUIRE(published.exit_code == 0);
    require_printable(published);
    CHECK(contains(published.err, "userstores/" + esc_shown));

    ProcessResult log = cluster.depsync(primary, {"log"});
    REQUIRE_SUCCESS(log);
    require_printable(log);
    CHECK(contains(log.out, subject_shown));
    CHECK(contains(log.out, node_shown));

    ProcessResult diff = cluster.depsync(primary, {"diff", "r1", "r2"});
    REQUIRE_SUCCESS(diff);
    require_printable(diff);
    CHECK(contains(diff.out, "A userstores/" + c1_shown + "\n"));

    ProcessResult plan = cluster.pull(0, {"--dry-run"});
    REQUIRE_SUCCESS(plan);
    require_printable(plan);
    CHECK(contains(plan.out, "userstores/" + c1_shown));

    REQUIRE_SUCCESS(cluster.pull(0));
    CHECK(stdfs::exists(peer.dir / "userstores" / c1_name));
    ProcessResult status = cluster.depsync(peer, {"status"});
    REQUIRE_SUCCESS(status);
    require_printable(status);
    CHECK(contains(status.out, "(" + node_shown + ")"));
    ProcessResult peer_log = cluster.depsync(peer, {"log"});
    REQUIRE_SUCCESS(peer_log);
    require_printable(peer_log);
    CHECK(contains(peer_log.out, subject_shown));

    // r3 by plain git: the ESC/newline name in the tree. Peers refuse the release; the error names the path
    // escaped, on one line.
    const stdfs::path work = cluster.root() / "plain-git";
    REQUIRE_SUCCESS(git({"clone", "--quiet", cluster.repo().string(), work.string()}));
    write_file(work / "userstores" / esc_name, "<esc/>\n");
    REQUIRE_SUCCESS(git({"-C", work.string(), "add", "--all"}));
    REQUIRE_SUCCESS(git({"-C", work.string(), "commit", "--quiet", "-m", "plain \x1b[31mgit\x1b[0m"}));
    REQUIRE_SUCCESS(git({"-C", work.string(), "push", "--quiet", "origin", "HEAD:main"}));
    REQUIRE(rev_parse(cluster.repo(), "main") == rev_parse(work, "HEAD"));
    for (const std::vector<std::string>& extra :
         {std::vector<std::string>{"--dry-run"}, std::vector<std::string>{}}) {
        ProcessResult refused = cluster.pull(0, extra);
        INFO(describe(refused));
        CHECK(refused.exit_code != 0);
        require_printable(refused);
        CHECK(contains(refused.err, esc_shown));
        CHECK(std::count(refused.err.begin(), refused.err.end(), '\n') == 1);
    }
    ProcessResult after = cluster.depsync(peer, {"status"});
    INFO(describe(after));
    require_printable(after);
    // The last error, as status shows it (the run record keeps one line: the newline became a space).
    CHECK(contains(after.out, esc_shown.substr(0, esc_shown.find("\\n"))));
}
