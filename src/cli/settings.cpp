#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <utility>

#include "core/fs/atomic_file.hpp"
#include "core/fs/child_env.hpp"
#include "core/fs/owner.hpp"

#include "cli/context.hpp"
#include "core/git/remote_url.hpp"
#include "core/sync/gc.hpp"
#include "core/sync/publish.hpp"

namespace depsync::cli {

std::string default_config_path() {
    const char* env = std::getenv("DEPSYNC_CONFIG");
    return (env && *env) ? env : "/etc/depsync/depsync.conf";
}

namespace {

// Files that hold or name secrets must not be readable by group or others.
void require_private(const std::string& file, const std::string& why) {
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
        throw Error(file + " " + why + " but is readable by group or others; run 'chmod 600 " + file + "'",
                    ExitCode::usage);
}

void read_credentials(const GlobalOptions& g, sync::Settings& s) {
    if (const char* token = std::getenv(fs::https_token_env)) s.https_secret = token;
    if (const char* user = std::getenv("DEPSYNC_HTTPS_USERNAME")) s.https_user = user;
    if (const char* pass = std::getenv(fs::https_password_env)) s.https_secret = pass;
    if (g.credentials.empty()) return;
    require_private(g.credentials, "holds credentials");
    auto text = fs::read_file(g.credentials);
    if (!text) throw Error("credentials file " + g.credentials + " does not exist", ExitCode::usage);
    std::istringstream in(*text);
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        auto eq = line.find('=');
        if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
        auto trim = [](std::string v) {
            v.erase(0, v.find_first_not_of(" \t"));
            v.erase(v.find_last_not_of(" \t\r") + 1);
            return v;
        };
        std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
        if (key == "token" || key == "password") {
            s.https_secret = value;
        } else if (key == "username") {
            s.https_user = value;
        } else {
            // Not shown: a bare token ending in '=' (base64 padding) would be taken for the key.
            throw Error("line " + std::to_string(number) + " of credentials file " + g.credentials +
                            " has an unknown key (expected token, or username and password)",
                        ExitCode::usage);
        }
    }
}

// " (config FILE line N)" when `key` was read from the config file: a value error names where to fix it.
std::string where(const GlobalOptions& g, const std::string& key) {
    auto it = g.file_lines.find(key);
    return it == g.file_lines.end()
               ? ""
               : " (config " + g.config_file + " line " + std::to_string(it->second) + ")";
}

// Runs `check`; an Error it throws is thrown again naming where `key` was set.
template <typename Check>
auto checked_at(const GlobalOptions& g, const std::string& key, Check&& check) {
    try {
        return check();
    } catch (const Error& e) {
        throw Error(e.what() + where(g, key), e.code());
    }
}

// Throws Error(usage) naming the key and the fix when a required key is empty; when the config file does
// not exist, says so: it is the likelier cause.
void require(const GlobalOptions& g, const std::string& value, const char* key, const char* fix) {
    if (!value.empty()) return;
    std::error_code ec;
    if (!std::filesystem::exists(g.config_file, ec))
        throw Error(std::string("no '") + key + "' configured in " + g.config_file +
                        ", which does not exist (run 'depsync init primary' or 'depsync init peer' first, or "
                        "pass -c FILE)",
                    ExitCode::usage);
    throw Error(std::string("no '") + key + "' configured in " + g.config_file + " (" + fix + ")",
                ExitCode::usage);
}

void require_absolute(const GlobalOptions& g, const std::filesystem::path& path, const char* key) {
    if (!path.empty() && !path.is_absolute())
        throw Error("path " + path.string() + " must be absolute" + where(g, key), ExitCode::usage);
}

sync::Role role_of(const GlobalOptions& g) {
    require(g, g.role, "role", "run 'depsync init primary' or 'depsync init peer' first, or pass -c FILE");
    if (g.role == "primary") return sync::Role::primary;
    if (g.role == "peer") return sync::Role::peer;
    throw Error("invalid role '" + g.role + "' (expected primary or peer)" + where(g, "role"),
                ExitCode::usage);
}

// `root` entries: NAME=/absolute/path, each name once, a plain folder name.
std::vector<sync::Root> roots_of(const std::vector<std::string>& specs) {
    std::vector<sync::Root> roots;
    for (const std::string& spec : specs) {
        auto eq = spec.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
            throw Error("invalid root '" + spec + "' (expected NAME=/absolute/path)", ExitCode::usage);
        sync::Root root{spec.substr(0, eq), spec.substr(eq + 1)};
        if (root.name.find('/') != std::string::npos || root.name[0] == '.')
            throw Error("invalid root name '" + root.name + "'", ExitCode::usage);
        for (const auto& other : roots)
            if (other.name == root.name)
                throw Error("root '" + root.name + "' is named twice", ExitCode::usage);
        if (!root.dir.is_absolute())
            throw Error("root path " + root.dir.string() + " must be absolute", ExitCode::usage);
        roots.push_back(root);
    }
    return roots;
}

// The node's places: its directory or roots, the state folder, and the repository (primary) or the remote
// (peer).
void set_places(const GlobalOptions& g, sync::Settings& s) {
    s.roots = checked_at(g, "root", [&] { return roots_of(g.root); });
    if (!s.roots.empty() && !g.dir.empty())
        throw Error("configure either 'dir' or 'root' entries, not both", ExitCode::usage);
    if (s.roots.empty()) require(g, g.dir, "dir", "the deployment directory");
    require(g, g.state, "state", "the state folder");
    s.dir = g.dir;
    require_absolute(g, s.dir, "dir");
    s.state = g.state;
    if (s.role == sync::Role::primary) {
        require(g, g.repo, "repo", "the release repository");
        s.repo = g.repo;
    } else {
        require(g, g.remote, "remote", "the primary's repository URL or path");
        s.remote = g.remote;
        // refuses http:// and credentials in the URL
        checked_at(g, "remote", [&] { return git::parse_remote_url(s.remote); });
    }
    require_absolute(g, s.state, "state");
}

sync::LocalChanges local_changes_of(const std::string& policy) {
    if (policy.empty() || policy == "overwrite") return sync::LocalChanges::overwrite;
    if (policy == "keep") return sync::LocalChanges::keep;
    if (policy == "refuse") return sync::LocalChanges::refuse;
    throw Error("invalid local_changes '" + policy + "' (expected overwrite, keep or refuse)",
                ExitCode::usage);
}

// The time and size bounds of a run.
void set_bounds(const GlobalOptions& g, sync::Settings& s) {
    s.wait = g.wait;
    s.settle = g.settle;
    s.timeout = g.timeout;
    if (g.timeout < 1)
        throw Error("timeout must be at least 1 (seconds a fetch or push may take), not " +
                        std::to_string(g.timeout) + where(g, "timeout"),
                    ExitCode::usage);
    s.max_fetch_bytes = g.max_fetch_bytes;
    s.max_fetch_memory = g.max_fetch_memory;
    // The option parser reads "-1" and numbers past 2^64 as 18446744073709551615; a bound that large
    // would overflow the address-space limit (and fail every fetch) or mean no bound at all.
    constexpr std::uint64_t max_bound = 1ull << 50;
    for (auto [key, value] : {std::pair<const char*, std::uint64_t>{"max_fetch_bytes", s.max_fetch_bytes},
                              {"max_fetch_memory", s.max_fetch_memory}})
        if (value > max_bound)
            throw Error(std::string(key) + " = " + std::to_string(value) +
                            " is out of range (a negative number is read that way): give a number of bytes "
                            "up to 1125899906842624 (1 PiB), or 0" +
                            where(g, key),
                        ExitCode::usage);
    if (s.max_fetch_memory != 0 && s.max_fetch_memory < (64ull << 20))
        throw Error("max_fetch_memory must be at least 67108864 (64 MiB), or 0 for no bound" +
                        where(g, "max_fetch_memory"),
                    ExitCode::usage);
    s.backup_keep = g.backup_keep;
    s.backup_max_bytes = g.backup_max_bytes;
}

// A file given to ssh as an option's value is split at white space and has % and a leading ~ expanded
// (a known_hosts path with a space made ssh read two other files and never verify the host), and the
// config file's path goes unquoted into the command ssh builds for a ProxyJump: such names are refused.
void require_ssh_safe_path(const GlobalOptions& g, const std::string& key, const std::string& path) {
    if (path.empty()) return;
    bool unsafe = path.front() == '~' || std::any_of(path.begin(), path.end(), [](char c) {
                      return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '"' || c == '\'' ||
                             c == '%' || c == '\\';
                  });
    if (unsafe)
        throw Error(key + " '" + path +
                        "': ssh would split or expand this path (white space, a quote, '%', '\\' or a "
                        "leading '~'); give the file a path without them" +
                        where(g, key),
                    ExitCode::usage);
}

// Transports, mirrors, operator commands, signing and monitoring.
void set_services(const GlobalOptions& g, sync::Settings& s) {
    require_ssh_safe_path(g, "known_hosts", g.known_hosts);
    require_ssh_safe_path(g, "ssh_key", g.ssh_key);
    require_ssh_safe_path(g, "ssh_config", g.ssh_config);
    s.known_hosts = g.known_hosts;
    s.ssh_key = g.ssh_key;
    s.ssh_config = g.ssh_config;
    s.ca_file = g.ca_file;
    s.mirrors = g.mirror;
    for (const std::string& mirror : s.mirrors)
        checked_at(g, "mirror", [&] { return git::parse_remote_url(mirror); });
    s.validate = g.validate;
    s.signing_key = g.signing_key;
    s.allowed_signers = g.allowed_signers;
    s.on_change = g.on_change;
    s.hook_timeout = g.hook_timeout;
    s.metrics_file = g.metrics_file;
    if (g.on_change_failure == "revert") {
        s.revert_on_change_failure = true;
    } else if (!g.on_change_failure.empty() && g.on_change_failure != "record") {
        throw Error("invalid on_change_failure '" + g.on_change_failure + "' (expected record or revert)" +
                        where(g, "on_change_failure"),
                    ExitCode::usage);
    }
}

void require_private_secrets(const GlobalOptions& g) {
    if (!g.ssh_key.empty() || !g.credentials.empty())
        require_private(g.config_file, "names secrets (ssh_key or credentials)");
    if (!g.ssh_key.empty()) require_private(g.ssh_key, "is a private key");
    if (!g.signing_key.empty()) require_private(g.signing_key, "is a private key");
}

}  // namespace

GlobalOptions::GlobalOptions() {
    const sync::Settings settings;
    const sync::GcOptions gc;
    local_changes = sync::local_changes_name(settings.local_changes);
    on_change_failure = settings.revert_on_change_failure ? "revert" : "record";
    hook_timeout = settings.hook_timeout;
    wait = settings.wait;
    settle = settings.settle;
    timeout = settings.timeout;
    max_fetch_bytes = settings.max_fetch_bytes;
    max_fetch_memory = settings.max_fetch_memory;
    backup_keep = settings.backup_keep;
    backup_max_bytes = settings.backup_max_bytes;
    max_entries = settings.max_entries;
    gc_keep = gc.keep;
    gc_keep_days = gc.keep_days;
}

sync::Settings make_settings(const GlobalOptions& g) {
    sync::Settings s;
    s.role = role_of(g);
    set_places(g, s);
    s.node = g.node.empty() ? sync::host_name() : g.node;
    s.exclude = g.exclude;
    s.node_local = g.node_local;
    s.local_changes = checked_at(g, "local_changes", [&] { return local_changes_of(g.local_changes); });
    set_bounds(g, s);
    s.owner = g.owner;
    // an unknown user or group is a usage error at once
    if (!s.owner.empty()) checked_at(g, "owner", [&] { return fs::parse_owner(s.owner); });
    s.max_entries = g.max_entries;
    set_services(g, s);
    require_private_secrets(g);
    sync::require_separate_paths(s);
    read_credentials(g, s);
    return s;
}

}  // namespace depsync::cli
