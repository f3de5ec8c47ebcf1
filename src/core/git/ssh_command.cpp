#include "core/git/ssh_command.hpp"

#include <openssl/evp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <regex>
#include <sstream>

#include "core/error.hpp"
#include "core/fs/child_process.hpp"

namespace depsync::git {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (!line.empty()) out.push_back(line);
    }
    return out;
}

// The lines of ssh's stderr that say something (not its banner of '@' signs), joined.
std::string joined(const std::string& errors) {
    std::string out;
    for (const std::string& line : lines_of(errors)) {
        if (line.find_first_not_of('@') == std::string::npos) continue;
        out += (out.empty() ? "" : "; ") + line;
    }
    return out;
}

std::string home_known_hosts() {
    const passwd* pw = ::getpwuid(::getuid());
    return std::string(pw && pw->pw_dir ? pw->pw_dir : "~") + "/.ssh/known_hosts";
}

std::string known_hosts_shown(const SshOptions& options) {
    return options.known_hosts.empty() ? home_known_hosts() : options.known_hosts.string();
}

// What ssh would use for `target` with these options (`ssh -G`): hostname, port, user, ...
std::map<std::string, std::string> resolved_config(const SshOptions& options, const SshTarget& target) {
    std::vector<std::string> argv = ssh_argv(options, target, "true");
    argv.pop_back();  // the remote command
    argv.insert(argv.begin() + 1, "-G");
    fs::ChildResult r = fs::run_child({argv, {}, fs::Secrets::drop}, 10, 256 * 1024);
    std::map<std::string, std::string> out;
    if (!r.error.empty() || r.exit.exit_code != 0) return out;
    for (const std::string& line : lines_of(r.out)) {
        auto space = line.find(' ');
        if (space != std::string::npos) out.emplace(line.substr(0, space), line.substr(space + 1));
    }
    return out;
}

struct ScannedKey {
    std::string type;  // "ssh-ed25519", ...
    std::string key;   // base64
};

// The name known_hosts records the host ssh resolves `config` to under: its HostKeyAlias, else the host
// name, with the port when it is not 22.
std::string known_hosts_name(std::map<std::string, std::string>& config) {
    if (config.count("hostkeyalias") && config["hostkeyalias"] != "none") return config["hostkeyalias"];
    const std::string port = config.count("port") ? config["port"] : "22";
    return port == "22" ? config["hostname"] : "[" + config["hostname"] + "]:" + port;
}

// The server's host key of `ssh_type` ("ED25519", "ECDSA", "RSA", as ssh names them), asked for with
// ssh-keyscan at the address ssh connects to; nullopt when it cannot be had. `name_in_message` is the host
// ssh's message named (empty: none): a message about another host (the bastion of a ProxyJump, whose ssh
// writes to the same stderr) is not answered with the target's key. A host reached through a ProxyJump or
// a ProxyCommand is not scanned at all: ssh-keyscan would connect straight to its address, not by the
// route ssh took, and could show another machine's key.
std::optional<ScannedKey> scan_host_key(const SshOptions& options, const SshTarget& target,
                                        std::string ssh_type, const std::string& name_in_message) {
    auto config = resolved_config(options, target);
    if (config.count("hostname") == 0) return std::nullopt;
    for (const char* proxy : {"proxyjump", "proxycommand"})
        if (config.count(proxy) && config[proxy] != "none") return std::nullopt;
    if (!name_in_message.empty() && name_in_message != known_hosts_name(config) &&
        name_in_message != config["hostname"])
        return std::nullopt;
    if (auto dash = ssh_type.find('-'); dash != std::string::npos) ssh_type.resize(dash);  // "-CERT"
    std::transform(ssh_type.begin(), ssh_type.end(), ssh_type.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    int wait = std::clamp(options.timeout, 1, 30);
    std::vector<std::string> argv = {"ssh-keyscan", "-T", std::to_string(wait), "-p",
                                     config.count("port") ? config["port"] : "22"};
    if (!ssh_type.empty()) argv.insert(argv.end(), {"-t", ssh_type});
    argv.insert(argv.end(), {"--", config["hostname"]});
    fs::ChildResult r = fs::run_child({argv, {}, fs::Secrets::drop}, wait + 5, 256 * 1024);
    for (const std::string& line : lines_of(r.out)) {
        if (line[0] == '#') continue;
        std::istringstream fields(line);
        std::string name, type, key;
        if (fields >> name >> type >> key) return ScannedKey{type, key};
    }
    return std::nullopt;
}

// The groups of `pattern`'s first match in ssh's messages, searched a line at a time (with the next line
// joined on, for a message ssh wraps), each line cut to 1 KiB; empty when nothing matches. Never the whole
// text at once: libstdc++'s regex recurses once per character of a \S+, and a hostile server's or node's
// stderr of some tens of KiB overflowed the stack.
std::vector<std::string> search_lines(const std::string& errors, const std::regex& pattern) {
    constexpr std::size_t longest = 1024;
    const std::vector<std::string> lines = lines_of(errors);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        std::string text = lines[i].substr(0, longest);
        if (i + 1 < lines.size()) text += " " + lines[i + 1].substr(0, longest);
        std::smatch m;
        if (!std::regex_search(text, m, pattern)) continue;
        std::vector<std::string> groups;
        for (const auto& group : m) groups.push_back(group.str());
        return groups;
    }
    return {};
}

std::string match(const std::string& text, const std::regex& pattern, std::size_t group = 1) {
    std::vector<std::string> m = search_lines(text, pattern);
    return group < m.size() ? m[group] : std::string();
}

std::string unknown_host(const SshOptions& options, const SshTarget& target, const std::string& errors) {
    static const std::regex no_key(R"(No (\S+) host key is known for (\S+) and)");
    const std::vector<std::string> m = search_lines(errors, no_key);
    const std::string name = m.empty() ? target.host : m[2];
    const std::string file = known_hosts_shown(options);
    std::string missing = options.known_hosts.empty() || ::access(options.known_hosts.c_str(), R_OK) == 0
                              ? std::string()
                              : " (the file cannot be read)";
    auto key = scan_host_key(options, target, m.empty() ? std::string() : m[1], m.empty() ? "" : m[2]);
    if (!key)
        return "unknown ssh host " + name + ": " + file + missing + " has no " +
               (m.empty() ? std::string("") : m[1] + " ") +
               "key for it and its key could not be read with ssh-keyscan; get the host's key "
               "fingerprint from its administrator and add its line to " +
               file;
    return "unknown ssh host " + name + missing + ": its " + key->type + " key fingerprint is " +
           ssh_fingerprint_of_key(key->key) + ". If that is right, add this line to " + file + ": " + name +
           " " + key->type + " " + key->key;
}

std::string changed_host_key(const SshOptions& options, const SshTarget& target, const std::string& errors) {
    static const std::regex sent(
        R"(The fingerprint for the (\S+) key sent by the remote host is\s+(SHA256:[^\s.]+))");
    static const std::regex name_re(R"(ost key for (\S+) has changed)");
    static const std::regex offending(R"(Offending \S+ key in (\S+))");
    const std::vector<std::string> m = search_lines(errors, sent);
    std::string name = match(errors, name_re);
    if (name.empty()) name = target.host;
    std::string type = m.empty() ? std::string("host") : m[1];
    std::string fingerprint = m.empty() ? std::string("(not shown)") : m[2];
    std::string where = match(errors, offending);
    std::string out = "HOST KEY CHANGED for " + name + "! The server presented the " + type + " key " +
                      fingerprint + ", which is not the one recorded in " +
                      (where.empty() ? known_hosts_shown(options) : where) +
                      ". Someone may be intercepting the connection. Nothing was fetched. If the key was "
                      "rotated on purpose, replace the entry for " +
                      name;
    // The line to put instead, only when a second look at the server shows the key ssh reported.
    if (auto key = scan_host_key(options, target, type, name);
        key && !m.empty() && ssh_fingerprint_of_key(key->key) == fingerprint)
        out += " with: " + name + " " + key->type + " " + key->key;
    return out + ".";
}

std::string revoked_host_key(const SshOptions& options, const SshTarget& target, const std::string& errors) {
    static const std::regex revoked(R"(The (\S+) host key for (\S+) is marked as revoked)");
    const std::vector<std::string> m = search_lines(errors, revoked);
    std::string name = m.empty() ? target.host : m[2];
    std::string shown = m.empty() ? std::string("host key") : m[1];
    if (auto key = scan_host_key(options, target, m.empty() ? std::string() : m[1], m.empty() ? "" : m[2]))
        shown = key->type + " " + ssh_fingerprint_of_key(key->key);
    return "the ssh host key of " + name + " (" + shown + ") is marked @revoked in " +
           known_hosts_shown(options) + ": refused. Nothing was fetched.";
}

std::string refused_key(const SshOptions& options, const SshTarget& target, const std::string& errors) {
    std::string user = target.user;
    if (user.empty()) {
        auto config = resolved_config(options, target);
        user = config.count("user") ? config["user"] : "?";
    }
    std::string keys = options.ssh_key.empty() ? "the keys ssh offered (ssh-agent, ~/.ssh, IdentityFile)"
                                               : "the key " + options.ssh_key.string();
    // ssh's own line names who refused (user@host): behind a ProxyJump it may be the bastion.
    static const std::regex denied(R"(((?:\S+: )?Permission denied.*))");
    std::string said = match(errors, denied);
    return "the server refused " + keys + " for user " + user +
           " (is its public key in the server's authorized_keys?)" + (said.empty() ? "" : "; ssh: " + said);
}

}  // namespace

std::string shell_quote(const std::string& text) {
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::vector<std::string> ssh_argv(const SshOptions& options, const SshTarget& target,
                                  const std::string& remote_command) {
    const std::string& host = target.host;
    if (host.empty() || host.front() == '-' || std::any_of(host.begin(), host.end(), [](char c) {
            return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
        }))
        throw Error("invalid ssh host '" + host + "': refused (empty, starting with '-', or white space)",
                    ExitCode::usage);
    std::vector<std::string> argv = {"ssh"};
    if (!options.ssh_config.empty()) argv.insert(argv.end(), {"-F", options.ssh_config.string()});
    // Host keys are checked and never added, nothing may prompt, and ssh's own messages are its errors.
    argv.insert(argv.end(), {"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o",
                             "UpdateHostKeys=no", "-o", "LogLevel=ERROR"});
    // A byte pipe and nothing else, whatever an interactive `Host *` block of the operator's ssh_config
    // asks for: no terminal (its line discipline would corrupt the protocol), no RemoteCommand, no agent,
    // X11 or port forwarding, no LocalCommand. Options given here win over the config file's.
    argv.insert(argv.end(), {"-T", "-a", "-x", "-o", "ClearAllForwardings=yes", "-o", "PermitLocalCommand=no",
                             "-o", "RemoteCommand=none"});
    if (!options.known_hosts.empty())
        argv.insert(argv.end(), {"-o", "UserKnownHostsFile=" + options.known_hosts.string(), "-o",
                                 "GlobalKnownHostsFile=/dev/null"});
    const int timeout = std::max(1, options.timeout);
    // A dead connection is noticed within about a third of the timeout; the timeout itself ends the run.
    argv.insert(argv.end(), {"-o", "ConnectTimeout=" + std::to_string(timeout), "-o",
                             "ServerAliveInterval=" + std::to_string(std::clamp(timeout / 6, 1, 15))});
    if (!options.ssh_key.empty())
        argv.insert(argv.end(),
                    {"-o", "IdentityFile=" + options.ssh_key.string(), "-o", "IdentitiesOnly=yes"});
    if (target.port != 0) argv.insert(argv.end(), {"-p", std::to_string(target.port)});
    if (!target.user.empty()) argv.insert(argv.end(), {"-l", target.user});
    argv.insert(argv.end(), {"--", host, remote_command});
    return argv;
}

std::string explain_ssh_failure(const SshOptions& options, const SshTarget& target,
                                const std::string& program, const std::string& errors, int exit_code) {
    if (exit_code != 255) {
        std::string said = joined(errors);
        return program + " on " + target.host + " failed (exit " + std::to_string(exit_code) + ")" +
               (said.empty() ? std::string() : ": " + said);
    }
    if (errors.find("REVOKED HOST KEY") != std::string::npos)
        return revoked_host_key(options, target, errors);
    if (errors.find("IDENTIFICATION HAS CHANGED") != std::string::npos ||
        errors.find("has changed and you have requested strict checking") != std::string::npos)
        return changed_host_key(options, target, errors);
    if (errors.find("host key is known for") != std::string::npos ||
        errors.find("Host key verification failed") != std::string::npos)
        return unknown_host(options, target, errors);
    if (errors.find("Permission denied") != std::string::npos) return refused_key(options, target, errors);
    std::string said = joined(errors);
    if (said.find("timed out") != std::string::npos || said.find("Timeout") != std::string::npos)
        return "no answer from " + target.host + " within the timeout of " + std::to_string(options.timeout) +
               " s (config 'timeout'): " + said;
    return "ssh to " + target.host + " failed" + (said.empty() ? std::string() : ": " + said);
}

std::string ssh_fingerprint_of_key(const std::string& base64_key) {
    std::string blob(base64_key.size(), '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(blob.data()),
                            reinterpret_cast<const unsigned char*>(base64_key.data()),
                            static_cast<int>(base64_key.size()));
    if (n < 0) return {};
    std::size_t pad = 0;
    for (auto it = base64_key.rbegin(); it != base64_key.rend() && *it == '=' && pad < 2; ++it) ++pad;
    blob.resize(static_cast<std::size_t>(n) - std::min<std::size_t>(pad, static_cast<std::size_t>(n)));
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(blob.data(), blob.size(), md, &len, EVP_sha256(), nullptr);
    std::string out(4 * ((len + 2) / 3) + 1, '\0');
    int m = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), md, static_cast<int>(len));
    out.resize(static_cast<std::size_t>(m));
    while (!out.empty() && out.back() == '=') out.pop_back();
    return "SHA256:" + out;
}

}  // namespace depsync::git
