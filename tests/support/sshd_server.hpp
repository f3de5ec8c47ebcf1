#pragma once
// A real OpenSSH server for end-to-end tests: its own host keys, authorized_keys and config in a folder the
// test owns, listening on 127.0.0.1 (by default) on a free port, started by the constructor and killed by the
// destructor. It never reads or writes the user's ~/.ssh nor the system's sshd configuration.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace depsync::testing {

enum class SshKeyType { ed25519, ecdsa, rsa };

// The name ssh-keygen -t takes ("ed25519", "ecdsa", "rsa").
const char* ssh_keygen_type(SshKeyType type);

// Makes a key pair without a passphrase: `path` (private, mode 600) and `path`.pub. Throws
// std::runtime_error.
void generate_ssh_key(const std::filesystem::path& path, SshKeyType type);

// The SHA256 fingerprint of a public key file as `ssh-keygen -lf` prints it ("SHA256:...").
std::string ssh_fingerprint_of(const std::filesystem::path& public_key);

// "TYPE BASE64" of a public key file (its comment dropped).
std::string ssh_public_key_text(const std::filesystem::path& public_key);

struct SshdOptions {
    std::vector<SshKeyType> host_keys = {SshKeyType::ed25519, SshKeyType::ecdsa};
    std::string address = "127.0.0.1";
    std::optional<int> port;  // default: a free port
    // As sshd_config's AuthorizedKeysFile; empty: the server's own file, which authorize() writes. The
    // system's way, ".ssh/authorized_keys" in each account's home, is for tests of an account's own setup.
    std::string authorized_keys_file;
    // sshd's StrictModes (its default is yes: the home, ~/.ssh and authorized_keys must not be writable by
    // others); off for the server's own file, which lies in a test's temp folder.
    bool strict_modes = false;
    // A CA private key: each host key gets a host certificate it signs (principal: the address), which sshd
    // offers, so a client trusting the CA through an @cert-authority line needs no line for the host's key.
    std::filesystem::path host_ca;
    // As sshd_config's TrustedUserCAKeys: a file of CA public keys whose user certificates log in.
    std::filesystem::path trusted_user_ca_keys;
};

class SshdServer {
  public:
    // Creates `dir` with host keys, an empty authorized_keys and sshd_config, starts `sshd -D` and waits
    // until it accepts connections. Throws std::runtime_error (with sshd's log) when it cannot be started.
    explicit SshdServer(std::filesystem::path dir, SshdOptions options = {});
    ~SshdServer();
    SshdServer(const SshdServer&) = delete;
    SshdServer& operator=(const SshdServer&) = delete;

    int port() const { return m_port; }
    const std::string& address() const { return m_options.address; }
    // The private host key file of a type the server was started with.
    std::filesystem::path host_key(SshKeyType type) const;
    std::filesystem::path host_key_pub(SshKeyType type) const;
    // The name known_hosts uses for this server: "[127.0.0.1]:PORT", or the bare address on port 22.
    std::string known_hosts_name() const;
    // A known_hosts line for one of the server's host keys.
    std::string known_hosts_line(SshKeyType type) const;

    // Lets the holder of `public_key` log in (as any user; the tests log in as the current user).
    void authorize(const std::filesystem::path& public_key);
    // ssh://USER@ADDRESS:PORT/ABS_PATH for the current user.
    std::string url(const std::filesystem::path& absolute_path) const;
    // sshd's log so far, for failure messages.
    std::string log() const;

  private:
    std::filesystem::path m_dir;
    SshdOptions m_options;
    int m_port = 0;
    BackgroundProcess m_process;

    bool try_start(int port);
};

// Signs `public_key` with the CA private key `ca` ("ssh-keygen -s"): a host certificate for `principal` when
// `host`, else a user certificate for the login `principal`. The certificate is written beside the key as
// NAME-cert.pub, where ssh and sshd look for it. Returns its path.
std::filesystem::path sign_ssh_certificate(const std::filesystem::path& ca,
                                           const std::filesystem::path& public_key,
                                           const std::string& principal, bool host);

// The login name of the current user.
std::string current_user_name();

}  // namespace depsync::testing
