#pragma once
// What every subcommand shares: the global options (which are also the config file's keys) and the result of
// the command, set by its callback and turned into an exit code by main.

#include <CLI/CLI.hpp>

#include <map>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/sync/settings.hpp"

namespace depsync::cli {

struct GlobalOptions {
    // A key left out of the config file and the command line means what it means to the core: the numbers
    // and policies start as sync::Settings{} and sync::GcOptions{} have them (config_keys.hpp lists the
    // keys).
    GlobalOptions();

    std::string config_file;
    // The keys whose value came from config_file, and their lines (keys given as options are not here).
    std::map<std::string, int> file_lines;
    int verbosity = 0;
    bool quiet = false;
    // Config keys; each can also be given as --key on the command line.
    std::string role, node, dir, repo, remote, state, local_changes;
    std::vector<std::string> exclude, node_local, mirror, root;
    std::string known_hosts, ssh_key, ssh_config, ca_file, credentials;
    std::string validate, on_change, on_change_failure;
    std::string signing_key, allowed_signers;
    int hook_timeout{};
    double wait{}, settle{};
    int timeout{};
    std::uint64_t max_fetch_bytes{}, max_fetch_memory{};
    unsigned backup_keep{};
    std::uint64_t backup_max_bytes{};
    std::size_t max_entries{};
    std::size_t gc_keep{};
    unsigned gc_keep_days{};
    std::string metrics_file, log_file;
    std::string owner;
};

// Options of the subcommands; only the chosen subcommand's are set.
struct CommandOptions {
    std::string message;
    bool dry_run = false;
    bool json = false;
    bool accept_rewrite = false;
    bool full = false;
    bool force = false;
    std::string rev, rev2, to;
    std::vector<std::string> paths;  // repair PATH...
    std::string reason;              // pin --reason
    std::size_t limit = 20;
    double jitter = 0;
    long keep = 0;        // gc --keep (0: the config's gc_keep)
    long keep_days = -1;  // gc --keep-days (-1: the config's gc_keep_days)
};

struct Context {
    GlobalOptions global;
    CommandOptions cmd;
    ExitCode exit_code = ExitCode::ok;
};

// Builds the verbs' settings from the merged options; throws Error(usage) for anything missing or invalid.
sync::Settings make_settings(const GlobalOptions& g);

// The config file named by -c, $DEPSYNC_CONFIG or the system default, in that order.
std::string default_config_path();

void add_init(CLI::App& app, Context& ctx);
void add_publish(CLI::App& app, Context& ctx);
void add_pull(CLI::App& app, Context& ctx);
void add_status(CLI::App& app, Context& ctx);
void add_history(CLI::App& app, Context& ctx);   // log, diff
void add_rollback(CLI::App& app, Context& ctx);  // rollback, pin, unpin
void add_verify(CLI::App& app, Context& ctx);    // verify, backups
void add_watch(CLI::App& app, Context& ctx);
void add_cluster(CLI::App& app, Context& ctx);  // cluster status, cluster pull
void add_gc(CLI::App& app, Context& ctx);
void add_repair(CLI::App& app, Context& ctx);
void add_config(CLI::App& app, Context& ctx);  // config: the settings in effect and their sources

}  // namespace depsync::cli
