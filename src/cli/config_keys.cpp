#include "cli/config_keys.hpp"

#include <sstream>

namespace depsync::cli {
namespace {

using G = GlobalOptions;

enum class Sample { set, commented };

// A row of the table, written left to right: the key, then what only some keys have.
class Row {
  public:
    Row(const char* name, Field field, Nodes nodes, Value value, const char* help) {
        m_key.name = name;
        m_key.field = field;
        m_key.nodes = nodes;
        m_key.value = value;
        m_key.help = help;
    }
    // `checked`: the option refuses other values (else make_settings does, with its own message).
    Row& one_of(std::vector<std::string> choices, bool checked) {
        m_key.choices = std::move(choices);
        m_key.choices_checked = checked;
        return *this;
    }
    Row& within(CLI::Validator range) {
        m_key.range = std::move(range);
        return *this;
    }
    Row& sample(Sample how, const std::string& example, const char* about) {
        m_key.set_in_samples = how == Sample::set;
        m_key.example = example;
        m_key.about = about;
        return *this;
    }
    Row& peer_example(const char* example) {
        m_key.peer_example = example;
        return *this;
    }
    operator ConfigKey() const { return m_key; }

  private:
    ConfigKey m_key;
};

std::string list_text(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "\"" : ", \"") + item + "\"";
    return "[" + out + "]";
}

// Where the node is and what it syncs.
void add_place_keys(std::vector<ConfigKey>& keys) {
    keys.push_back(Row("role", &G::role, Nodes::any, Value::choice, "primary or peer (written by init)")
                       .one_of({"primary", "peer"}, false)
                       .sample(Sample::set, "",
                               "This node's role: primary (publish, rollback) or peer (pull, pin, unpin)."));
    keys.push_back(Row("node", &G::node, Nodes::any, Value::text, "This node's name (default: host name)")
                       .sample(Sample::set, "mi-primary",
                               "This node's name, recorded in the releases it publishes and shown in logs "
                               "and status. Default: the host name.")
                       .peer_example("mi-peer-1"));
    keys.push_back(Row("dir", &G::dir, Nodes::any, Value::folder, "The deployment directory")
                       .sample(Sample::set, "/opt/wso2mi/repository/deployment/server",
                               "The deployment directory (absolute path): what publish releases on the "
                               "primary, what pull keeps identical to the releases on a peer."));
    keys.push_back(
        Row("root", &G::root, Nodes::any, Value::text,
            "NAME=PATH: one of several directories released together, instead of --dir (repeatable)")
            .sample(
                Sample::commented,
                "[\"server=/opt/wso2mi/repository/deployment/server\", "
                "\"tenants=/opt/wso2mi/repository/tenants\"]",
                "Several directories released together, instead of dir (repeatable, NAME=PATH; the name is "
                "the folder in the release). Every node lists the same names, each with its own path."));
    keys.push_back(
        Row("repo", &G::repo, Nodes::primary, Value::folder, "Primary: the bare release repository")
            .sample(Sample::set, "/srv/depsync/releases.git",
                    "The bare git repository holding the releases; peers use it as their `remote`. `depsync "
                    "init primary` creates it when it does not exist."));
    keys.push_back(
        Row("remote", &G::remote, Nodes::peer, Value::text, "Peer: URL or path of the release repository")
            .sample(Sample::set, "ssh://depsync@mi-primary.example.com/srv/depsync/releases.git",
                    "Where releases are fetched from: the primary's `repo`. A local path or file:// URL, "
                    "ssh://user@host[:port]/path, user@host:path or https://host[:port]/path."));
    keys.push_back(Row("state", &G::state, Nodes::any, Value::folder,
                       "State folder: lock, caches, journal, fetched releases, backups")
                       .sample(Sample::set, "/var/lib/depsync",
                               "State folder (absolute path): lock, statcache, deployed, journal, pinned, "
                               "repo.git (a peer's fetched copy of the releases) and backup/. Must not lie "
                               "inside `dir`. `depsync init` uses /var/lib/depsync when none is given."));
    keys.push_back(Row("exclude", &G::exclude, Nodes::any, Value::text,
                       "Gitignore-like pattern never published nor touched (repeatable)")
                       .sample(Sample::set, list_text(init_excludes()),
                               "Paths never published and never touched (gitignore-like patterns, "
                               "repeatable): strays that editors and tools leave behind. Keep the same list "
                               "on every node. These are what `depsync init` writes."));
    keys.push_back(
        Row("node_local", &G::node_local, Nodes::any, Value::text,
            "Pattern of per-node files: never reported, touched or published (repeatable)")
            .sample(
                Sample::commented, "\"synapse-configs/default/imports/\"",
                "Per-node files: never reported by verify, never touched, never published (gitignore-like, "
                "repeatable). Typical for MI: the connector imports the server generates itself."));
    keys.push_back(
        Row("local_changes", &G::local_changes, Nodes::peer, Value::choice,
            "Pull's policy for local edits: overwrite (default, saved to backup), keep, refuse")
            .one_of({"overwrite", "keep", "refuse"}, true)
            .sample(Sample::set, "",
                    "What pull does with local changes on paths it must change or remove, and with local "
                    "files the\nrelease does not have:\n  overwrite (default)  the node ends identical to "
                    "the release; every local file overwritten or\n                       removed is first "
                    "saved to STATE/backup/<time>-rN/\n  keep                 local edits and extra files "
                    "stay; everything else is applied\n  refuse               if local changes touch the "
                    "update, nothing is applied (exit 1, with the list)"));
}

// How long a run waits, and how much it may take.
void add_bound_keys(std::vector<ConfigKey>& keys) {
    keys.push_back(Row("wait", &G::wait, Nodes::any, Value::number,
                       "Seconds to wait for another run's lock instead of exiting 3")
                       .sample(Sample::set, "",
                               "Seconds to wait for another depsync run holding this node's lock; 0 "
                               "(default) exits 3 at once: a cron run that finds the previous one still busy "
                               "changes nothing, and the next one catches up."));
    keys.push_back(
        Row("settle", &G::settle, Nodes::primary, Value::number,
            "Seconds publish waits for files still being written")
            .sample(Sample::set, "",
                    "Seconds publish waits for files still being written (a .car/.zip/.jar/.mar/.aar whose "
                    "zip structure is incomplete, or a file changing while read) before it fails, publishing "
                    "nothing; for watch, the quiet time before it publishes."));
    keys.push_back(
        Row("timeout", &G::timeout, Nodes::any, Value::number, "Seconds bounding a fetch")
            .sample(Sample::set, "", "Seconds bounding a fetch or a push over the network (at least 1)."));
    keys.push_back(
        Row("max_fetch_bytes", &G::max_fetch_bytes, Nodes::peer, Value::bytes,
            "Bytes a fetch may receive (suffixes KiB, MiB, GiB; default 4GiB; also bounded by free space; 0: "
            "free space only)")
            .sample(Sample::commented, "",
                    "Bytes one fetch may receive (also at most the state file system's free space less 64 "
                    "MiB); 0: the free space only."));
    keys.push_back(Row("max_fetch_memory", &G::max_fetch_memory, Nodes::any, Value::bytes,
                       "Bytes of address space of a fetch's process (suffixes KiB, MiB, GiB; default "
                       "1GiB; 0: unbounded)")
                       .sample(Sample::commented, "",
                               "Address space the process of a fetch, or of a mirror push, may grow by (at "
                               "least 64MiB); 0: unbounded."));
    keys.push_back(Row("backup_keep", &G::backup_keep, Nodes::any, Value::number,
                       "Backups kept in the state folder, counting this run's (0: only this run's)")
                       .sample(Sample::set, "",
                               "Backups kept in STATE/backup/ (pull saves the local files it overwrites "
                               "there, rollback --force the unpublished changes); after each run the oldest "
                               "beyond this count are removed."));
    keys.push_back(Row("backup_max_bytes", &G::backup_max_bytes, Nodes::peer, Value::bytes,
                       "Bytes one pull may copy into its backup (suffixes KiB, MiB, GiB; default 1GiB)")
                       .sample(Sample::commented, "",
                               "Bytes one pull may copy into a backup (hard links are free); a pull that "
                               "would copy more is refused before anything changes, naming the file."));
    keys.push_back(
        Row("owner", &G::owner, Nodes::any, Value::text,
            "USER[:GROUP] given what a root run creates in the directory (default: the directory's owner)")
            .sample(Sample::commented, "wso2carbon:wso2",
                    "When running as root: the owner of what depsync creates in the directory (default: the "
                    "directory's owner). Folders are made 0755 and files 0644 or 0755 whatever the umask."));
    keys.push_back(
        Row("max_entries", &G::max_entries, Nodes::any, Value::number,
            "A release with more paths than this (folders included) is refused, before anything is "
            "written")
            .within(CLI::Range(std::size_t{1}, std::size_t{1000000000}))
            .sample(Sample::commented, "",
                    "A release with more paths than this is refused while it is read (also: at most 256 "
                    "folders deep)."));
}

// gc's retention, the transports and mirrors.
void add_repository_keys(std::vector<ConfigKey>& keys) {
    keys.push_back(Row("gc_keep", &G::gc_keep, Nodes::primary, Value::number,
                       "Primary: newest releases 'depsync gc' keeps")
                       .within(CLI::Range(1, 1000000))
                       .sample(Sample::set, "", "depsync gc: the newest releases kept."));
    keys.push_back(
        Row("gc_keep_days", &G::gc_keep_days, Nodes::primary, Value::number,
            "Primary: 'depsync gc' also keeps every release newer than this many days")
            .sample(
                Sample::set, "",
                "depsync gc: every release newer than this many days is kept too (0: the age rule is off)."));
    keys.push_back(Row("known_hosts", &G::known_hosts, Nodes::any, Value::file,
                       "ssh host keys are verified against this file (default ~/.ssh/known_hosts)")
                       .sample(Sample::commented, "/etc/depsync/known_hosts",
                               "ssh: host keys are checked against this file (default ~/.ssh/known_hosts)."));
    keys.push_back(Row("ssh_config", &G::ssh_config, Nodes::any, Value::file,
                       "ssh client config file passed as 'ssh -F' (default ~/.ssh/config)")
                       .sample(Sample::commented, "/etc/depsync/ssh_config",
                               "ssh: the client config for this node's ssh (Host aliases, Port, User, "
                               "ProxyJump; passed as ssh -F; default ~/.ssh/config)."));
    keys.push_back(Row("ssh_key", &G::ssh_key, Nodes::any, Value::file,
                       "ssh private key; default: ssh's own keys and agent")
                       .sample(Sample::commented, "/etc/depsync/id_ed25519",
                               "ssh: private key (default: ssh's own keys and agent). The key and this "
                               "file must be mode 600."));
    keys.push_back(
        Row("ca_file", &G::ca_file, Nodes::any, Value::file, "https: CA bundle for a private CA")
            .sample(Sample::commented, "/etc/depsync/ca.pem", "https: CA bundle of a private CA."));
    keys.push_back(
        Row("credentials", &G::credentials, Nodes::any, Value::file,
            "https: file with 'token = ...' or 'username = ...' and 'password = ...' (mode 600)")
            .sample(
                Sample::commented, "/etc/depsync/https-credentials",
                "https: file holding 'token = ...' or 'username = ...' and 'password = ...' (mode 600)."));
    keys.push_back(Row("mirror", &G::mirror, Nodes::primary, Value::text,
                       "Primary: remote every release is pushed to (repeatable)")
                       .sample(Sample::commented,
                               "\"ssh://depsync@mi-standby.example.com/srv/depsync/releases.git\"",
                               "Remotes every release is also pushed to after publish (repeatable)."));
}

// Operator commands, signing and monitoring.
void add_operation_keys(std::vector<ConfigKey>& keys) {
    keys.push_back(
        Row("validate", &G::validate, Nodes::primary, Value::text,
            "Primary: command run on the directory before publishing; non-zero exit blocks the release")
            .sample(Sample::commented, "/usr/local/bin/check-artifacts",
                    "Command run (through /bin/sh, on the deployment directory) before each publish; a "
                    "non-zero exit blocks the release."));
    keys.push_back(
        Row("on_change", &G::on_change, Nodes::peer, Value::text,
            "Peer: command run after a pull changed something (DEPSYNC_* variables: see depsync(1), "
            "on_change)")
            .sample(
                Sample::commented, "systemctl reload wso2mi",
                "Command run (through /bin/sh) after a pull changed something, e.g. to make the server "
                "reload; it gets DEPSYNC_* environment variables describing the change (see depsync(1))."));
    keys.push_back(
        Row("on_change_failure", &G::on_change_failure, Nodes::peer, Value::choice,
            "record (default) or revert: go back to the previous release and hold there")
            .one_of({"record", "revert"}, true)
            .sample(Sample::set, "",
                    "When on_change fails: record (default: the pull reports it and exits 1) or revert (go "
                    "back to the previous release and hold there until 'depsync unpin')."));
    keys.push_back(Row("hook_timeout", &G::hook_timeout, Nodes::any, Value::number,
                       "Seconds bounding validate and on_change")
                       .sample(Sample::set, "", "Seconds bounding the validate and on_change commands."));
    keys.push_back(Row("signing_key", &G::signing_key, Nodes::primary, Value::file,
                       "Primary: ssh private key (ed25519/ecdsa) that signs every release (git's ssh format)")
                       .sample(Sample::commented, "/etc/depsync/release-signing-key",
                               "Sign every release with this ssh key (git's ssh signature format); peers "
                               "check it with allowed_signers."));
    keys.push_back(
        Row("allowed_signers", &G::allowed_signers, Nodes::any, Value::file,
            "Peer: apply only releases signed by a key in this file; primary: keys whose releases gc may "
            "sign "
            "again")
            .sample(Sample::commented, "/etc/depsync/allowed_signers",
                    "Peer: apply only releases signed by a key listed in this file (git's allowed-signers "
                    "format). Primary: keys besides signing_key whose signatures gc may sign again."));
    keys.push_back(
        Row("metrics_file", &G::metrics_file, Nodes::any, Value::file,
            "Prometheus textfile (node_exporter textfile collector) written after every pull and publish")
            .sample(Sample::commented, "/var/lib/prometheus/node-exporter/depsync.prom",
                    "Prometheus textfile (node_exporter textfile collector), written after every pull and "
                    "publish."));
    keys.push_back(
        Row("log_file", &G::log_file, Nodes::any, Value::file,
            "Also log to this file (rotated at 10 MiB, 5 kept), at info level or more detail with -v")
            .sample(Sample::commented, "/var/log/depsync/depsync.log",
                    "Also log to this file (rotated at 10 MiB, 5 kept)."));
}

// "4GiB" for a whole number of GiB, MiB or KiB, else the plain number.
std::string bytes_text(std::uint64_t bytes) {
    for (auto [unit, size] :
         {std::pair<const char*, std::uint64_t>{"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}})
        if (bytes != 0 && bytes % size == 0) return std::to_string(bytes / size) + unit;
    return std::to_string(bytes);
}

}  // namespace

bool ConfigKey::repeatable() const {
    return std::holds_alternative<std::vector<std::string> GlobalOptions::*>(field);
}

const std::vector<ConfigKey>& config_keys() {
    static const std::vector<ConfigKey> keys = [] {
        std::vector<ConfigKey> all;
        add_place_keys(all);
        add_bound_keys(all);
        add_repository_keys(all);
        add_operation_keys(all);
        return all;
    }();
    return keys;
}

std::string option_names(const ConfigKey& key) {
    std::string dashed = key.name;
    for (char& c : dashed)
        if (c == '_') c = '-';
    return dashed == key.name ? "--" + key.name : "--" + dashed + ",--" + key.name;
}

std::string default_text(const ConfigKey& key) {
    const GlobalOptions defaults;
    return std::visit(
        [&](auto member) -> std::string {
            const auto& value = defaults.*member;
            using T = std::decay_t<decltype(value)>;
            if constexpr (std::is_same_v<T, std::string>) {
                return value;
            } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
                return "";
            } else if constexpr (std::is_same_v<T, std::uint64_t>) {
                return key.value == Value::bytes ? bytes_text(value) : std::to_string(value);
            } else {
                std::ostringstream out;
                out << value;
                return out.str();
            }
        },
        key.field);
}

void add_config_keys(CLI::App& app, GlobalOptions& options) {
    for (const ConfigKey& key : config_keys()) {
        CLI::Option* option = std::visit(
            [&](auto member) { return app.add_option(option_names(key), options.*member, key.help); },
            key.field);
        option->group(key_group);
        if (key.repeatable()) option->take_all();
        if (key.choices_checked) option->check(CLI::IsMember(key.choices));
        if (key.value == Value::bytes) option->transform(CLI::AsSizeValue(false));
        if (key.range) option->check(*key.range);
    }
}

const std::vector<std::string>& init_excludes() {
    static const std::vector<std::string> patterns = {"*~", "*.bk", "*.swp", ".*.tmp"};
    return patterns;
}

}  // namespace depsync::cli
