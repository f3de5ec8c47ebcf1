// Pins as the operator means them, and the newest release as the repository holds it: a peer pinned with a
// reason is shown as pinned (status text and JSON, the cluster table, JSON and HTML page) and counts as
// converged while it runs its pin; hostile reasons are refused or shown escaped; cluster status run with the
// primary's (or a peer's) config counts every node against the repository's newest release, whether or not
// the primary is in the nodes file. Nodes are local (config paths in the nodes file): the ssh path is
// covered by cluster_view_test.

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <regex>
#include <sstream>

#include "cluster.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;
using nlohmann::json;

// Writes a nodes file naming `nodes` by their config files; returns its path.
stdfs::path nodes_file(const Cluster& cluster, const std::vector<Node>& nodes, const std::string& name) {
    std::string text;
    for (const Node& n : nodes) text += n.config.string() + "\n";
    stdfs::path file = cluster.root() / name;
    write_file(file, text);
    return file;
}

// `depsync -c CONF cluster ARGS... --nodes FILE`, run as an operator would on that node's machine.
ProcessResult cluster_cmd(const Node& from, const std::vector<std::string>& args, const stdfs::path& nodes) {
    std::vector<std::string> argv = {dt::depsync_bin(), "-c", from.config.string(), "cluster"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--nodes", nodes.string()});
    return dt::run(argv);
}

// cluster status --json by node name.
std::map<std::string, json> by_node(const ProcessResult& r) {
    std::map<std::string, json> out;
    for (const json& o : json::parse(r.out)) out[o.at("node").get<std::string>()] = o;
    return out;
}

// The text table's row for a node, split on white space.
std::vector<std::string> table_row(const std::string& out, const std::string& node) {
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::vector<std::string> cols;
        for (std::string w; words >> w;) cols.push_back(w);
        if (!cols.empty() && cols[0] == node) return cols;
    }
    return {};
}

std::string line_with(const std::string& out, const std::string& what) {
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);)
        if (line.find(what) != std::string::npos) return line;
    return "";
}

// Publishes a release that adds `name`.
void publish_with(const Cluster& cluster, const std::string& name) {
    write_file(cluster.primary().dir / ("api/" + name + ".xml"), "<api name='" + name + "'/>\n");
    REQUIRE_SUCCESS(cluster.publish(name));
}

// Replaces the pin_reason line of a peer's pinned record (as a hand edit or a damaged tool would).
void set_recorded_reason(const Node& peer, const std::string& reason) {
    std::istringstream in(read_file(peer.state / "pinned"));
    std::string text;
    for (std::string line; std::getline(in, line);)
        if (line.rfind("pin_reason=", 0) != 0) text += line + "\n";
    write_file(peer.state / "pinned", text + "pin_reason=" + reason + "\n");
}

const std::regex iso_time(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$)");

}  // namespace

TEST_CASE("a peer pinned with a reason is shown as pinned and counts as converged while it runs its pin",
          "[e2e][cluster][pin]") {
    Cluster cluster(2);
    const Node &primary = cluster.primary(), &held = cluster.peer(0), &follower = cluster.peer(1);
    publish_with(cluster, "orders");
    REQUIRE_SUCCESS(cluster.pull(0));
    publish_with(cluster, "stock");
    const std::string reason = "CHG-1042: payments freeze until Friday (ask ops)";
    ProcessResult pin = cluster.depsync(held, {"pin", "r1", "--reason", reason});
    REQUIRE_SUCCESS(pin);
    CHECK(pin.out == "pinned at r1 (upstream at r2) because: " + reason + "\n");
    publish_with(cluster, "billing");
    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    CHECK(pulled.out == "pinned at r1 (upstream at r3) because: " + reason + "\n");
    REQUIRE_SUCCESS(cluster.pull(1));

    // The peer's own status: pinned since when, why, and how to release it; not "behind, run pull".
    json status = json::parse(cluster.status_json(held).out);
    CHECK(status.at("pinned") == true);
    CHECK(status.at("pinned_release") == 1);
    CHECK(status.at("pin_reason") == reason);
    CHECK(status.at("on_pin") == true);
    CHECK(status.at("releases_behind") == 2);
    const std::string since = status.at("pinned_at").get<std::string>();
    CHECK(std::regex_match(since, iso_time));
    ProcessResult text = cluster.depsync(held, {"status"});
    REQUIRE_SUCCESS(text);
    CHECK(contains(text.out, "pinned:   r1 since " + since + " because: " + reason + "\n"));
    CHECK(contains(text.out, "2 newer release(s) wait"));
    CHECK(contains(text.out, "run 'depsync unpin', then 'depsync pull', to follow releases again"));
    CHECK_FALSE(contains(text.out, "behind:"));
    CHECK_FALSE(contains(text.out, "run 'depsync pull')"));

    // The cluster: the pin is expected, so the cluster has converged.
    const stdfs::path nodes = nodes_file(cluster, {primary, held, follower}, "nodes.txt");
    ProcessResult table = cluster_cmd(primary, {"status"}, nodes);
    INFO(describe(table));
    CHECK(table.exit_code == 0);
    CHECK(contains(table.out,
                   "converged: all 3 node(s) on r3 or their pin (1 pinned); newest r3 from the "
                   "primary's repository " +
                       cluster.repo().string() + "\n"));
    // NODE RELEASE COMMIT BEHIND DRIFT LAST-SUCCESS REACHABLE STATE DETAIL...
    auto row = table_row(table.out, "peer1");
    REQUIRE(row.size() >= 9);
    CHECK(row[1] == "r1");
    CHECK(row[3] == "2");
    CHECK(row[7] == "pinned");
    CHECK(contains(line_with(table.out, "peer1 "), "pinned to r1 since " + since + ": CHG-1042: payments"));
    CHECK(table_row(table.out, "peer2").at(7) == "on-newest");

    ProcessResult js = cluster_cmd(primary, {"status", "--json"}, nodes);
    INFO(describe(js));
    CHECK(js.exit_code == 0);
    auto view = by_node(js);
    CHECK(view.at("peer1").at("state") == "pinned");
    CHECK(view.at("peer1").at("pinned_release") == 1);
    CHECK(view.at("peer1").at("pinned_at") == since);
    CHECK(view.at("peer1").at("pin_reason") == reason);
    CHECK(view.at("peer1").at("on_pin") == true);
    CHECK(view.at("peer1").at("behind") == 2);
    CHECK(view.at("peer2").at("state") == "on newest");

    const stdfs::path page = cluster.root() / "cluster.html";
    REQUIRE_SUCCESS(cluster_cmd(primary, {"status", "--html", page.string()}, nodes));
    const std::string html = read_file(page);
    CHECK(contains(html, "<p id=\"verdict\" class=\"verdict ok\">Converged: all 3 nodes on r3 or their pin"));
    CHECK(contains(html, "<tr class=\"pinned\" data-node=\"peer1\">"));
    CHECK(contains(html, "<td class=\"pin\">pinned to r1 since " + since + ": CHG-1042: payments freeze"));
    CHECK(contains(html, "<td class=\"state\">pinned</td>"));
    CHECK(contains(html, "tr.pinned td { background: #fff8e6; }"));  // amber, not the red of a failure

    // Waiting for convergence ends at once: the pinned node cannot move, and need not.
    auto start = std::chrono::steady_clock::now();
    ProcessResult waited = cluster_cmd(primary, {"pull", "--wait-converged", "30"}, nodes);
    auto took = std::chrono::steady_clock::now() - start;
    INFO(describe(waited));
    CHECK(waited.exit_code == 0);
    CHECK(contains(waited.out, "peer1: pinned at r1 (upstream at r3) because: " + reason));
    CHECK(contains(waited.out, "converged: all 3 node(s) on r3 or their pin (1 pinned)"));
    CHECK(took < std::chrono::seconds(30));
}

TEST_CASE("a pinned peer that does not run its pin, or is unpinned, is behind again", "[e2e][cluster][pin]") {
    Cluster cluster(1);
    const Node &primary = cluster.primary(), &peer = cluster.peer(0);
    publish_with(cluster, "orders");
    publish_with(cluster, "stock");
    publish_with(cluster, "billing");
    REQUIRE_SUCCESS(cluster.depsync(peer, {"pin", "r1", "--reason", "hold"}));
    const stdfs::path nodes = nodes_file(cluster, {primary, peer}, "nodes.txt");

    // pull --to applies r2 once: the node neither runs its pin nor the newest release.
    REQUIRE_SUCCESS(cluster.pull(0, {"--to", "r2"}));
    ProcessResult text = cluster.depsync(peer, {"status"});
    CHECK(contains(text.out, "this node runs r2, not its pin: the next 'depsync pull' returns it to r1"));
    CHECK(json::parse(cluster.status_json(peer).out).at("on_pin") == false);
    ProcessResult table = cluster_cmd(primary, {"status"}, nodes);
    INFO(describe(table));
    CHECK(table.exit_code == 1);
    CHECK(table_row(table.out, "peer1").at(7) == "behind");
    CHECK(contains(line_with(table.out, "peer1 "), "runs r2 until its next pull"));
    CHECK(contains(table.out, "not converged: 1 of 2 node(s) on r3; newest r3"));

    // Back on the pin: converged. Unpinned: one node behind, with the advice to pull.
    REQUIRE_SUCCESS(cluster.pull(0));
    CHECK(cluster_cmd(primary, {"status"}, nodes).exit_code == 0);
    REQUIRE_SUCCESS(cluster.depsync(peer, {"unpin"}));
    table = cluster_cmd(primary, {"status"}, nodes);
    CHECK(table.exit_code == 1);
    CHECK(table_row(table.out, "peer1").at(7) == "behind");
    CHECK(contains(cluster.depsync(peer, {"status"}).out, "behind:   2 release(s) (run 'depsync pull')"));
}

TEST_CASE("a pin reason with control characters or beyond 200 bytes is refused; markup is shown escaped",
          "[e2e][cluster][pin]") {
    Cluster cluster(1);
    const Node &primary = cluster.primary(), &peer = cluster.peer(0);
    publish_with(cluster, "orders");
    publish_with(cluster, "stock");

    for (const std::string& hostile :
         {std::string("clear\x1b[2Jscreen"), std::string("two\nlines"), std::string("bell\a"),
          std::string("c1 \xc2\x9b"
                      "31m"),
          std::string("bad utf-8 \xff"), std::string(201, 'x')}) {
        ProcessResult r = cluster.depsync(peer, {"pin", "r1", "--reason", hostile});
        INFO(describe(r));
        CHECK(r.exit_code == 2);
        CHECK(r.err.find('\x1b') == std::string::npos);
        CHECK(contains(r.err, "pin reason"));
        CHECK_FALSE(stdfs::exists(peer.state / "pinned"));
    }
    ProcessResult longest = cluster.depsync(peer, {"pin", "r1", "--reason", std::string(200, 'y')});
    REQUIRE_SUCCESS(longest);

    const std::string markup = "<script>alert('x')</script> & \"C:\\deploy\"";
    REQUIRE_SUCCESS(cluster.depsync(peer, {"pin", "r1", "--reason", markup}));
    CHECK(json::parse(cluster.status_json(peer).out).at("pin_reason") == markup);
    const stdfs::path nodes = nodes_file(cluster, {primary, peer}, "nodes.txt");
    const stdfs::path page = cluster.root() / "cluster.html";
    REQUIRE_SUCCESS(cluster_cmd(primary, {"status", "--html", page.string()}, nodes));
    std::string html = read_file(page);
    CHECK_FALSE(contains(html, "<script"));
    CHECK(contains(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;C:\\\\deploy&quot;"));

    // A record edited by hand carries what pin refuses: every output shows it escaped, and bounded.
    set_recorded_reason(peer, "\x1b]0;owned\x07\x1b[2J" + std::string(5000, 'z'));
    ProcessResult text = cluster.depsync(peer, {"status"});
    REQUIRE_SUCCESS(text);
    CHECK(text.out.find('\x1b') == std::string::npos);
    CHECK(contains(text.out, "because: \\x1b]0;owned\\x07\\x1b[2J"));
    json status = json::parse(cluster.status_json(peer).out);
    CHECK(status.at("pin_reason").get<std::string>().substr(0, 3) == "\x1b]0");  // JSON escapes it itself
    ProcessResult table = cluster_cmd(primary, {"status"}, nodes);
    INFO(describe(table));
    CHECK(table.exit_code == 0);
    CHECK(table.out.find('\x1b') == std::string::npos);
    CHECK(table.out.find('\x07') == std::string::npos);
    CHECK(line_with(table.out, "peer1 ").size() < 300);
    ProcessResult js = cluster_cmd(primary, {"status", "--json"}, nodes);
    CHECK(by_node(js).at("peer1").at("pin_reason").get<std::string>().size() == 200);
    REQUIRE_SUCCESS(cluster_cmd(primary, {"status", "--html", page.string()}, nodes));
    html = read_file(page);
    CHECK(html.find('\x1b') == std::string::npos);
    CHECK(html.find('\x07') == std::string::npos);
    CHECK(contains(html, "since "));
    CHECK(contains(html, ": \\x1b]0;owned\\x07\\x1b[2Jzzz"));
    CHECK_FALSE(contains(html, std::string(201, 'z')));
}

TEST_CASE(
    "cluster status counts peers against the repository's newest release when the primary is not listed",
    "[e2e][cluster]") {
    Cluster cluster(2);
    const Node &primary = cluster.primary(), &peer1 = cluster.peer(0), &peer2 = cluster.peer(1);
    publish_with(cluster, "orders");
    REQUIRE_SUCCESS(cluster.pull(0));
    REQUIRE_SUCCESS(cluster.pull(1));
    const stdfs::path peers = nodes_file(cluster, {peer1, peer2}, "peers.txt");
    REQUIRE_SUCCESS(cluster_cmd(primary, {"status"}, peers));
    publish_with(cluster, "stock");

    // On the primary: its own repository names r2, though no listed node has seen it.
    ProcessResult r = cluster_cmd(primary, {"status"}, peers);
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    for (const char* peer : {"peer1", "peer2"}) {
        auto row = table_row(r.out, peer);
        REQUIRE(row.size() >= 8);
        CHECK(row[1] == "r1");
        CHECK(row[3] == "1");
        CHECK(row[7] == "behind");
    }
    CHECK(contains(r.out, "not converged: 0 of 2 node(s) on r2; newest r2 from the primary's repository " +
                              cluster.repo().string() + "\n"));
    ProcessResult js = cluster_cmd(primary, {"status", "--json"}, peers);
    CHECK(js.exit_code == 1);
    for (const auto& [name, o] : by_node(js)) {
        INFO(name);
        CHECK(o.at("behind") == 1);
        CHECK(o.at("on_newest") == false);
    }

    // On a peer: its remote's newest, fetched now (the listed peer has not fetched r2).
    const stdfs::path one = nodes_file(cluster, {peer1}, "one.txt");
    r = cluster_cmd(peer2, {"status"}, one);
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    CHECK(table_row(r.out, "peer1").at(3) == "1");
    CHECK(contains(r.out, "newest r2 from the remote " + cluster.repo().string() + " (fetched now)"));

    // cluster pull brings the peers to r2 and the wait ends converged on the primary's newest release.
    r = cluster_cmd(primary, {"pull", "--wait-converged", "30"}, peers);
    INFO(describe(r));
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "converged: all 2 node(s) on r2; newest r2 from the primary's repository"));
}

TEST_CASE("a pin's reason and time follow the pinned release through a history cut", "[e2e][cluster][pin]") {
    Cluster cluster(1);
    const Node &primary = cluster.primary(), &peer = cluster.peer(0);
    for (const char* name : {"orders", "stock", "billing"}) publish_with(cluster, name);
    REQUIRE_SUCCESS(cluster.depsync(peer, {"pin", "r2", "--reason", "until the audit"}));
    const json before = json::parse(cluster.status_json(peer).out);
    publish_with(cluster, "shipping");
    // r2 is kept and written again with a new id: the pinned record moves to it.
    REQUIRE_SUCCESS(cluster.depsync(primary, {"gc", "--keep", "3", "--keep-days", "0"}));

    ProcessResult pulled = cluster.pull(0);
    INFO(describe(pulled));
    REQUIRE_SUCCESS(pulled);
    CHECK(pulled.out == "pinned at r2 (upstream at r4) because: until the audit\n");
    const json after = json::parse(cluster.status_json(peer).out);
    CHECK(after.at("commit") != before.at("commit"));
    CHECK(after.at("pinned_release") == 2);
    CHECK(after.at("pin_reason") == "until the audit");
    CHECK(after.at("pinned_at") == before.at("pinned_at"));
    CHECK(after.at("on_pin") == true);
}
