// Progress lines: shown on a terminal (a real pty, through script(1)), never under cron, timers or pipes.

#include <catch2/catch.hpp>

#include <regex>

#include "cluster.hpp"
#include "support/process.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;

// Shell-quotes one word for script -c.
std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// Runs depsync with ARGS on a pseudo-terminal; returns what the terminal showed (stdout and stderr).
ProcessResult on_terminal(const Node& node, const std::vector<std::string>& args) {
    std::string command = quote(dt::depsync_bin()) + " -c " + quote(node.config.string());
    for (const auto& a : args) command += " " + quote(a);
    return dt::run({"script", "-qefc", command, "/dev/null"}, {{"DEPSYNC_PROGRESS_DELAY_MS", "0"}});
}

}  // namespace

TEST_CASE("progress is shown on a terminal and never when the output is not one", "[e2e][progress]") {
    Cluster cluster(1);
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 91);

    ProcessResult published = on_terminal(cluster.primary(), {"--settle", "1", "publish", "-m", "first"});
    INFO(describe(published));
    REQUIRE(published.exit_code == 0);
    // A line redrawn in place with counts and a rate, ended by a summary with the time taken.
    CHECK(std::regex_search(published.out,
                            std::regex("\rpublish: reading changed files: [0-9]+ files, [0-9.]+ [KMG]?i?B, "
                                       "[0-9.]+ [KMG]?i?B/s")));
    CHECK(std::regex_search(published.out,
                            std::regex("files, [0-9.]+ [KMG]?i?B, [0-9.]+ [KMG]?i?B/s in [0-9.]+ s")));
    CHECK(published.out.find("published r1") != std::string::npos);

    ProcessResult pulled = on_terminal(cluster.peer(0), {"pull"});
    INFO(describe(pulled));
    REQUIRE(pulled.exit_code == 0);
    CHECK(std::regex_search(
        pulled.out,
        std::regex("staging [^:]+: [0-9]+/[0-9]+ files, [0-9.]+ [KMG]?i?B of [0-9.]+ [KMG]?i?B")));

    // -q on a terminal, and any run whose stderr is a pipe (as under cron): no progress at all.
    dt::generate_tree(cluster.primary().dir / "more", dt::Profile::small, 92);
    ProcessResult quiet = on_terminal(cluster.primary(), {"-q", "--settle", "1", "publish", "-m", "quiet"});
    REQUIRE(quiet.exit_code == 0);
    CHECK(quiet.out.find("files,") == std::string::npos);
    ProcessResult piped = cluster.pull(0);
    REQUIRE_SUCCESS(piped);
    CHECK(piped.err.find("files,") == std::string::npos);
    CHECK(piped.err.find('\r') == std::string::npos);
}
