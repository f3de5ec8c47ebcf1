#include "core/git/transport.hpp"

#include <arpa/inet.h>
#include <libssh2.h>
#include <openssl/evp.h>
#include <pwd.h>
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
#include "core/git/tls_check.hpp"

namespace depsync::git {
namespace {

std::string base64(const unsigned char* data, std::size_t len) {
    std::string out(4 * ((len + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

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

struct KeyType {
    const char* name;
    int knownhost_bits;
};

KeyType key_type(git_cert_ssh_raw_type_t raw) {
    switch (raw) {
        case GIT_CERT_SSH_RAW_TYPE_RSA:
            return {"ssh-rsa", LIBSSH2_KNOWNHOST_KEY_SSHRSA};
        case GIT_CERT_SSH_RAW_TYPE_DSS:
            return {"ssh-dss", LIBSSH2_KNOWNHOST_KEY_SSHDSS};
        case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_256:
            return {"ecdsa-sha2-nistp256", LIBSSH2_KNOWNHOST_KEY_ECDSA_256};
        case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_384:
            return {"ecdsa-sha2-nistp384", LIBSSH2_KNOWNHOST_KEY_ECDSA_384};
        case GIT_CERT_SSH_RAW_TYPE_KEY_ECDSA_521:
            return {"ecdsa-sha2-nistp521", LIBSSH2_KNOWNHOST_KEY_ECDSA_521};
        case GIT_CERT_SSH_RAW_TYPE_KEY_ED25519:
            return {"ssh-ed25519", LIBSSH2_KNOWNHOST_KEY_ED25519};
        default:
            return {"unknown", LIBSSH2_KNOWNHOST_KEY_UNKNOWN};
    }
}

struct SessionDeleter {
    void operator()(LIBSSH2_SESSION* s) const { libssh2_session_free(s); }
};
struct KnownHostsDeleter {
    void operator()(LIBSSH2_KNOWNHOSTS* h) const { libssh2_knownhost_free(h); }
};

// Keys of `file`'s "@revoked" lines (OpenSSH: such a key is refused for every host). libssh2 1.10 does not
// know the marker.
std::vector<std::string> revoked_keys(const std::filesystem::path& file) {
    std::vector<std::string> out;
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string marker, hosts, type, key;
        if (fields >> marker >> hosts >> type >> key && marker == "@revoked")
            out.push_back(base64_decode(key));
    }
    return out;
}

// Feeds `file` to libssh2 line by line: one line it cannot parse (a key type it does not know) must not break
// the rest; marker lines (@revoked, @cert-authority) are not host entries.
void read_known_hosts(LIBSSH2_KNOWNHOSTS* hosts, const std::filesystem::path& file) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        std::size_t first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#' || line[first] == '@') continue;
        libssh2_knownhost_readline(hosts, line.c_str(), line.size(), LIBSSH2_KNOWNHOST_FILE_OPENSSH);
    }
}

// One known_hosts line per key type `file` records for host:port, most preferred type first. RSA comes late:
// libgit2 asks for it as ssh-rsa (SHA-1 signatures), which OpenSSH 8.8 and later no longer offer. Lines
// libssh2 cannot parse and key types it does not know are left out.
std::vector<std::string> host_key_lines(const std::filesystem::path& file, const std::string& host,
                                        int port) {
    std::unique_ptr<LIBSSH2_SESSION, SessionDeleter> session(libssh2_session_init());
    std::unique_ptr<LIBSSH2_KNOWNHOSTS, KnownHostsDeleter> hosts(
        session ? libssh2_knownhost_init(session.get()) : nullptr);
    if (!hosts) return {};
    read_known_hosts(hosts.get(), file);
    std::vector<std::string> out;
    for (int type :
         {LIBSSH2_KNOWNHOST_KEY_ED25519, LIBSSH2_KNOWNHOST_KEY_ECDSA_256, LIBSSH2_KNOWNHOST_KEY_ECDSA_384,
          LIBSSH2_KNOWNHOST_KEY_ECDSA_521, LIBSSH2_KNOWNHOST_KEY_SSHRSA, LIBSSH2_KNOWNHOST_KEY_SSHDSS}) {
        // As libgit2 does: a key that cannot match finds the host's entry of this type, if any.
        const char nonsense = '\0';
        libssh2_knownhost* entry = nullptr;
        if (libssh2_knownhost_checkp(hosts.get(), host.c_str(), port, &nonsense, 1,
                                     LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | type,
                                     &entry) != LIBSSH2_KNOWNHOST_CHECK_MISMATCH ||
            !entry)
            continue;
        std::vector<char> buf(16384);
        std::size_t len = 0;
        if (libssh2_knownhost_writeline(hosts.get(), entry, buf.data(), buf.size(), &len,
                                        LIBSSH2_KNOWNHOST_FILE_OPENSSH) == 0)
            out.emplace_back(buf.data(), len);
    }
    return out;
}

bool is_address(std::string host) {
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    unsigned char address[16];
    return ::inet_pton(AF_INET, host.c_str(), address) == 1 ||
           ::inet_pton(AF_INET6, host.c_str(), address) == 1;
}

std::string current_user() {
    if (const passwd* pw = ::getpwuid(::getuid())) return pw->pw_name;
    return "root";
}

}  // namespace

std::string ssh_fingerprint(const unsigned char* sha256) {
    std::string b64 = base64(sha256, 32);
    while (!b64.empty() && b64.back() == '=') b64.pop_back();
    return "SHA256:" + b64;
}

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
    // libgit2 reads $HOME/.ssh/known_hosts itself, asks the server only for the key type of the first entry
    // it finds for the host, and fails outright on a line it cannot parse. HOME points at a private folder
    // here, so it gets one entry of the type depsync prefers most; connect() moves on to the next type when
    // the server has no key of it, and last to no entry at all (libssh2's own choice), so that an unknown key
    // is reported with its fingerprint. The real verification happens in certificate_check, against the
    // configured file.
    if (m_url.scheme == Scheme::ssh) {
        m_host_key_lines =
            host_key_lines(m_options.known_hosts, m_url.host, m_url.port == 0 ? 22 : m_url.port);
        m_host_key_lines.emplace_back();
        m_host_key_choice = 0;
        write_libgit2_known_hosts();
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

void TransportSession::write_libgit2_known_hosts() const {
    const char* home = std::getenv("HOME");
    if (!home) return;
    std::filesystem::path dir = std::filesystem::path(home) / ".ssh";
    fs::create_directories(dir, 0700);
    fs::write_file_atomically(dir / "known_hosts", m_host_key_lines.at(m_host_key_choice), 0600,
                              fs::Fsync::no);
}

int TransportSession::connect(const std::function<int()>& attempt) {
    for (;;) {
        m_host_key_seen = false;
        int rc = attempt();
        if (rc >= 0 || m_host_key_seen || !m_failure.empty()) return rc;
        const git_error* e = git_error_last();
        if (!e || e->klass != GIT_ERROR_SSH || m_host_key_choice + 1 >= m_host_key_lines.size()) return rc;
        ++m_host_key_choice;
        write_libgit2_known_hosts();
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
    if (cert->cert_type == GIT_CERT_HOSTKEY_LIBSSH2)
        return self->check_host_key(*reinterpret_cast<git_cert_hostkey*>(cert), host ? host : "");
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

int TransportSession::check_host_key(const git_cert_hostkey& key, const std::string& host) {
    m_host_key_seen = true;
    if (!(key.type & GIT_CERT_SSH_RAW) || !(key.type & GIT_CERT_SSH_SHA256))
        return refuse("cannot verify the ssh host key of " + host + ": the key was not provided",
                      GIT_ECERTIFICATE);
    KeyType type = key_type(key.raw_type);
    std::string fingerprint = ssh_fingerprint(key.hash_sha256);
    int port = m_url.port == 0 ? 22 : m_url.port;
    std::string known_name = port == 22 ? host : "[" + host + "]:" + std::to_string(port);
    std::string file = m_options.known_hosts.string();
    std::string add_line = known_name + " " + type.name + " " +
                           base64(reinterpret_cast<const unsigned char*>(key.hostkey), key.hostkey_len);

    std::unique_ptr<LIBSSH2_SESSION, SessionDeleter> session(libssh2_session_init());
    std::unique_ptr<LIBSSH2_KNOWNHOSTS, KnownHostsDeleter> hosts(
        session ? libssh2_knownhost_init(session.get()) : nullptr);
    if (!hosts)
        return refuse("cannot verify the ssh host key of " + host + ": out of memory", GIT_ECERTIFICATE);
    std::ifstream in(file);
    if (!in)
        return refuse("cannot verify the ssh host key of " + known_name + ": known_hosts file " + file +
                          " cannot be read. Its " + type.name + " key fingerprint is " + fingerprint +
                          "; if that is right, add this line to " + file + ": " + add_line,
                      GIT_ECERTIFICATE);
    in.close();
    std::string presented(key.hostkey, key.hostkey_len);
    for (const std::string& revoked : revoked_keys(file))
        if (revoked == presented)
            return refuse("the ssh host key of " + known_name + " (" + type.name + " " + fingerprint +
                              ") is marked @revoked in " + file + ": refused. Nothing was fetched.",
                          GIT_ECERTIFICATE);
    read_known_hosts(hosts.get(), file);
    libssh2_knownhost* found = nullptr;
    int rc = libssh2_knownhost_checkp(
        hosts.get(), host.c_str(), port, key.hostkey, key.hostkey_len,
        LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | type.knownhost_bits, &found);
    switch (rc) {
        case LIBSSH2_KNOWNHOST_CHECK_MATCH:
            return 0;
        case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
            return refuse(
                "HOST KEY CHANGED for " + known_name + "! The server presented the " + type.name + " key " +
                    fingerprint + ", which is not the one recorded in " + file +
                    ". Someone may be intercepting the connection. Nothing was fetched. If the key was "
                    "rotated on purpose, replace the entry for " +
                    known_name + " in " + file + ".",
                GIT_ECERTIFICATE);
        case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
            return refuse("unknown ssh host " + known_name + ": its " + std::string(type.name) +
                              " key fingerprint is " + fingerprint + ". If that is right, add this line to " +
                              file + ": " + add_line,
                          GIT_ECERTIFICATE);
        default:
            return refuse("cannot verify the ssh host key of " + known_name + " against " + file,
                          GIT_ECERTIFICATE);
    }
}

int TransportSession::credentials(git_credential** out, const char* /*url*/, const char* username_from_url,
                                  unsigned int allowed_types, void* payload) {
    auto* self = static_cast<TransportSession*>(payload);
    std::string user = (username_from_url && *username_from_url) ? username_from_url : current_user();
    if (allowed_types & GIT_CREDENTIAL_SSH_KEY) {
        if (self->m_key_attempts++ > 0) {
            std::string key = self->m_options.ssh_key.string();
            if (!key.empty() && ssh_key_type(self->m_options.ssh_key) == "ssh-rsa")
                return self->refuse(
                    "the server refused the RSA key " + key +
                        ": this libssh2 signs RSA keys with SHA-1, which OpenSSH 8.8 and later "
                        "refuse. Use an ed25519 or ecdsa key (ssh-keygen -t ed25519) and set "
                        "ssh_key to it.",
                    GIT_EAUTH);
            return self->refuse("the server refused " +
                                    (key.empty() ? "the ssh-agent's keys" : "the key " + key) + " for user " +
                                    user + " (is its public key in the server's authorized_keys?)",
                                GIT_EAUTH);
        }
        if (!self->m_options.ssh_key.empty()) {
            std::filesystem::path pub = self->m_options.ssh_key;
            pub += ".pub";
            bool has_pub = ::access(pub.c_str(), R_OK) == 0;
            return git_credential_ssh_key_new(out, user.c_str(), has_pub ? pub.c_str() : nullptr,
                                              self->m_options.ssh_key.c_str(), nullptr);
        }
        if (!std::getenv("SSH_AUTH_SOCK"))
            return self->refuse("no ssh_key configured and no ssh-agent running (SSH_AUTH_SOCK is not set)",
                                GIT_EAUTH);
        return git_credential_ssh_key_from_agent(out, user.c_str());
    }
    if (allowed_types & GIT_CREDENTIAL_USERNAME) return git_credential_username_new(out, user.c_str());
    if (allowed_types & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
        // The https credentials are for https servers: an ssh server that asks for a password (a mirror, or
        // a host taken over) is not given them.
        if (self->m_url.scheme != Scheme::https)
            return self->refuse(
                "the ssh server asks for a password; depsync signs in to ssh servers only "
                "with a key (ssh_key or the ssh-agent) and never sends it the https "
                "credentials",
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
    return self->refuse("the server asks for an authentication method depsync does not support", GIT_EAUTH);
}

}  // namespace depsync::git
