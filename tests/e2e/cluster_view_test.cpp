// cluster status and cluster pull against three nodes (a primary and two peers, each with its own config)
// reached over a real sshd on 127.0.0.1, with the test's own client key and known_hosts; and the --html page
// rendered by headless Chromium.

#include <catch2/catch.hpp>

#include <sstream>

#include "chromium.hpp"
#include "cluster.hpp"
#include "support/sshd_server.hpp"
#include "support/tcp_proxy.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;
using FlatJson = std::map<std::string, std::string>;

// A primary and two peers; a nodes file naming all three as root@127.0.0.1:PORT CONFIG.
struct SshNodes {
    Cluster cluster{2};
    dt::SshdServer sshd{cluster.root() / "sshd"};
    stdfs::path key = cluster.root() / "keys/id_ed25519";
    stdfs::path known_hosts = cluster.root() / "known_hosts";
    stdfs::path nodes_file = cluster.root() / "nodes.txt";

    SshNodes() {
        dt::generate_ssh_key(key, dt::SshKeyType::ed25519);
        stdfs::path pub = key;
        pub += ".pub";
        sshd.authorize(pub);
        write_file(known_hosts, sshd.known_hosts_line(dt::SshKeyType::ed25519) + "\n");
        write_nodes({});
        dt::generate_tree(cluster.primary().dir, dt::Profile::small, 11, 0.05);
    }

    std::string ssh_target() const {
        return dt::current_user_name() + "@127.0.0.1:" + std::to_string(sshd.port());
    }

    // The three nodes, then `extra` lines.
    void write_nodes(const std::vector<std::string>& extra) const {
        std::string text = "# the test cluster\n";
        text += ssh_target() + "  " + cluster.primary().config.string() + "\n";
        for (std::size_t i = 0; i < cluster.peer_count(); ++i)
            text +=
                ssh_target() + " " + cluster.peer(i).config.string() + "   # " + cluster.peer(i).name + "\n";
        for (const auto& line : extra) text += line + "\n";
        write_file(nodes_file, text);
    }

    // `depsync --known-hosts F --ssh-key K [-c CONF] cluster ARGS... --nodes FILE --remote-command DEPSYNC`.
    ProcessResult run(const std::vector<std::string>& args,
                      const std::optional<stdfs::path>& config = {}) const {
        std::vector<std::string> argv = {dt::depsync_bin(), "--known-hosts", known_hosts.string(),
                                         "--ssh-key", key.string()};
        if (config) argv.insert(argv.end(), {"-c", config->string()});
        argv.push_back("cluster");
        argv.insert(argv.end(), args.begin(), args.end());
        argv.insert(argv.end(), {"--nodes", nodes_file.string(), "--remote-command", dt::depsync_bin()});
        return dt::run(argv);
    }

    std::string describe_run(const ProcessResult& r) const {
        return describe(r) + "--- sshd log:\n" + sshd.log();
    }
};

// The objects of a JSON array of flat objects, each as its own text.
std::vector<std::string> array_items(const std::string& json) {
    std::vector<std::string> items;
    int depth = 0;
    bool in_string = false;
    std::size_t start = 0;
    for (std::size_t i = 0; i < json.size(); ++i) {
        char c = json[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' && depth++ == 0) {
            start = i;
        } else if (c == '}' && --depth == 0) {
            items.push_back(json.substr(start, i - start + 1));
        }
    }
    return items;
}

// cluster status --json, by node name (unreachable nodes by their nodes-file entry).
std::map<std::string, FlatJson> status_by_node(const ProcessResult& r) {
    std::map<std::string, FlatJson> out;
    for (const std::string& item : array_items(r.out)) {
        FlatJson o = parse_flat_json(item);
        out[o.at("node") == "null" ? o.at("target") : o.at("node")] = o;
    }
    return out;
}

std::string field(const std::map<std::string, FlatJson>& nodes, const std::string& node,
                  const std::string& key) {
    return nodes.at(node).at(key);
}

// Sets `key = value` in a config file, replacing the key's line.
void replace_key(const stdfs::path& config, const std::string& key, const std::string& value) {
    std::istringstream in(read_file(config));
    std::string text;
    for (std::string line; std::getline(in, line);)
        text += (line.rfind(key + " =", 0) == 0 ? key + " = " + value : line) + "\n";
    write_file(config, text);
}

// The text table's row for a node, split into columns.
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

}  // namespace

TEST_CASE("cluster status shows every node's release and how far it is behind, before and after a publish",
          "[e2e][cluster][ssh]") {
    SshNodes s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    REQUIRE_SUCCESS(s.cluster.pull(0));
    REQUIRE_SUCCESS(s.cluster.pull(1));

    ProcessResult r = s.run({"status", "--json"});
    INFO(s.describe_run(r));
    REQUIRE(r.exit_code == 0);
    auto nodes = status_by_node(r);
    REQUIRE(nodes.size() == 3);
    for (const char* name : {"primary", "peer1", "peer2"}) {
        CHECK(field(nodes, name, "reachable") == "true");
        CHECK(field(nodes, name, "release") == "1");
        CHECK(field(nodes, name, "behind") == "0");
        CHECK(field(nodes, name, "drift") == "0");
        CHECK(field(nodes, name, "target") == s.ssh_target());
    }
    CHECK(field(nodes, "primary", "role") == "primary");
    CHECK(field(nodes, "peer1", "last_success").size() == 20);  // 2026-11-27T10:26:23Z

    r = s.run({"status"});
    INFO(describe(r));
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("converged: all 3 node(s) on r1") != std::string::npos);

    // A new release on the primary: both peers are one behind until they pull.
    write_file(s.cluster.primary().dir / "synapse-configs/default/api/New.xml", "<api name=\"New\"/>\n");
    REQUIRE_SUCCESS(s.cluster.publish("second"));
    r = s.run({"status", "--json"});
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    nodes = status_by_node(r);
    CHECK(field(nodes, "primary", "release") == "2");
    CHECK(field(nodes, "primary", "behind") == "0");
    for (const char* peer : {"peer1", "peer2"}) {
        CHECK(field(nodes, peer, "release") == "1");
        CHECK(field(nodes, peer, "behind") == "1");
        CHECK(field(nodes, peer, "on_newest") == "false");
    }

    REQUIRE_SUCCESS(s.cluster.pull(0));
    r = s.run({"status"});
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    // NODE RELEASE COMMIT BEHIND DRIFT LAST-SUCCESS REACHABLE LAST-ERROR
    auto peer1 = table_row(r.out, "peer1"), peer2 = table_row(r.out, "peer2");
    REQUIRE(peer1.size() >= 8);
    REQUIRE(peer2.size() >= 8);
    CHECK(peer1[1] == "r2");
    CHECK(peer1[3] == "0");
    CHECK(peer1[6] == "yes");
    CHECK(peer2[1] == "r1");
    CHECK(peer2[3] == "1");
    CHECK(r.out.find("not converged: 2 of 3 node(s) on r2") != std::string::npos);
}

TEST_CASE(
    "cluster status reports an unreachable node and a host key it does not know with its fingerprint and the "
    "line to add, and exits 1",
    "[e2e][cluster][ssh]") {
    SshNodes s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    REQUIRE_SUCCESS(s.cluster.pull(0));
    REQUIRE_SUCCESS(s.cluster.pull(1));
    const std::string closed = "root@127.0.0.1:" + std::to_string(dt::free_port());
    // The same sshd under another name: its key is not in known_hosts for that name, so ssh must refuse.
    const std::string unknown = "root@localhost:" + std::to_string(s.sshd.port());
    s.write_nodes({closed + " /etc/depsync/depsync.conf", unknown + " " + s.cluster.peer(0).config.string()});

    ProcessResult r = s.run({"status", "--json"});
    INFO(s.describe_run(r));
    CHECK(r.exit_code == 1);
    auto nodes = status_by_node(r);
    REQUIRE(nodes.size() == 5);
    CHECK(field(nodes, closed, "reachable") == "false");
    CHECK(field(nodes, closed, "error").find("Connection refused") != std::string::npos);
    CHECK(field(nodes, unknown, "reachable") == "false");
    // Not only ssh's "Host key verification failed.": the fingerprint and the line to add, as pull gives
    // them.
    const std::string known_name = "[localhost]:" + std::to_string(s.sshd.port());
    const stdfs::path host_key = s.sshd.host_key_pub(dt::SshKeyType::ed25519);
    CHECK(field(nodes, unknown, "error") ==
          "unknown ssh host " + known_name + ": its ssh-ed25519 key fingerprint is " +
              dt::ssh_fingerprint_of(host_key) + ". If that is right, add this line to " +
              s.known_hosts.string() + ": " + known_name + " " + dt::ssh_public_key_text(host_key));
    for (const char* name : {"primary", "peer1", "peer2"}) CHECK(field(nodes, name, "on_newest") == "true");

    r = s.run({"status"});
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    auto row = table_row(r.out, closed);
    REQUIRE(row.size() >= 7);
    CHECK(row[6] == "no");
    CHECK(r.out.find("not converged: 3 of 5 node(s) on r1, 2 unreachable") != std::string::npos);

    // A nodes file that is not one is a usage error.
    write_file(s.nodes_file, "root@host:notaport\n");
    r = s.run({"status"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("nodes.txt:1: invalid node address") != std::string::npos);
}

TEST_CASE("cluster pull makes every peer pull and waits until the cluster converged", "[e2e][cluster][ssh]") {
    SshNodes s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    REQUIRE_SUCCESS(s.cluster.pull(0));
    write_file(s.cluster.primary().dir / "synapse-configs/default/api/New.xml", "<api name=\"New\"/>\n");
    REQUIRE_SUCCESS(s.cluster.publish("second"));

    ProcessResult r = s.run({"pull", "--wait-converged", "60"});
    INFO(s.describe_run(r));
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("primary: primary at r2 (not pulled)") != std::string::npos);
    CHECK(r.out.find("peer1: r1 -> r2 (+1 ~0 -0)") != std::string::npos);
    CHECK(r.out.find("peer2: none -> r2") != std::string::npos);
    CHECK(r.out.find("converged: all 3 node(s) on r2") != std::string::npos);
    for (std::size_t i = 0; i < 2; ++i) {
        auto diff = differences(s.cluster.primary().dir, s.cluster.peer(i).dir);
        INFO(dt::format_differences(diff));
        CHECK(diff.empty());
    }

    // A peer that cannot pull (its remote is gone) makes cluster pull exit 1, and the wait times out.
    replace_key(s.cluster.peer(1).config, "remote", "/nonexistent/releases.git");
    write_file(s.cluster.primary().dir / "synapse-configs/default/api/Two.xml", "<api name=\"Two\"/>\n");
    REQUIRE_SUCCESS(s.cluster.publish("third"));
    r = s.run({"pull", "--wait-converged", "2"});
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    CHECK(r.out.find("peer1: r2 -> r3") != std::string::npos);
    CHECK(r.out.find("peer2: FAILED") != std::string::npos);
    CHECK(r.out.find("not converged: 2 of 3 node(s) on r3") != std::string::npos);
}

namespace {

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
    return n;
}

}  // namespace

TEST_CASE("cluster status --html writes a self-contained page that headless Chromium renders with every node",
          "[e2e][cluster][ssh][html]") {
    const std::string chromium = find_chromium();
    if (chromium.empty()) {
        WARN("skipped: no Chromium in PATH (install the Debian package 'chromium')");
        return;
    }
    SshNodes s;
    REQUIRE_SUCCESS(s.cluster.publish("first <release> & more"));
    REQUIRE_SUCCESS(s.cluster.pull(0));
    write_file(s.cluster.primary().dir / "synapse-configs/default/api/New.xml", "<api name=\"New\"/>\n");
    REQUIRE_SUCCESS(s.cluster.publish("second"));
    const std::string closed = "root@127.0.0.1:" + std::to_string(dt::free_port());
    s.write_nodes({closed});
    stdfs::path page = s.cluster.root() / "report/cluster.html";
    stdfs::create_directories(page.parent_path());

    // -c names the primary's config, so the page lists the releases from its log.
    ProcessResult r = s.run({"status", "--html", page.string()}, s.cluster.primary().config);
    INFO(s.describe_run(r));
    CHECK(r.exit_code == 1);  // peer1 behind, peer2 on none, one node unreachable
    const std::string html = read_file(page);
    // Self-contained: nothing is loaded from anywhere.
    for (const char* external : {"src=", "href=", "@import", "url(", "<script", "<link"}) {
        INFO(external);
        CHECK(html.find(external) == std::string::npos);
    }

    const HeadlessChromium browser(chromium, s.cluster.root() / "chromium-profile");
    ProcessResult dom = browser.run({"--dump-dom"}, page);
    INFO("chromium: " << describe(dom));
    REQUIRE(dom.exit_code == 0);
    REQUIRE(dom.out.find("<table id=\"nodes\">") != std::string::npos);

    // Every node has its row, named as it answered (or by its entry when it did not).
    for (const std::string& node :
         {std::string("primary"), std::string("peer1"), std::string("peer2"), closed}) {
        INFO(node);
        CHECK(count_of(dom.out, "<td class=\"node\">" + node + "</td>") == 1);
    }
    CHECK(count_of(dom.out, "<tr class=\"ok\"") == 1);      // the primary
    CHECK(count_of(dom.out, "<tr class=\"behind\"") == 2);  // peer1 on r1, peer2 on none
    CHECK(count_of(dom.out, "<tr class=\"down\"") == 1);
    CHECK(dom.out.find("Not converged: 1 of 4 nodes on r2") != std::string::npos);
    CHECK(dom.out.find("Connection refused") != std::string::npos);
    // The recent releases, newest first, the message escaped rather than taken for markup.
    auto r2 = dom.out.find("<td>r2</td>"), r1 = dom.out.find("<td>r1</td>");
    CHECK(r2 != std::string::npos);
    CHECK(r1 != std::string::npos);
    CHECK(r2 < r1);
    CHECK(dom.out.find("first &lt;release&gt; &amp; more") != std::string::npos);

    // And it paints: a screenshot comes out as a PNG of some substance.
    stdfs::path shot = s.cluster.root() / "report/cluster.png";
    ProcessResult painted =
        browser.run({"--hide-scrollbars", "--window-size=1400,800", "--screenshot=" + shot.string()}, page);
    INFO("chromium: " << describe(painted));
    REQUIRE(painted.exit_code == 0);
    std::string png = read_file(shot);
    CHECK(png.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
    CHECK(png.size() > 10000);
}
