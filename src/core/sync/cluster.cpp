#include "core/sync/cluster.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/fs/child_process.hpp"
#include "core/git/ssh_command.hpp"

namespace depsync::sync {
namespace {

std::string trim(const std::string& s) {
    auto first = s.find_first_not_of(" \t\r");
    if (first == std::string::npos) return "";
    return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

// A '#' at the start of a line or after white space starts a comment.
std::string strip_comment(const std::string& line) {
    for (std::size_t i = 0; i < line.size(); ++i)
        if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) return line.substr(0, i);
    return line;
}

// [user@]host[:port] or [user@][v6-address][:port]; nullopt when it is not one.
std::optional<ClusterNode> parse_remote(const std::string& target) {
    ClusterNode n;
    n.target = target;
    std::string rest = target;
    if (auto at = rest.rfind('@'); at != std::string::npos) {
        n.user = rest.substr(0, at);
        rest = rest.substr(at + 1);
        if (n.user.empty()) return std::nullopt;
    }
    std::string port;
    if (!rest.empty() && rest[0] == '[') {
        auto close = rest.find(']');
        if (close == std::string::npos) return std::nullopt;
        n.host = rest.substr(1, close - 1);
        std::string after = rest.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') return std::nullopt;
            port = after.substr(1);
            if (port.empty()) return std::nullopt;
        }
    } else if (auto colon = rest.find(':'); colon != std::string::npos) {
        n.host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
        if (port.empty()) return std::nullopt;
    } else {
        n.host = rest;
    }
    if (n.host.empty() || n.host[0] == '-') return std::nullopt;  // never an ssh option
    if (!port.empty()) {
        if (port.size() > 5 ||
            !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return std::nullopt;
        n.port = std::stoi(port);
        if (n.port < 1 || n.port > 65535) return std::nullopt;
    }
    return n;
}

std::string last_line(const std::string& text) {
    std::istringstream in(text);
    std::string line, last;
    while (std::getline(in, line))
        if (!trim(line).empty()) last = trim(line);
    return last;
}

// Runs argv with stdin from /dev/null, collecting stdout and stderr; its process group is ended when
// `timeout_seconds` pass, and what it leaves behind when it exits.
NodeCall run_bounded(const std::vector<std::string>& argv, fs::Secrets secrets, int timeout_seconds) {
    constexpr std::size_t max_output = 1024 * 1024;
    fs::ChildResult run = fs::run_child({argv, {}, secrets}, timeout_seconds, max_output);
    NodeCall call;
    call.error = std::move(run.error);
    call.out = std::move(run.out);
    call.err = std::move(run.err);
    call.timed_out = run.exit.timed_out;
    call.exit_code = run.exit.exit_code;
    return call;
}

}  // namespace

std::vector<ClusterNode> parse_nodes(const std::string& text, const std::string& source) {
    std::vector<ClusterNode> nodes;
    std::istringstream in(text);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        std::istringstream words(strip_comment(line));
        std::vector<std::string> fields;
        for (std::string w; words >> w;) fields.push_back(w);
        if (fields.empty()) continue;
        auto bad = [&](const std::string& why) {
            return Error(source + ":" + std::to_string(number) + ": " + why + " in '" + trim(line) +
                             "' (expected 'user@host[:port] [CONFIG]' or a local config path)",
                         ExitCode::usage);
        };
        if (fields.size() > 2) throw bad("too many fields");
        if (fields[0].find('/') != std::string::npos) {
            if (fields.size() > 1) throw bad("a local config path takes no second field");
            ClusterNode n;
            n.target = fields[0];
            n.local = true;
            n.config = fields[0];
            nodes.push_back(n);
            continue;
        }
        std::optional<ClusterNode> n = parse_remote(fields[0]);
        if (!n) throw bad("invalid node address");
        if (fields.size() > 1) n->config = fields[1];
        nodes.push_back(*n);
    }
    if (nodes.empty())
        throw Error(
            source + " lists no nodes (one per line: user@host[:port] [CONFIG], or a local config path)",
            ExitCode::usage);
    return nodes;
}

std::vector<ClusterNode> read_nodes_file(const std::filesystem::path& file) {
    std::optional<std::string> text = fs::read_file(file);
    if (!text) throw Error("nodes file " + file.string() + " does not exist", ExitCode::usage);
    return parse_nodes(*text, file.string());
}

std::vector<std::string> node_argv(const ClusterNode& node, const RemoteOptions& options,
                                   const std::vector<std::string>& args) {
    std::vector<std::string> depsync_args;
    if (!node.config.empty()) depsync_args = {"-c", node.config};
    depsync_args.insert(depsync_args.end(), args.begin(), args.end());
    if (node.local) {
        std::vector<std::string> argv = {options.local_command.string()};
        argv.insert(argv.end(), depsync_args.begin(), depsync_args.end());
        return argv;
    }
    // Host keys are checked and never added, nothing may prompt (git::ssh_argv); the operator's ssh config
    // decides the rest.
    git::SshOptions ssh{options.known_hosts, options.ssh_key, options.ssh_config, options.connect_timeout};
    std::string command = options.remote_command;
    for (const auto& a : depsync_args) command += " " + git::shell_quote(a);
    return git::ssh_argv(ssh, {node.user, node.host, node.port}, command);
}

NodeCall run_on_node(const ClusterNode& node, const RemoteOptions& options,
                     const std::vector<std::string>& args) {
    // ssh gets no secret (a SendEnv line would hand it to the node); a local node's run of this program
    // reads the https credentials from the environment as this run did.
    NodeCall call = run_bounded(node_argv(node, options, args),
                                node.local ? fs::Secrets::keep : fs::Secrets::drop, options.timeout);
    if (!call.error.empty()) return call;  // not started
    if (call.timed_out) {
        call.error = "no answer within " + std::to_string(options.timeout) + " s";
        return call;
    }
    // ssh exits 255 for its own failures (refused, host key, authentication); depsync never does.
    call.reached = node.local ? call.exit_code != 127 : call.exit_code != 255;
    if (!call.reached) {
        std::string why = last_line(call.err);
        if (!node.local && !why.empty())
            why = git::explain_ssh_failure(
                {options.known_hosts, options.ssh_key, options.ssh_config, options.connect_timeout},
                {node.user, node.host, node.port}, "depsync", call.err, 255);
        call.error = why.empty() ? (node.local ? "cannot run " + options.local_command.string()
                                               : "cannot reach " + node.target + " (ssh exit 255)")
                                 : why;
    } else if (call.exit_code != 0) {
        std::string why = last_line(call.err);
        if (why.rfind("depsync: error: ", 0) == 0) why = why.substr(16);
        call.error = why.empty() ? "exit " + std::to_string(call.exit_code) : why;
    }
    return call;
}

std::vector<NodeCall> run_on_nodes(const std::vector<ClusterNode>& nodes, const RemoteOptions& options,
                                   const std::vector<std::string>& args) {
    std::vector<NodeCall> calls(nodes.size());
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
        for (std::size_t i; (i = next++) < nodes.size();) {
            try {
                calls[i] = run_on_node(nodes[i], options, args);
            } catch (const std::exception& e) {
                calls[i].error = e.what();
            }
        }
    };
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < std::min<std::size_t>(nodes.size(), 32); ++t) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    return calls;
}

}  // namespace depsync::sync
