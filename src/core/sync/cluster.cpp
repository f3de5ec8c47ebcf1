#include "core/sync/cluster.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <thread>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/fs/child_env.hpp"
#include "core/fs/unique_fd.hpp"

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

// One word for the remote shell.
std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::string last_line(const std::string& text) {
    std::istringstream in(text);
    std::string line, last;
    while (std::getline(in, line))
        if (!trim(line).empty()) last = trim(line);
    return last;
}

std::filesystem::path default_known_hosts() {
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home && *home ? home : "/root") / ".ssh/known_hosts";
}

// Owns posix_spawn's file actions for the call.
struct FileActions {
    posix_spawn_file_actions_t actions;
    FileActions() { posix_spawn_file_actions_init(&actions); }
    ~FileActions() { posix_spawn_file_actions_destroy(&actions); }
    FileActions(const FileActions&) = delete;
    FileActions& operator=(const FileActions&) = delete;
};

struct SpawnAttributes {
    posix_spawnattr_t attributes;
    SpawnAttributes() { posix_spawnattr_init(&attributes); }
    ~SpawnAttributes() { posix_spawnattr_destroy(&attributes); }
    SpawnAttributes(const SpawnAttributes&) = delete;
    SpawnAttributes& operator=(const SpawnAttributes&) = delete;
};

// Runs argv in its own process group with stdin from /dev/null, collecting stdout and stderr, and kills the
// group when `timeout_seconds` pass. posix_spawn rather than fork: the calls run from several threads at
// once.
NodeCall run_bounded(const std::vector<std::string>& argv, fs::Secrets secrets, int timeout_seconds) {
    constexpr std::size_t max_output = 1024 * 1024;
    NodeCall call;
    int out_fds[2], err_fds[2];
    // Close-on-exec, so a child spawned by another thread meanwhile cannot hold these pipes open.
    if (::pipe2(out_fds, O_CLOEXEC) < 0) throw_errno("create pipe");
    fs::UniqueFd out_read(out_fds[0]), out_write(out_fds[1]);
    if (::pipe2(err_fds, O_CLOEXEC) < 0) throw_errno("create pipe");
    fs::UniqueFd err_read(err_fds[0]), err_write(err_fds[1]);

    FileActions fa;
    posix_spawn_file_actions_addopen(&fa.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa.actions, out_write.get(), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa.actions, err_write.get(), STDERR_FILENO);
    SpawnAttributes sa;
    posix_spawnattr_setflags(&sa.attributes, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&sa.attributes, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    fs::ChildEnvironment env({}, secrets);
    pid_t pid = 0;
    int rc = ::posix_spawnp(&pid, args[0], &fa.actions, &sa.attributes, args.data(), env.envp());
    if (rc != 0) {
        call.error = "cannot run " + argv[0] + ": " + std::strerror(rc);
        return call;
    }
    out_write.reset();
    err_write.reset();

    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
    bool out_open = true, err_open = true;
    while (out_open || err_open) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            call.timed_out = true;
            break;
        }
        pollfd p[2] = {{out_open ? out_read.get() : -1, POLLIN, 0},
                       {err_open ? err_read.get() : -1, POLLIN, 0}};
        int n = ::poll(p, 2, static_cast<int>(std::min<long long>(left.count(), 1000)));
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (p[i].fd < 0 || p[i].revents == 0) continue;
            char buf[4096];
            ssize_t got = ::read(p[i].fd, buf, sizeof buf);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {
                (i == 0 ? out_open : err_open) = false;
                continue;
            }
            std::string& sink = i == 0 ? call.out : call.err;
            if (sink.size() < max_output)
                sink.append(buf, std::min(static_cast<std::size_t>(got), max_output - sink.size()));
        }
    }
    // The group goes, whether the call ended by itself (leftover children) or ran out of time.
    ::kill(-pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) call.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) call.exit_code = 128 + WTERMSIG(status);
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
    std::filesystem::path known_hosts =
        options.known_hosts.empty() ? default_known_hosts() : options.known_hosts;
    // Host keys are checked against this file only and never added; nothing may prompt.
    std::vector<std::string> argv = {"ssh", "-n",
                                     "-o",  "BatchMode=yes",
                                     "-o",  "StrictHostKeyChecking=yes",
                                     "-o",  "UserKnownHostsFile=" + known_hosts.string(),
                                     "-o",  "GlobalKnownHostsFile=/dev/null",
                                     "-o",  "UpdateHostKeys=no",
                                     "-o",  "ConnectTimeout=" + std::to_string(options.connect_timeout),
                                     "-o",  "LogLevel=ERROR"};
    if (!options.ssh_key.empty())
        argv.insert(argv.end(), {"-i", options.ssh_key.string(), "-o", "IdentitiesOnly=yes"});
    if (node.port) argv.insert(argv.end(), {"-p", std::to_string(node.port)});
    if (!node.user.empty()) argv.insert(argv.end(), {"-l", node.user});
    argv.insert(argv.end(), {"--", node.host});
    std::string command = options.remote_command;
    for (const auto& a : depsync_args) command += " " + shell_quote(a);
    argv.push_back(command);
    return argv;
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
