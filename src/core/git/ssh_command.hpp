#pragma once
// The system's OpenSSH client as depsync runs it, for fetches, mirror pushes and cluster commands alike: the
// command line (the options depsync always sets, and nothing else that would override the operator's own
// ssh_config) and, when ssh fails, the reason in an operator's terms: an unknown host or a changed or revoked
// host key with the SHA256 fingerprint the server showed and the known_hosts line to add, a refused key, a
// host that cannot be reached.

#include <filesystem>
#include <string>
#include <vector>

namespace depsync::git {

struct SshOptions {
    std::filesystem::path known_hosts;  // UserKnownHostsFile (and no global file); empty: ssh's own files
    std::filesystem::path ssh_key;      // IdentityFile with IdentitiesOnly; empty: ssh's own keys and agent
    std::filesystem::path ssh_config;   // passed as -F; empty: ~/.ssh/config and the system's
    int timeout = 120;                  // seconds: ConnectTimeout, and ServerAliveInterval derived from it
};

// Where to connect: host is a name, an address or an ssh_config Host alias.
struct SshTarget {
    std::string user;  // empty: ssh's (the config's User, else the local account)
    std::string host;
    int port = 0;  // 0: ssh's (the config's Port, else 22)
};

// One word for the remote shell: `text` in single quotes, each ' written as '\''.
std::string shell_quote(const std::string& text);

// ssh [options] -- HOST REMOTE_COMMAND. Throws Error(usage) for a host starting with '-' or holding white
// space or a control character.
std::vector<std::string> ssh_argv(const SshOptions& options, const SshTarget& target,
                                  const std::string& remote_command);

// Why ssh failed, from its stderr and exit status (255: ssh's own failure; else the remote command's), in an
// operator's terms. `program` names the remote command for messages ("git-upload-pack"). For an unknown,
// changed or revoked host key it asks the server for its key (ssh-keyscan, bounded by the timeout) to show
// the fingerprint and the line to add.
std::string explain_ssh_failure(const SshOptions& options, const SshTarget& target,
                                const std::string& program, const std::string& errors, int exit_code);

// The SHA256 fingerprint of a public key blob given in base64 ("SHA256:..." as OpenSSH prints it); empty
// when the text is not base64.
std::string ssh_fingerprint_of_key(const std::string& base64_key);

}  // namespace depsync::git
