#pragma once
// What a connection to a remote needs beyond its URL: host-key verification for ssh (always on), client keys,
// a private CA and credentials for https. Failures are explained in operator terms (unknown host with its
// fingerprint and the line to add, changed key, refused RSA key, missing credentials).

#include <git2.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/git/remote_url.hpp"

namespace depsync::git {

struct TransportOptions {
    std::filesystem::path known_hosts;  // ssh host keys are verified against this file, always
    std::filesystem::path ssh_key;      // private key file; empty: use ssh-agent
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
    // host and port, with the received bytes bounded (git::install_stream_guard); for ssh, the
    // $HOME/.ssh/known_hosts libgit2 reads to choose the one host key type it asks the server for. Call in
    // the process that connects (a transfer child), with HOME pointing at a private folder.
    void prepare_process();

    // Runs `attempt`, a libgit2 connect with this session's callbacks, and returns its code. When an ssh
    // handshake fails before the server showed a host key (it has no key of the type asked for), tries
    // again asking for the next key type known_hosts records for the host, and last for any type.
    int connect(const std::function<int()>& attempt);

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
    int m_key_attempts = 0;
    int m_password_attempts = 0;
    std::string m_push_rejections;
    // known_hosts lines for the host, one per key type recorded for it, most preferred first, then an empty
    // one (libssh2 chooses); libgit2 is given the one at m_host_key_choice.
    std::vector<std::string> m_host_key_lines;
    std::size_t m_host_key_choice = 0;
    bool m_host_key_seen = false;  // the server presented a host key in the last attempt

    void write_libgit2_known_hosts() const;

    static int certificate_check(git_cert* cert, int valid, const char* host, void* payload);
    static int credentials(git_credential** out, const char* url, const char* username_from_url,
                           unsigned int allowed_types, void* payload);
    static int push_update_reference(const char* refname, const char* status, void* payload);
    int check_host_key(const git_cert_hostkey& key, const std::string& host);
    int refuse(std::string message, int code);
};

// The SHA256 fingerprint of a raw ssh public key blob, as OpenSSH prints it ("SHA256:...").
std::string ssh_fingerprint(const unsigned char* sha256);

// "ssh-ed25519", "ecdsa-sha2-nistp256", ... for a key file, read from its .pub or the private key itself;
// empty when unknown.
std::string ssh_key_type(const std::filesystem::path& private_key);

}  // namespace depsync::git
