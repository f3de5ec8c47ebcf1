// depsync cluster status | pull: every node of a nodes file at once, over ssh or on this machine.

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <memory>
#include <thread>

#include "cli/cluster_view.hpp"
#include "cli/cmd_doctor.hpp"
#include "cli/context.hpp"
#include "cli/html_report.hpp"
#include "cli/output.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/git/handle.hpp"
#include "core/printable.hpp"
#include "core/sync/history.hpp"
#include "core/sync/pull.hpp"

namespace depsync::cli {
namespace {

struct ClusterOptions {
    std::string nodes_file;
    std::string html_file;
    std::string remote_command = "depsync";
    int node_timeout = 0;  // 0: the command's default
    int refresh = 0;       // status --html: seconds between the page's reloads, 0: none
    double wait_converged = -1;
    bool json = false;
};

constexpr int status_timeout = 30;
constexpr int pull_timeout = 600;
constexpr int doctor_timeout = 180;
constexpr int max_refresh = 86400;  // a day: a page that reloads less often than that need not reload

std::filesystem::path this_binary() {
    std::error_code ec;
    std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::filesystem::path("depsync") : self;
}

sync::RemoteOptions remote_options(const Context& ctx, const ClusterOptions& o, int default_timeout) {
    sync::RemoteOptions r;
    r.known_hosts = ctx.global.known_hosts;
    r.ssh_key = ctx.global.ssh_key;
    r.ssh_config = ctx.global.ssh_config;
    r.timeout = o.node_timeout > 0 ? o.node_timeout : default_timeout;
    r.connect_timeout = std::max(1, std::min(ctx.global.timeout, r.timeout));
    r.remote_command = o.remote_command;
    r.local_command = this_binary();
    return r;
}

// The newest release of the repository this machine's config follows: the primary's own repository, or a
// peer's remote (fetched now). nullopt without a usable config: then the nodes' answers decide.
std::optional<NewestKnown> newest_known(const Context& ctx) {
    sync::Settings settings;
    try {
        settings = make_settings(ctx.global);
    } catch (const Error&) {
        return std::nullopt;  // no config here: a machine that only reaches the nodes
    }
    try {
        sync::NewestRelease newest = sync::newest_release(settings);
        return NewestKnown{newest.release ? std::optional(newest.release->number) : std::nullopt,
                           newest.source};
    } catch (const Error& e) {
        spdlog::warn(
            "cannot read the newest release from this node's repository ({}); the nodes' answers "
            "decide which release is newest",
            e.what());
        return std::nullopt;
    }
}

ClusterView ask_status(const std::vector<sync::ClusterNode>& nodes, const sync::RemoteOptions& remote,
                       const std::optional<NewestKnown>& known) {
    std::vector<sync::NodeCall> calls = sync::run_on_nodes(nodes, remote, {"status", "--json"});
    std::vector<NodeView> views;
    for (std::size_t i = 0; i < nodes.size(); ++i) views.push_back(view_of(nodes[i], calls[i]));
    return compare(std::move(views), known);
}

std::string release_text(const std::optional<std::uint64_t>& n) {
    return n ? "r" + std::to_string(*n) : "-";
}

// The table's "detail" cell: why the node did not answer, why it is held, its pin (release, since when,
// why), or its last failed run.
std::string detail_text(const NodeView& n) {
    if (!n.error.empty()) return n.error;
    if (n.held) return "held: " + n.held_reason;
    if (n.pinned) {
        std::string pin = "pinned to " + release_text(n.pinned_release) + " since " +
                          (n.pinned_at.empty() ? "?" : n.pinned_at) +
                          (n.pin_reason.empty() ? " (no reason given)" : ": " + n.pin_reason);
        return n.on_pin ? pin : pin + "; runs " + release_text(n.release) + " until its next pull";
    }
    if (!n.last_error.empty())
        return n.last_error + " (" + std::to_string(n.consecutive_failures) + " failed run(s) in a row)";
    if (!n.on_change_error.empty()) return n.on_change_error;
    return "-";
}

void print_table(const ClusterView& view) {
    std::vector<std::vector<std::string>> rows = {
        {"NODE", "RELEASE", "COMMIT", "BEHIND", "DRIFT", "LAST SUCCESS", "REACHABLE", "STATE", "DETAIL"}};
    for (const NodeView& n : view.nodes) {
        std::string detail = detail_text(n);
        if (detail.size() > 100) detail = detail.substr(0, 97) + "...";
        std::string state = state_of(n);
        std::replace(state.begin(), state.end(), ' ', '-');  // one word: the columns split on spaces
        rows.push_back({n.label(), release_text(n.release), n.commit.empty() ? "-" : n.commit.substr(0, 10),
                        n.behind ? std::to_string(*n.behind) : "-", n.drift ? std::to_string(*n.drift) : "-",
                        n.last_success.empty() ? (n.error.empty() ? "never" : "-") : n.last_success,
                        n.reachable ? "yes" : "no", state, detail});
    }
    // Every cell is what a node (or its ssh) said: escaped before the widths are measured.
    for (auto& row : rows)
        for (auto& cell : row) cell = printable(cell);
    std::vector<std::size_t> width(rows[0].size(), 0);
    for (const auto& row : rows)
        for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t c = 0; c < row.size(); ++c)
            line += c + 1 == row.size() ? row[c] : row[c] + std::string(width[c] - row[c].size() + 2, ' ');
        std::cout << line << "\n";
    }
    std::cout << (view.converged ? "converged: " : "not converged: ") << verdict_text(view, "node(s)")
              << "; newest " << release_text(view.newest) << " from " << printable(view.newest_source)
              << "\n";
}

Json view_json(const NodeView& n) {
    return {{"target", n.target},
            {"node", text_or_null(n.name)},
            {"role", text_or_null(n.role)},
            {"reachable", n.reachable},
            {"error", text_or_null(n.error)},
            {"release", or_null(n.release)},
            {"commit", text_or_null(n.commit)},
            {"upstream_release", or_null(n.upstream)},
            {"behind", or_null(n.behind)},
            {"on_newest", n.on_newest},
            {"drift", or_null(n.drift)},
            {"last_success", text_or_null(n.last_success)},
            {"last_error", text_or_null(n.last_error)},
            {"consecutive_failures", n.consecutive_failures},
            {"on_change_error", text_or_null(n.on_change_error)},
            {"held", n.held},
            {"held_reason", text_or_null(n.held_reason)},
            {"pinned", n.pinned},
            {"pinned_release", or_null(n.pinned_release)},
            {"pinned_at", text_or_null(n.pinned_at)},
            {"pin_reason", text_or_null(n.pin_reason)},
            {"on_pin", n.on_pin},
            {"state", state_of(n)}};
}

// The recent releases for the page: from this machine's node when -c names one, else from a node that
// answered (the primary first).
std::vector<ReleaseView> recent_releases(const Context& ctx, const std::vector<sync::ClusterNode>& nodes,
                                         const ClusterView& view, const sync::RemoteOptions& remote) {
    try {
        sync::Settings settings = make_settings(ctx.global);
        sync::NodeRepo repo = sync::open_node_repo(settings);
        std::vector<ReleaseView> out;
        for (const sync::LogEntry& e : sync::release_log(repo, 10, sync::tree_limits(settings))) {
            out.push_back({e.release.number, git::to_hex(e.release.commit), iso_time(e.release.time),
                           e.release.node, e.release.subject, e.counts.added, e.counts.modified,
                           e.counts.deleted, e.release.restores});
        }
        return out;
    } catch (const std::exception&) {
        // No usable local node: ask one of the cluster's.
    }
    for (const char* role : {"primary", "peer"}) {
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            if (!view.nodes[i].error.empty() || view.nodes[i].role != role) continue;
            sync::NodeCall call = sync::run_on_node(nodes[i], remote, {"log", "--json", "-n", "10"});
            if (!call.ok()) continue;
            try {
                return releases_of(call.out);
            } catch (const std::exception&) {
            }
        }
    }
    return {};
}

void run_status(Context& ctx, const ClusterOptions& o) {
    std::vector<sync::ClusterNode> nodes = sync::read_nodes_file(o.nodes_file);
    sync::RemoteOptions remote = remote_options(ctx, o, status_timeout);
    ClusterView view = ask_status(nodes, remote, newest_known(ctx));
    if (o.json) {
        Json items = Json::array();
        for (const NodeView& n : view.nodes) items.push_back(view_json(n));
        std::cout << json_text(items) << "\n";
    } else {
        print_table(view);
    }
    if (!o.html_file.empty()) {
        std::string page = render_html(view, recent_releases(ctx, nodes, view, remote),
                                       {static_cast<std::int64_t>(std::time(nullptr)), o.refresh});
        fs::write_file_atomically(o.html_file, page, 0644, fs::Fsync::no);
    }
    if (!view.converged) ctx.exit_code = ExitCode::failure;
}

std::string first_line(const std::string& text) {
    return text.substr(0, text.find('\n'));
}

// Asks every node's status once a second until every node runs the newest release or its pin, at most
// `seconds`; prints the last table and returns whether the cluster converged.
bool wait_converged(const Context& ctx, const std::vector<sync::ClusterNode>& nodes,
                    const sync::RemoteOptions& remote, double seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    // Read once: the pulls have just fetched it, and a peer config's read fetches again.
    const std::optional<NewestKnown> known = newest_known(ctx);
    ClusterView view = ask_status(nodes, remote, known);
    while (!view.converged && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        view = ask_status(nodes, remote, known);
    }
    print_table(view);
    return view.converged;
}

void run_pull(Context& ctx, const ClusterOptions& o) {
    std::vector<sync::ClusterNode> nodes = sync::read_nodes_file(o.nodes_file);
    sync::RemoteOptions status_remote = remote_options(ctx, o, status_timeout);
    sync::RemoteOptions pull_remote = remote_options(ctx, o, pull_timeout);
    // Roles first: only peers pull; the primary is reported as it is.
    ClusterView before = ask_status(nodes, status_remote, std::nullopt);
    std::vector<sync::ClusterNode> peers;
    std::vector<std::size_t> peer_index;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        if (before.nodes[i].error.empty() && before.nodes[i].role == "peer") {
            peers.push_back(nodes[i]);
            peer_index.push_back(i);
        }
    }
    std::vector<sync::NodeCall> pulls = sync::run_on_nodes(peers, pull_remote, {"pull"});
    bool all_ok = true;
    std::size_t next_peer = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        const NodeView& n = before.nodes[i];
        std::string result;
        if (!n.error.empty()) {
            result = (n.reachable ? "FAILED: " : "UNREACHABLE: ") + n.error;
            all_ok = false;
        } else if (next_peer < peer_index.size() && peer_index[next_peer] == i) {
            const sync::NodeCall& call = pulls[next_peer++];
            if (call.ok()) {
                result = first_line(call.out);
            } else if (call.reached && call.exit_code == static_cast<int>(ExitCode::locked)) {
                // Another run (the node's timer) is pulling already: with --wait-converged its result counts.
                result = "busy: another depsync run holds the lock";
                all_ok = all_ok && o.wait_converged >= 0;
            } else {
                all_ok = false;
                std::string said = first_line(call.out);
                result = std::string(call.reached ? "FAILED" : "UNREACHABLE") +
                         (call.reached && !call.timed_out ? " (exit " + std::to_string(call.exit_code) + ")"
                                                          : "") +
                         ": " + (said.empty() || !call.reached ? call.error : said + "; " + call.error);
            }
        } else {
            result = n.role + " at " + release_text(n.release) + " (not pulled)";
        }
        std::cout << printable(n.label() + ": " + result) << "\n";
    }
    if (o.wait_converged >= 0 && !wait_converged(ctx, nodes, status_remote, o.wait_converged)) all_ok = false;
    if (!all_ok) ctx.exit_code = ExitCode::failure;
}

void add_common(CLI::App* cmd, ClusterOptions& o) {
    cmd->add_option("--nodes", o.nodes_file,
                    "Nodes file: per line 'user@host[:port] [CONFIG]' or a local config path; '#' comments")
        ->required();
    cmd->add_option("--remote-command", o.remote_command,
                    "How to run depsync on remote nodes (shell text, e.g. 'sudo -n depsync')")
        ->capture_default_str();
    cmd->add_option(
        "--node-timeout", o.node_timeout,
        "Seconds for each node to answer (default: status 30, pull 600, doctor 180); then it is killed");
}

}  // namespace

void add_cluster(CLI::App& app, Context& ctx) {
    // The options live as long as the app: the callbacks own them.
    auto o = std::make_shared<ClusterOptions>();
    auto* cluster =
        app.add_subcommand("cluster", "Every node of the cluster at once, over ssh (status, pull, doctor)");
    cluster->require_subcommand(1);
    cluster->footer(
        "Remote nodes are reached with the system ssh client: host keys are checked against known_hosts\n"
        "(never added), no prompts (BatchMode), key from ssh_key or ssh's defaults, one connection per node\n"
        "in parallel. Example: depsync cluster status --nodes /etc/depsync/nodes.txt");

    auto* status =
        cluster->add_subcommand("status", "One table: release, behind, drift, last success, errors");
    add_common(status, *o);
    status->add_flag("--json", o->json, "Machine-readable output: an array, one object per node");
    auto* html = status->add_option("--html", o->html_file,
                                    "Also write a self-contained HTML page with the table and releases");
    status
        ->add_option("--refresh", o->refresh,
                     "With --html: the page reloads itself every SECONDS (1 to 86400) in the browser")
        ->check(CLI::Range(1, max_refresh))
        ->needs(html);
    status->footer(
        "Asks every node for 'depsync status --json'. BEHIND counts releases behind the newest release:\n"
        "the one in the repository this machine's config follows (the primary's own; a peer's remote,\n"
        "fetched now), else the newest any node runs or has fetched. Exit 0 only when every node answered\n"
        "and runs the newest release or its pin (depsync pin), else 1.\n"
        "Example: depsync cluster status --nodes nodes.txt --html /var/www/html/depsync.html");
    status->callback([&ctx, o] { run_status(ctx, *o); });

    auto* pull = cluster->add_subcommand("pull", "Make every peer pull now and report each result");
    add_common(pull, *o);
    pull->add_option("--wait-converged", o->wait_converged,
                     "Then wait up to SECONDS until every node runs the newest release or its pin (exit 1 if "
                     "not)");
    pull->footer(
        "Runs 'depsync pull' on every peer at once (the primary is listed, not pulled). Exit 0 when every\n"
        "node answered and every pull succeeded (and, with --wait-converged, the cluster converged).\n"
        "Example: depsync cluster pull --nodes nodes.txt --wait-converged 120");
    pull->callback([&ctx, o] { run_pull(ctx, *o); });

    auto* doctor =
        cluster->add_subcommand("doctor", "Run 'depsync doctor' on every node; each node's problems");
    add_common(doctor, *o);
    doctor->add_flag("--json", o->json, "Machine-readable output: an array, one object per node");
    doctor->footer(
        "Runs 'depsync doctor --json' on every node at once and prints each node's verdict and problems.\n"
        "Exit 0 when every node answered and is healthy, else 1.\n"
        "Example: depsync cluster doctor --nodes /etc/depsync/nodes.txt");
    doctor->callback([&ctx, o] {
        std::vector<sync::ClusterNode> nodes = sync::read_nodes_file(o->nodes_file);
        std::vector<sync::NodeCall> calls =
            sync::run_on_nodes(nodes, remote_options(ctx, *o, doctor_timeout), {"doctor", "--json"});
        if (!print_cluster_doctor(nodes, calls, o->json)) ctx.exit_code = ExitCode::failure;
    });
}

}  // namespace depsync::cli
