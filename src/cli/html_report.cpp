#include "cli/html_report.hpp"

#include <array>
#include <map>

#include "cli/output.hpp"
#include "core/printable.hpp"

namespace depsync::cli {
namespace {

// The node table's columns, in order; the narrow layout labels each field of a card with its header.
constexpr std::array<const char*, 11> node_columns = {"Node",   "Target",    "Role",  "Release",
                                                      "Commit", "Behind",    "Drift", "Last success",
                                                      "Detail", "Reachable", "State"};

// Wide windows get a table whose columns cannot be squeezed below a readable width (min-width on every
// cell; only free text, the detail, names and messages, may break inside a word); below `cards_below` each
// node becomes a card. A table wider than its box scrolls inside the box, never the page.
constexpr int cards_below = 1200;

constexpr const char* style = R"(
* { box-sizing: border-box; }
body { font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5rem; color: #1d2330; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; }
.meta { color: #5b6475; margin: 0 0 1rem; overflow-wrap: anywhere; }
.verdict { display: inline-block; padding: .35rem .8rem; border-radius: 4px; font-weight: 600; }
.verdict.ok { background: #e3f5e6; color: #1b6b2c; }
.verdict.bad { background: #fde8e7; color: #a32015; }
.box { max-width: 100%; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: .4rem .45rem; border-bottom: 1px solid #e2e5ec; vertical-align: top;
  min-width: 5rem; }
th { background: #f4f6fa; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 13px ui-monospace, "SFMono-Regular", Menlo, monospace; }
td.node, td.target, td.by { min-width: 8rem; overflow-wrap: anywhere; }
td.message { min-width: 12rem; overflow-wrap: anywhere; }
td.error, td.pin, td.detail { min-width: 16rem; overflow-wrap: anywhere; }
td.time, td.release, td.state, td.commit, td.changes { white-space: nowrap; }
.restores { display: block; font-size: 12px; color: #6941c6; font-weight: 600; }
tr.rollback td { background: #f6f2ff; }
tr.ok td.state { color: #1b6b2c; }
tr.behind td.state, tr.behind td.behind { color: #b54708; font-weight: 600; }
tr.pinned td { background: #fff8e6; }
tr.pinned td.state, td.pin { color: #8a5a00; font-weight: 600; }
tr.down td { background: #fff5f4; }
tr.down td.state { color: #a32015; font-weight: 600; }
td.error, .error { color: #a32015; font-weight: normal; }
td.pin .error { display: block; margin-top: .25rem; }
)";

std::string narrow_style() {
    std::string css =
        "@media (max-width: " + std::to_string(cards_below - 1) +
        "px) {\n"
        "#nodes, #nodes tbody { display: block; }\n"
        "#nodes thead { display: none; }\n"
        "#nodes tr { display: grid; grid-template-columns: repeat(auto-fill, minmax(10rem, 1fr));"
        " border: 1px solid #d5d9e2; border-radius: 6px; margin: 0 0 .75rem; }\n"
        "#nodes td { display: block; min-width: 0; border-bottom: none; }\n"
        "#nodes td.node, #nodes td:nth-child(9) { grid-column: 1 / -1; }\n"
        "#nodes td.node { font-weight: 600; font-size: 15px; }\n"
        "#nodes td.num { text-align: left; }\n"
        "#nodes td::before { display: block; font-size: 12px; font-weight: 600; color: #5b6475; }\n";
    for (std::size_t i = 1; i < node_columns.size(); ++i)
        css += "#nodes td:nth-child(" + std::to_string(i + 1) + ")::before { content: \"" + node_columns[i] +
               "\"; }\n";
    return css + "}\n";
}

// Text from a node or the repository: terminal controls shown as \xNN (as in a terminal), then escaped.
std::string text(const std::string& s) {
    return html_escape(printable(s));
}

std::string or_dash(const std::string& s) {
    return s.empty() ? "-" : text(s);
}

std::string number_or_dash(const std::optional<std::uint64_t>& n, const char* prefix = "") {
    return n ? prefix + std::to_string(*n) : "-";
}

// A time as the page shows it: an ISO time may break before its 'T' (date above, time below).
std::string time_cell(const std::string& time) {
    if (time.size() == 20 && time[10] == 'T')
        return text(time.substr(0, 10)) + "<wbr>" + text(time.substr(10));
    return or_dash(time);
}

// Release number -> the release it restores, for the rollbacks among the listed releases.
using Rollbacks = std::map<std::uint64_t, std::uint64_t>;

std::string restores_note(const Rollbacks& rollbacks, const std::optional<std::uint64_t>& release) {
    if (!release) return "";
    auto it = rollbacks.find(*release);
    if (it == rollbacks.end()) return "";
    return " <span class=\"restores\">rollback: restores r" + std::to_string(it->second) + "</span>";
}

// The row's class for the node's state (cluster_view's state_of): a pin run as set is expected, amber.
std::string row_class(const std::string& state) {
    if (state == "unreachable" || state == "status failed") return "down";
    if (state == "on newest") return "ok";
    if (state == "pinned") return "pinned";
    return "behind";
}

// A pinned node's detail: its pin (release, time, reason) in amber, then in red what failed, if anything.
std::string pin_cell(const NodeView& n, const std::string& failure) {
    std::string pin = "pinned to " + number_or_dash(n.pinned_release, "r") + " since " +
                      or_dash(n.pinned_at) +
                      (n.pin_reason.empty() ? " (no reason given)" : ": " + text(n.pin_reason));
    if (!n.on_pin) pin += "; runs " + number_or_dash(n.release, "r") + " until its next pull";
    if (!failure.empty()) pin += "<span class=\"error\">" + text(failure) + "</span>";
    return "<td class=\"pin\">" + pin + "</td>";
}

// The detail cell: what went wrong, or for a pin, since when and why (class "pin", not an error).
std::string detail_cell(const NodeView& n) {
    if (!n.error.empty()) return "<td class=\"error\">" + text(n.error) + "</td>";
    std::string failure = n.held ? "held: " + n.held_reason : "";
    if (failure.empty()) failure = n.last_error.empty() ? n.on_change_error : n.last_error;
    if (n.pinned) return pin_cell(n, failure);
    return failure.empty() ? "<td class=\"detail\">-</td>" : "<td class=\"error\">" + text(failure) + "</td>";
}

void node_rows(std::string& out, const ClusterView& view, const Rollbacks& rollbacks) {
    out += "<div class=\"box\">\n<table id=\"nodes\">\n<thead><tr>";
    for (const char* header : node_columns) out += std::string("<th>") + header + "</th>";
    out += "</tr></thead>\n<tbody>\n";
    for (const NodeView& n : view.nodes) {
        const std::string state = state_of(n);
        out += "<tr class=\"" + row_class(state) + "\" data-node=\"" + text(n.label()) + "\">";
        out += "<td class=\"node\">" + text(n.label()) + "</td>";
        out += "<td class=\"target\"><code>" + text(n.target) + "</code></td>";
        out += "<td>" + or_dash(n.role) + "</td>";
        out += "<td class=\"release\">" + number_or_dash(n.release, "r") +
               restores_note(rollbacks, n.release) + "</td>";
        out += "<td class=\"commit\"><code>" + or_dash(n.commit.substr(0, 10)) + "</code></td>";
        out += "<td class=\"num behind\">" + number_or_dash(n.behind) + "</td>";
        out += "<td class=\"num\">" + number_or_dash(n.drift) + "</td>";
        out += "<td class=\"time\">" + time_cell(n.last_success) + "</td>";
        out += detail_cell(n);
        out += std::string("<td class=\"reachable\">") + (n.reachable ? "yes" : "no") + "</td>";
        out += "<td class=\"state\">" + state + "</td></tr>\n";
    }
    out += "</tbody>\n</table>\n</div>\n";
}

void release_rows(std::string& out, const std::vector<ReleaseView>& releases) {
    if (releases.empty()) {
        out +=
            "<p class=\"meta\">No release log available (run with -c CONFIG of a node of this "
            "cluster).</p>\n";
        return;
    }
    out +=
        "<div class=\"box\">\n<table "
        "id=\"releases\">\n<thead><tr><th>Release</th><th>Commit</th><th>Time</th>"
        "<th>By</th><th>Changes</th><th>Message</th></tr></thead>\n<tbody>\n";
    for (const ReleaseView& r : releases) {
        std::string number = "r" + std::to_string(r.number);
        if (r.restores) {
            out += "<tr class=\"rollback\"><td>" + number + " <span class=\"restores\">rollback: restores r" +
                   std::to_string(*r.restores) + "</span></td>";
        } else {
            out += "<tr><td>" + number + "</td>";
        }
        out += "<td class=\"commit\"><code>" + text(r.commit.substr(0, 10)) +
               "</code></td><td class=\"time\">" + time_cell(r.time) + "</td><td class=\"by\">" +
               or_dash(r.node) + "</td><td class=\"changes\">+" + std::to_string(r.added) + " ~" +
               std::to_string(r.modified) + " -" + std::to_string(r.deleted) + "</td><td class=\"message\">" +
               or_dash(r.message) + "</td></tr>\n";
    }
    out += "</tbody>\n</table>\n</div>\n";
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
                        const HtmlOptions& options) {
    std::string verdict = (view.converged ? "Converged: " : "Not converged: ") + verdict_text(view, "nodes");
    Rollbacks rollbacks;
    for (const ReleaseView& r : releases)
        if (r.restores) rollbacks[r.number] = *r.restores;

    std::string out =
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    if (options.refresh_seconds > 0)
        out += "<meta http-equiv=\"refresh\" content=\"" + std::to_string(options.refresh_seconds) + "\">\n";
    out += "<title>depsync cluster: " + text(verdict) + "</title>\n<style>" + style + narrow_style() +
           "</style>\n</head>\n<body>\n";
    out += "<h1>depsync cluster</h1>\n<p class=\"meta\">Generated " + iso_time(options.generated_at) +
           " by depsync " + DEPSYNC_VERSION;
    if (options.refresh_seconds > 0)
        out += "; the page reloads every " + std::to_string(options.refresh_seconds) + " s";
    out += "</p>\n";
    out += std::string("<p id=\"verdict\" class=\"verdict ") + (view.converged ? "ok" : "bad") + "\">" +
           text(verdict) + "</p>\n";
    std::string newest = number_or_dash(view.newest, "r");
    if (view.newest && rollbacks.count(*view.newest))
        newest += " (a rollback: restores r" + std::to_string(rollbacks.at(*view.newest)) + ")";
    out += "<p id=\"newest\" class=\"meta\">Newest release: " + newest + ", from " +
           text(view.newest_source) + "</p>\n";
    out += "<h2>Nodes</h2>\n";
    node_rows(out, view, rollbacks);
    out += "<h2>Recent releases</h2>\n";
    release_rows(out, releases);
    out += "</body>\n</html>\n";
    return out;
}

}  // namespace depsync::cli
