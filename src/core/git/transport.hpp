#pragma once
// What a connection to a remote needs beyond its URL: for ssh, the system's OpenSSH client with host keys
// always verified (ssh_transport.hpp); for https, a private CA and credentials. Failures are explained in
// operator terms (unknown host with its fingerprint and the line to add, changed key, missing credentials).

#include <git2.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/git/remote_url.hpp"

namespace depsync::git {

struct TransportOptions {
    std::filesystem::path known_hosts;  // ssh host keys are verified against this file; empty: ssh's own
    std::filesystem::path ssh_key;      // private key file; empty: ssh's own keys and agent
    std::filesystem::path ssh_config;   // ssh -F file; empty: ~/.ssh/config
    int timeout = 120;                  // seconds: ssh's ConnectTimeout and the streams' deadline
    std::filesystem::path ca_file;      // https: CA bundle for a private CA
    std::string https_user;             // https credentials (from a file or the environment, never argv)
    std::string https_secret;
    std::uint64_t max_receive_bytes = 0;  // bytes a fetch may receive in all; 0: no bound
    std::string max_receive_reason;       // where that bound comes from, for the message
};

class TransportSession {
  public:
    TransportSession(const std::string& url, TransportOptions options);
    TransportSession(const TransportSession&) = delete;
    TransportSession& operator=(const TransportSession&) = delete;

    // Callbacks whose payload is this session; it must outlive the connection.
    git_remote_callbacks callbacks();

    // Applies process-wide transport settings: the CA file; for https, connections only to the configured
    // host and port, with the received bytes bounded (git::install_stream_guard); for ssh, OpenSSH with this
    // session's options (git::install_ssh_transport). Call in the process that connects (a transfer child).
    void prepare_process();

    // GIT_EUSER (with the reason recorded) once a fetch has received more than its bound, else 0.
    int check_received(std::uint64_t bytes);

    // Refs the remote refused during the last push ("ref: reason" lines), empty when all were accepted.
    const std::string& push_rejections() const { return m_push_rejections; }

    // Rethrows a libgit2 failure with the session's explanation when it has one.
    [[noreturn]] void fail(const std::string& what) const;

    const RemoteUrl& url() const { return m_url; }
    const std::string& url_text() const { return m_url_text; }

  private:
    std::string m_url_text;
    RemoteUrl m_url;
    TransportOptions m_options;
    std::string m_failure;  // set by callbacks: why the connection was refused
    int m_password_attempts = 0;
    std::string m_push_rejections;

    static int certificate_check(git_cert* cert, int valid, const char* host, void* payload);
    static int credentials(git_credential** out, const char* url, const char* username_from_url,
                           unsigned int allowed_types, void* payload);
    static int push_update_reference(const char* refname, const char* status, void* payload);
    int refuse(std::string message, int code);
};

// "ssh-ed25519", "ecdsa-sha2-nistp256", ... for a key file, read from its .pub or the private key itself;
// empty when unknown.
std::string ssh_key_type(const std::filesystem::path& private_key);

}  // namespace depsync::git
