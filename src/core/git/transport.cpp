#include "core/git/transport.hpp"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/git/guarded_stream.hpp"
#include "core/git/handle.hpp"
#include "core/git/ssh_transport.hpp"
#include "core/git/tls_check.hpp"

namespace depsync::git {
namespace {

std::string base64_decode(const std::string& text) {
    std::string out(text.size(), '\0');
    int n =
        EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                        reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) return {};
    // EVP_DecodeBlock counts the padding as decoded zero bytes.
    std::size_t pad = 0;
    for (auto it = text.rbegin(); it != text.rend() && *it == '=' && pad < 2; ++it) ++pad;
    out.resize(static_cast<std::size_t>(n) - std::min<std::size_t>(pad, static_cast<std::size_t>(n)));
    return out;
}

bool is_address(std::string host) {
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    unsigned char address[16];
    return ::inet_pton(AF_INET, host.c_str(), address) == 1 ||
           ::inet_pton(AF_INET6, host.c_str(), address) == 1;
}

}  // namespace

std::string ssh_key_type(const std::filesystem::path& private_key) {
    std::filesystem::path pub = private_key;
    pub += ".pub";
    if (auto text = fs::read_file(pub)) return text->substr(0, text->find(' '));
    auto text = fs::read_file(private_key);
    if (!text) return {};
    if (text->find("BEGIN RSA PRIVATE KEY") != std::string::npos) return "ssh-rsa";
    if (text->find("BEGIN EC PRIVATE KEY") != std::string::npos) return "ecdsa";
    // OpenSSH format: the public key's type name sits near the start of the base64 body.
    std::istringstream in(*text);
    std::string line, body;
    while (std::getline(in, line))
        if (!line.empty() && line[0] != '-') body += line;
    std::string raw = base64_decode(body.substr(0, 400));
    for (const char* name : {"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                             "ecdsa-sha2-nistp521", "ssh-rsa", "ssh-dss"})
        if (raw.find(name) != std::string::npos) return name;
    return {};
}

TransportSession::TransportSession(const std::string& url, TransportOptions options)
    : m_url_text(url), m_url(parse_remote_url(url)), m_options(std::move(options)) {
    if (m_url.has_password)
        throw Error(
            "remote URL contains a password: put credentials in the file named by 'credentials' instead",
            ExitCode::usage);
}

git_remote_callbacks TransportSession::callbacks() {
    git_remote_callbacks cb = GIT_REMOTE_CALLBACKS_INIT;
    cb.certificate_check = &TransportSession::certificate_check;
    cb.credentials = &TransportSession::credentials;
    cb.push_update_reference = &TransportSession::push_update_reference;
    cb.payload = this;
    return cb;
}

void TransportSession::prepare_process() {
    if (m_url.scheme == Scheme::ssh) {
        SshTransportConfig ssh;
        ssh.options = {m_options.known_hosts, m_options.ssh_key, m_options.ssh_config, m_options.timeout};
        ssh.refuse = [this](const std::string& why) { m_failure = why; };
        install_ssh_transport(std::move(ssh));
    }
    if (m_url.scheme == Scheme::https) {
        StreamGuard guard;
        guard.host = m_url.host;
        guard.port = m_url.port == 0 ? 443 : m_url.port;
        guard.max_bytes = m_options.max_receive_bytes;
        guard.max_bytes_reason = m_options.max_receive_reason;
        guard.refuse = [this](const std::string& why) { m_failure = why; };
        install_stream_guard(std::move(guard));
    }
    if (!m_options.ca_file.empty()) {
        ensure_library();
        check(git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, m_options.ca_file.c_str(), nullptr),
              "use CA file " + m_options.ca_file.string());
    }
}

int TransportSession::check_received(std::uint64_t bytes) {
    if (m_options.max_receive_bytes == 0 || bytes <= m_options.max_receive_bytes) return 0;
    return refuse("the server sent more than " + std::to_string(m_options.max_receive_bytes) + " bytes (" +
                      m_options.max_receive_reason + "); the transfer was stopped and nothing was applied",
                  GIT_EUSER);
}

void TransportSession::fail(const std::string& what) const {
    std::string detail = m_failure.empty() ? last_error_text() : m_failure;
    throw Error("cannot " + what + ": " + detail);
}

int TransportSession::push_update_reference(const char* refname, const char* status, void* payload) {
    auto* self = static_cast<TransportSession*>(payload);
    if (status) self->m_push_rejections += std::string(refname) + ": " + status + "\n";
    return 0;
}

int TransportSession::refuse(std::string message, int code) {
    m_failure = std::move(message);
    git_error_set_str(GIT_ERROR_NET, m_failure.c_str());
    return code;
}

int TransportSession::certificate_check(git_cert* cert, int valid, const char* host, void* payload) {
    auto* self = static_cast<TransportSession*>(payload);
    // ssh goes through OpenSSH, which checks host keys itself; libssh2's hosts are never accepted.
    if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2)
        return self->refuse("an ssh connection did not go through OpenSSH: refused", GIT_ECERTIFICATE);
    if (valid) return 0;
    std::string name = host ? host : "the server";
    if (cert->cert_type != GIT_CERT_X509)
        return self->refuse("the TLS certificate of " + name + " is not trusted", GIT_ECERTIFICATE);
    // mbedTLS matches DNS names only: a certificate naming an address as an IP subjectAltName is checked
    // again with OpenSSL, which also says why a certificate is wrong.
    std::string problem = certificate_problem(*reinterpret_cast<git_cert_x509*>(cert), host ? host : "",
                                              self->m_options.ca_file);
    if (problem.empty() && host && is_address(host)) return 0;
    if (problem.empty()) problem = "is not trusted (" + last_error_text() + ")";
    return self->refuse("the TLS certificate of " + name + " " + problem, GIT_ECERTIFICATE);
}

int TransportSession::credentials(git_credential** out, const char* /*url*/,
                                  const char* /*username_from_url*/, unsigned int allowed_types,
                                  void* payload) {
    auto* self = static_cast<TransportSession*>(payload);
    // Only https asks here: ssh signs in through OpenSSH, with its keys and agent. The https credentials are
    // for https servers and never go anywhere else.
    if (self->m_url.scheme != Scheme::https)
        return self->refuse(
            "the ssh server asks for a password; depsync signs in to ssh servers only with a key (ssh_key, "
            "the ssh-agent or the ssh config) and never sends it the https credentials",
            GIT_EAUTH);
    if (!(allowed_types & GIT_CREDENTIAL_USERPASS_PLAINTEXT))
        return self->refuse("the server asks for an authentication method depsync does not support",
                            GIT_EAUTH);
    if (self->m_options.https_secret.empty())
        return self->refuse(
            "the server asks for credentials: name a credentials file in the config "
            "('credentials') or set DEPSYNC_HTTPS_TOKEN",
            GIT_EAUTH);
    if (self->m_password_attempts++ > 0)
        return self->refuse("the server refused the configured credentials", GIT_EAUTH);
    std::string name = self->m_options.https_user.empty() ? "depsync" : self->m_options.https_user;
    return git_credential_userpass_plaintext_new(out, name.c_str(), self->m_options.https_secret.c_str());
}

}  // namespace depsync::git
