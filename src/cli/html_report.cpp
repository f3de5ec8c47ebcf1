#include "cli/html_report.hpp"

#include "cli/output.hpp"

namespace depsync::cli {
namespace {

constexpr const char* style = R"(
body { font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #1d2330; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; }
.meta { color: #5b6475; margin: 0 0 1rem; }
.verdict { display: inline-block; padding: .35rem .8rem; border-radius: 4px; font-weight: 600; }
.verdict.ok { background: #e3f5e6; color: #1b6b2c; }
.verdict.bad { background: #fde8e7; color: #a32015; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #e2e5ec; vertical-align: top; }
th { background: #f4f6fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 13px ui-monospace, "SFMono-Regular", Menlo, monospace; }
tr.ok td.state { color: #1b6b2c; }
tr.behind td.state, tr.behind td.behind { color: #9a5b00; font-weight: 600; }
tr.down td { background: #fff5f4; }
tr.down td.state { color: #a32015; font-weight: 600; }
td.error { color: #a32015; max-width: 28rem; overflow-wrap: anywhere; }
td.time, td.release { white-space: nowrap; }
)";

std::string or_dash(const std::string& s) {
    return s.empty() ? "-" : html_escape(s);
}

std::string number_or_dash(const std::optional<std::uint64_t>& n, const char* prefix = "") {
    return n ? prefix + std::to_string(*n) : "-";
}

// What the node's row says in its state cell, and the row's class.
std::pair<std::string, std::string> state_of(const NodeView& n) {
    if (!n.reachable) return {"unreachable", "down"};
    if (!n.error.empty()) return {"status failed", "down"};
    if (n.held) return {"held", "behind"};
    if (n.pinned && !n.on_newest) return {"pinned", "behind"};
    if (!n.on_newest) return {"behind", "behind"};
    return {"on newest", "ok"};
}

std::string node_error(const NodeView& n) {
    if (!n.error.empty()) return n.error;
    if (n.held) return "held: " + n.held_reason;
    if (n.pinned) return "pinned";
    if (!n.last_error.empty()) return n.last_error;
    return n.on_change_error;
}

void node_rows(std::string& out, const ClusterView& view) {
    out +=
        "<table id=\"nodes\">\n<thead><tr><th>Node</th><th>Target</th><th>Role</th><th>Release</th>"
        "<th>Commit</th><th>Behind</th><th>Drift</th><th>Last success</th><th>Last error</th>"
        "<th>Reachable</th><th>State</th></tr></thead>\n<tbody>\n";
    for (const NodeView& n : view.nodes) {
        auto [state, row_class] = state_of(n);
        out += "<tr class=\"" + row_class + "\" data-node=\"" + html_escape(n.label()) + "\">";
        out += "<td class=\"node\">" + html_escape(n.label()) + "</td>";
        out += "<td><code>" + html_escape(n.target) + "</code></td>";
        out += "<td>" + or_dash(n.role) + "</td>";
        out += "<td class=\"release\">" + number_or_dash(n.release, "r") + "</td>";
        out += "<td><code>" + or_dash(n.commit.substr(0, 10)) + "</code></td>";
        out += "<td class=\"num behind\">" + number_or_dash(n.behind) + "</td>";
        out += "<td class=\"num\">" + number_or_dash(n.drift) + "</td>";
        out += "<td class=\"time\">" + or_dash(n.last_success) + "</td>";
        std::string error = node_error(n);
        out += error.empty() ? "<td>-</td>" : "<td class=\"error\">" + html_escape(error) + "</td>";
        out += std::string("<td class=\"reachable\">") + (n.reachable ? "yes" : "no") + "</td>";
        out += "<td class=\"state\">" + state + "</td></tr>\n";
    }
    out += "</tbody>\n</table>\n";
}

void release_rows(std::string& out, const std::vector<ReleaseView>& releases) {
    if (releases.empty()) {
        out +=
            "<p class=\"meta\">No release log available (run with -c CONFIG of a node of this "
            "cluster).</p>\n";
        return;
    }
    out +=
        "<table id=\"releases\">\n<thead><tr><th>Release</th><th>Commit</th><th>Time</th><th>By</th>"
        "<th>Changes</th><th>Message</th></tr></thead>\n<tbody>\n";
    for (const ReleaseView& r : releases) {
        out += "<tr><td>r" + std::to_string(r.number) + "</td><td><code>" +
               html_escape(r.commit.substr(0, 10)) + "</code></td><td class=\"time\">" + html_escape(r.time) +
               "</td><td>" + or_dash(r.node) + "</td><td>+" + std::to_string(r.added) + " ~" +
               std::to_string(r.modified) + " -" + std::to_string(r.deleted) + "</td><td>" +
               or_dash(r.message) + "</td></tr>\n";
    }
    out += "</tbody>\n</table>\n";
}

}  // namespace

std::string html_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string render_html(const ClusterView& view, const std::vector<ReleaseView>& releases,
                        std::int64_t generated_at) {
    std::size_t on_newest = 0;
    for (const NodeView& n : view.nodes) on_newest += n.on_newest ? 1 : 0;
    std::string newest = view.newest ? "r" + std::to_string(*view.newest) : "no release";
    std::string verdict = view.converged
                              ? "Converged: all " + std::to_string(view.nodes.size()) + " nodes on " + newest
                              : "Not converged: " + std::to_string(on_newest) + " of " +
                                    std::to_string(view.nodes.size()) + " nodes on " + newest;

    std::string out =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>depsync cluster: " +
        html_escape(verdict) + "</title>\n<style>" + style + "</style>\n</head>\n<body>\n";
    out += "<h1>depsync cluster</h1>\n<p class=\"meta\">Generated " + iso_time(generated_at) +
           " by depsync " + DEPSYNC_VERSION + "</p>\n";
    out += std::string("<p id=\"verdict\" class=\"verdict ") + (view.converged ? "ok" : "bad") + "\">" +
           html_escape(verdict) + "</p>\n";
    out += "<h2>Nodes</h2>\n";
    node_rows(out, view);
    out += "<h2>Recent releases</h2>\n";
    release_rows(out, releases);
    out += "</body>\n</html>\n";
    return out;
}

}  // namespace depsync::cli
