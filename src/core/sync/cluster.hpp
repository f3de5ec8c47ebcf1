#pragma once
// cluster: the nodes a nodes file lists, and one depsync command run on all of them at once. Remote nodes are
// reached with the system ssh client (host keys verified against a known_hosts file, never added, no prompt);
// nodes on this machine run this very binary with their config. Every call is bounded by a timeout, after
// which its process group is killed.

#include <filesystem>
#include <string>
#include <vector>

namespace depsync::sync {

struct ClusterNode {
    std::string target;  // as the file names it: "user@host:port" or the local config path
    bool local = false;  // a node on this machine, named by its config file
    std::string user;    // remote: empty for ssh's default
    std::string host;
    int port = 0;        // 0: ssh's default
    std::string config;  // the node's config file; empty: the node's default (/etc/depsync/depsync.conf)
};

// Parses a nodes file's text: per line `[user@]host[:port] [CONFIG]` (IPv6 as `[addr]:port`), or a path to a
// config file on this machine (anything containing '/'); '#' starts a comment. Throws Error(usage) naming
// `source` and the line for anything else, and when no node is listed.
std::vector<ClusterNode> parse_nodes(const std::string& text, const std::string& source);
std::vector<ClusterNode> read_nodes_file(const std::filesystem::path& file);

struct RemoteOptions {
    std::filesystem::path known_hosts;       // empty: ssh's own (~/.ssh/known_hosts)
    std::filesystem::path ssh_key;           // empty: ssh's default keys and agent
    std::filesystem::path ssh_config;        // ssh -F; empty: ~/.ssh/config
    int connect_timeout = 10;                // seconds for ssh to connect
    int timeout = 60;                        // seconds for the whole call
    std::string remote_command = "depsync";  // shell text run on remote nodes, before the arguments
    std::filesystem::path local_command;     // the program run for local nodes (this binary)
};

// What one call on one node gave.
struct NodeCall {
    bool reached = false;  // the command ran on the node: ssh connected, or the local program started
    bool timed_out = false;
    int exit_code = -1;  // 128 + N when killed by signal N
    std::string out, err;
    std::string error;  // empty on success; else why the node was not reached, or what the command said
    bool ok() const { return reached && exit_code == 0 && !timed_out; }
};

// The argv that runs `depsync [-c CONFIG] ARGS...` on the node.
std::vector<std::string> node_argv(const ClusterNode& node, const RemoteOptions& options,
                                   const std::vector<std::string>& args);

NodeCall run_on_node(const ClusterNode& node, const RemoteOptions& options,
                     const std::vector<std::string>& args);

// Runs the command on every node at once (at most 32 at a time); results in the order of `nodes`.
std::vector<NodeCall> run_on_nodes(const std::vector<ClusterNode>& nodes, const RemoteOptions& options,
                                   const std::vector<std::string>& args);

}  // namespace depsync::sync
