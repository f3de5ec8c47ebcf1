#include "cli/html_report.hpp"

#include "cli/output.hpp"
#include "core/printable.hpp"

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
tr.behind td.state, tr.behind td.behind { color: #b54708; font-weight: 600; }
tr.pinned td { background: #fff8e6; }
tr.pinned td.state, td.pin { color: #8a5a00; font-weight: 600; }
td.pin { max-width: 28rem; overflow-wrap: anywhere; }
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

// The row's class for the node's state (cluster_view's state_of): a pin run as set is expected, amber.
std::string row_class(const std::string& state) {
    if (state == "unreachable" || state == "status failed") return "down";
    if (state == "on newest") return "ok";
    if (state == "pinned") return "pinned";
    return "behind";
}

// The last-error cell: what went wrong, or for a pin, since when and why (class "pin", not an error).
std::string error_cell(const NodeView& n) {
    std::string error = n.error;
    if (error.empty() && n.held) error = "held: " + n.held_reason;
    if (error.empty() && n.pinned) {
        std::string pin =
            "pinned to " + number_or_dash(n.pinned_release, "r") + " since " + or_dash(n.pinned_at) +
            (n.pin_reason.empty() ? " (no reason given)" : ": " + html_escape(printable(n.pin_reason)));
        if (!n.on_pin) pin += "; runs " + number_or_dash(n.release, "r") + " until its next pull";
        return "<td class=\"pin\">" + pin + "</td>";
    }
    if (error.empty()) error = n.last_error.empty() ? n.on_change_error : n.last_error;
    // What a node said, escaped as in a terminal too: control characters show as \xNN, not as nothing.
    return error.empty() ? "<td>-</td>" : "<td class=\"error\">" + html_escape(printable(error)) + "</td>";
}

void node_rows(std::string& out, const ClusterView& view) {
    out +=
        "<table id=\"nodes\">\n<thead><tr><th>Node</th><th>Target</th><th>Role</th><th>Release</th>"
        "<th>Commit</th><th>Behind</th><th>Drift</th><th>Last success</th><th>Detail</th>"
        "<th>Reachable</th><th>State</th></tr></thead>\n<tbody>\n";
    for (const NodeView& n : view.nodes) {
        const std::string state = state_of(n);
        out += "<tr class=\"" + row_class(state) + "\" data-node=\"" + html_escape(n.label()) + "\">";
        out += "<td class=\"node\">" + html_escape(n.label()) + "</td>";
        out += "<td><code>" + html_escape(n.target) + "</code></td>";
        out += "<td>" + or_dash(n.role) + "</td>";
        out += "<td class=\"release\">" + number_or_dash(n.release, "r") + "</td>";
        out += "<td><code>" + or_dash(n.commit.substr(0, 10)) + "</code></td>";
        out += "<td class=\"num behind\">" + number_or_dash(n.behind) + "</td>";
        out += "<td class=\"num\">" + number_or_dash(n.drift) + "</td>";
        out += "<td class=\"time\">" + or_dash(n.last_success) + "</td>";
        out += error_cell(n);
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
    std::string verdict = (view.converged ? "Converged: " : "Not converged: ") + verdict_text(view, "nodes");

    std::string out =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<title>depsync cluster: " +
        html_escape(verdict) + "</title>\n<style>" + style + "</style>\n</head>\n<body>\n";
    out += "<h1>depsync cluster</h1>\n<p class=\"meta\">Generated " + iso_time(generated_at) +
           " by depsync " + DEPSYNC_VERSION + "</p>\n";
    out += std::string("<p id=\"verdict\" class=\"verdict ") + (view.converged ? "ok" : "bad") + "\">" +
           html_escape(verdict) + "</p>\n";
    out += "<p id=\"newest\" class=\"meta\">Newest release: " + number_or_dash(view.newest, "r") + ", from " +
           html_escape(view.newest_source) + "</p>\n";
    out += "<h2>Nodes</h2>\n";
    node_rows(out, view);
    out += "<h2>Recent releases</h2>\n";
    release_rows(out, releases);
    out += "</body>\n</html>\n";
    return out;
}

}  // namespace depsync::cli
