// The cluster page as an operator sees it: `cluster status --html` for a cluster of 60 nodes with long and
// hostile errors, a pinned peer and a rollback, rendered by headless Chromium at 1400 and 800 px wide. The
// layout is measured inside the page (a copy with a small script appended that writes its measurements into
// the DOM) and a screenshot of each width is kept in the test's temp folder (DEPSYNC_KEEP_TEMP=1 keeps it).
// The auto-refresh option and its validation. Nodes are local (config paths in the nodes file).

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "chromium.hpp"
#include "cluster.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;
using nlohmann::json;

// Measures the rendered page and writes the result as JSON into body's data-layout attribute: the widths of
// the window, the viewport and the document, the narrowest visible table cell, how many cells reach outside
// the viewport or clip their content, and the narrowest error cell.
const char* const measure_script = R"(<script>
(function () {
  var de = document.documentElement, out = {inner: window.innerWidth, client: de.clientWidth,
    scroll: de.scrollWidth, narrowest: 1e9, narrowest_cell: '', outside: 0, clipped: 0, error_min: 1e9,
    errors: 0, cells: 0};
  document.querySelectorAll('table td, table th').forEach(function (c) {
    if (c.getClientRects().length === 0) return;
    var r = c.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) return;
    out.cells++;
    if (r.width < out.narrowest) { out.narrowest = r.width; out.narrowest_cell = c.className + ': ' +
      c.textContent.slice(0, 40); }
    if (r.left < -0.5 || r.right > de.clientWidth + 0.5) out.outside++;
    if (c.scrollWidth > c.clientWidth + 1) out.clipped++;
    if (c.classList.contains('error')) { out.errors++; out.error_min = Math.min(out.error_min, r.width); }
  });
  document.body.setAttribute('data-layout', JSON.stringify(out));
})();
</script>)";

// The data-layout attribute of a dumped DOM, parsed.
json layout_of(const std::string& dom) {
    const std::string key = "data-layout=\"";
    std::size_t start = dom.find(key);
    if (start == std::string::npos) throw std::runtime_error("no data-layout in the dumped DOM");
    start += key.size();
    std::string text = dom.substr(start, dom.find('"', start) - start);
    std::string plain;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text.compare(i, 6, "&quot;") == 0) {
            plain += '"';
            i += 5;
        } else if (text.compare(i, 5, "&amp;") == 0) {
            plain += '&';
            i += 4;
        } else {
            plain += text[i];
        }
    }
    return json::parse(plain);
}

// `depsync -c CONF cluster ARGS... --nodes FILE`.
ProcessResult cluster_cmd(const Node& from, const std::vector<std::string>& args, const stdfs::path& nodes) {
    std::vector<std::string> argv = {dt::depsync_bin(), "-c", from.config.string(), "cluster"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--nodes", nodes.string()});
    return dt::run(argv);
}

void publish_with(const Cluster& cluster, const std::string& name) {
    write_file(cluster.primary().dir / ("api/" + name + ".xml"), "<api name='" + name + "'/>\n");
    REQUIRE_SUCCESS(cluster.publish(name));
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
    return n;
}

// What the page shows is there whole: the remote path in peer3's error, the hostile entry escaped.
const std::string long_word = std::string(180, 'q');
const std::string hostile = "/nonexistent/<script>alert(\"x\")</script>/'mi-node-" + std::string(150, 'z');

// A primary with releases r1..r3 and r4, a rollback that restores r2; peer1 on r4, peer2 pinned to r1 with a
// long reason, peer3 whose remote fails with a long message; then 56 nodes whose configs do not exist, every
// eighth with a long hostile name. Returns the nodes file.
stdfs::path sixty_nodes(const Cluster& cluster) {
    publish_with(cluster, "First");
    publish_with(cluster, "Second");
    publish_with(cluster, "Third");
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"rollback", "previous", "-m", "undo Third"}));
    REQUIRE_SUCCESS(cluster.pull(0));
    REQUIRE_SUCCESS(
        cluster.depsync(cluster.peer(1), {"pin", "r1", "--reason", "CHG-1042: freeze " + long_word}));
    set_key(cluster.peer(2).config, "remote",
            "/nonexistent/" + long_word + "/" + long_word + "/releases.git");
    CHECK(cluster.pull(2).exit_code != 0);

    std::string text = cluster.primary().config.string() + "\n";
    for (std::size_t i = 0; i < 3; ++i) text += cluster.peer(i).config.string() + "\n";
    for (int i = 0; i < 56; ++i)
        text +=
            (i % 8 == 0 ? hostile + std::to_string(i) : "/nonexistent/mi-" + std::to_string(i)) + ".conf\n";
    stdfs::path file = cluster.root() / "nodes.txt";
    write_file(file, text);
    return file;
}

}  // namespace

TEST_CASE("the cluster page keeps long errors, 60 nodes and pins inside the window at 1400 and 800 px",
          "[e2e][cluster][html]") {
    const std::string chromium = find_chromium();
    if (chromium.empty()) {
        WARN("skipped: no Chromium in PATH (install the Debian package 'chromium')");
        return;
    }
    Cluster cluster(3);
    const stdfs::path nodes = sixty_nodes(cluster);
    const stdfs::path page = cluster.root() / "cluster.html";
    ProcessResult r = cluster_cmd(cluster.primary(), {"status", "--html", page.string()}, nodes);
    REQUIRE(r.exit_code == 1);  // not converged: peer3 behind, 56 nodes failed
    CHECK(r.err.empty());
    const std::string html = read_file(page);
    CHECK_FALSE(contains(html, "<script"));
    CHECK(contains(html, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;/&#39;mi-node-"));

    // The page with the measuring script, rendered at each width.
    const stdfs::path measured = cluster.root() / "measured.html";
    write_file(measured, html.substr(0, html.rfind("</body>")) + measure_script + "</body>\n</html>\n");
    const HeadlessChromium browser(chromium, cluster.root() / "chromium-profile");
    for (int width : {1400, 800}) {
        INFO("window width " << width);
        ProcessResult dom = browser.dump_dom(measured, width, 900);
        INFO("chromium: " << describe(dom));
        REQUIRE(dom.exit_code == 0);
        json layout = layout_of(dom.out);
        INFO("layout: " << layout.dump());
        CHECK(layout.at("inner").get<int>() == width);
        CHECK(layout.at("scroll").get<int>() <= layout.at("client").get<int>());  // no sideways scrolling
        CHECK(layout.at("cells").get<int>() > 60 * 11);
        CHECK(layout.at("outside").get<int>() == 0);
        CHECK(layout.at("clipped").get<int>() == 0);
        CHECK(layout.at("narrowest").get<double>() >= 80);
        CHECK(layout.at("errors").get<int>() >= 57);
        CHECK(layout.at("error_min").get<double>() >= 240);
        // Every error is there whole: peer3's path and each hostile entry.
        CHECK(contains(dom.out, "/nonexistent/" + long_word + "/" + long_word + "/releases.git"));
        CHECK(count_of(dom.out, "<td class=\"error\">") >= 57);

        const stdfs::path shot = cluster.root() / ("cluster-" + std::to_string(width) + ".png");
        ProcessResult painted = browser.screenshot(page, width, 900, shot);
        INFO("chromium: " << describe(painted));
        REQUIRE(painted.exit_code == 0);
        CHECK(read_file(shot).substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
    }
}

TEST_CASE("the cluster page shows what a rollback restores and reloads itself with --refresh",
          "[e2e][cluster][html]") {
    Cluster cluster(1);
    publish_with(cluster, "First");
    publish_with(cluster, "Second");
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"rollback", "r1", "-m", "undo <Second>"}));
    REQUIRE_SUCCESS(cluster.pull(0));
    const stdfs::path nodes = cluster.root() / "nodes.txt";
    write_file(nodes, cluster.primary().config.string() + "\n" + cluster.peer(0).config.string() + "\n");
    const stdfs::path page = cluster.root() / "cluster.html";
    const std::string rollback_row =
        "<tr class=\"rollback\"><td>r3 <span class=\"restores\">rollback: restores r1</span></td>";

    // The releases from the primary's own log (-c), then from a node's `log --json` (no usable config).
    REQUIRE_SUCCESS(
        cluster_cmd(cluster.primary(), {"status", "--html", page.string(), "--refresh", "30"}, nodes));
    std::string html = read_file(page);
    CHECK(contains(html, rollback_row));
    CHECK(contains(html, "<tr><td>r2</td>"));
    CHECK(contains(html, "<td class=\"message\">undo &lt;Second&gt;</td>"));
    CHECK(contains(html, "Newest release: r3 (a rollback: restores r1)"));
    CHECK(contains(html,
                   "<td class=\"release\">r3 <span class=\"restores\">rollback: restores r1</span></td>"));
    CHECK(count_of(html, "<meta http-equiv=\"refresh\" content=\"30\">") == 1);
    CHECK(contains(html, "the page reloads every 30 s"));

    ProcessResult from_nodes =
        dt::run({dt::depsync_bin(), "cluster", "status", "--nodes", nodes.string(), "--html", page.string()});
    REQUIRE_SUCCESS(from_nodes);
    html = read_file(page);
    CHECK(contains(html, rollback_row));
    CHECK_FALSE(contains(html, "http-equiv"));  // no --refresh, no reload

    // A refresh that is no number of seconds from 1 to a day, or without a page, is refused; no page is
    // written.
    stdfs::remove(page);
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"--html", page.string(), "--refresh", "0"},
                                               {"--html", page.string(), "--refresh", "-5"},
                                               {"--html", page.string(), "--refresh", "86401"},
                                               {"--html", page.string(), "--refresh", "1m"},
                                               {"--refresh", "30"}}) {
        std::vector<std::string> argv = {"status"};
        argv.insert(argv.end(), args.begin(), args.end());
        ProcessResult refused = cluster_cmd(cluster.primary(), argv, nodes);
        INFO(describe(refused));
        CHECK(refused.exit_code == 2);
        CHECK(contains(refused.err, "--refresh"));
        CHECK_FALSE(stdfs::exists(page));
    }
}
