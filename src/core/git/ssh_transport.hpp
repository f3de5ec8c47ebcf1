#pragma once
// libgit2's ssh transport replaced by the system's OpenSSH client, as git itself does it: a smart
// subtransport (git2/sys/transport.h) whose stream is the stdin and stdout of a child `ssh [options] HOST
// git-upload-pack 'PATH'` (git-receive-pack for a push), started through fs::ChildProcess (its own process
// group, dying with the transfer, ended at the deadline). libgit2 keeps the protocol, negotiation and packs;
// ssh brings the operator's ssh_config (Host aliases, Port, User, ProxyJump), host certificates, agents and
// key types. Registered for ssh:// URLs; libgit2 sends scp-like `[user@]host:path` URLs to the transport
// registered for ssh:// too (transport.c, transport_find_fn).

#include <functional>
#include <string>

#include "core/git/ssh_command.hpp"

namespace depsync::git {

struct SshTransportConfig {
    SshOptions options;
    std::function<void(const std::string&)> refuse;  // records why a connection failed, for the message
};

// Makes every ssh connection libgit2 opens in this process (the transfer child) run OpenSSH with `config`.
// Call before connecting; a later call replaces the configuration.
void install_ssh_transport(SshTransportConfig config);

}  // namespace depsync::git
