#pragma once
// A real web server for end-to-end tests: lighttpd serving git's smart-HTTP protocol (git http-backend as
// CGI) over TLS, with a certificate from a private CA made by openssl, and HTTP basic auth. It listens on
// 127.0.0.1 on a free port, is started by the constructor and killed by the destructor.
//
// Needs the Debian packages lighttpd and lighttpd-mod-openssl (scripts/test-services-setup installs them).

#include <filesystem>
#include <string>

#include "support/process.hpp"

namespace depsync::testing {

// How a server certificate for an IP address names it. The standard way is an IP subjectAltName; libgit2
// with mbedTLS 2.28 (Debian 12) matches only DNS names, so by default the address is also given as one.
enum class IpCertNames { ip_and_dns, ip_only };

// A certificate authority made with openssl in `dir`: ca.key and ca.crt.
class TestCa {
  public:
    TestCa(std::filesystem::path dir, const std::string& name);
    const std::filesystem::path& cert() const { return m_cert; }
    // Writes KEY+CERT (one PEM file, returned) for `ip`, with subjectAltName IP:`ip` (and DNS:`ip`, see
    // IpCertNames), signed by this CA.
    std::filesystem::path issue_server_cert(const std::string& ip,
                                            IpCertNames names = IpCertNames::ip_and_dns) const;
    // The same for any subjectAltName ("IP:127.0.0.2,DNS:example.org"), valid for `days` from now (negative:
    // expired that many days ago); `tag` names the files.
    std::filesystem::path issue_cert(const std::string& tag, const std::string& subject_alt_names,
                                     int days) const;

  private:
    std::filesystem::path m_dir;
    std::filesystem::path m_key;
    std::filesystem::path m_cert;
};

class HttpsGitServer {
  public:
    // Why the server cannot run here (a missing package, with the fix), or empty when it can.
    static std::string unavailable_reason();

    // Serves every git repository below `repos_root` at https://127.0.0.1:PORT/git/<path below the root>;
    // every request needs basic auth as `user` with password `secret`. TLS 1.2 is allowed (libgit2 with
    // mbedTLS speaks no more). `dir` holds the CA, the server's key and the config and logs.
    // Throws std::runtime_error (with the error log) when lighttpd cannot be started.
    HttpsGitServer(std::filesystem::path dir, std::filesystem::path repos_root, std::string user,
                   std::string secret, IpCertNames names = IpCertNames::ip_and_dns);
    ~HttpsGitServer();
    HttpsGitServer(const HttpsGitServer&) = delete;
    HttpsGitServer& operator=(const HttpsGitServer&) = delete;

    int port() const { return m_port; }
    // The CA that signed the server's certificate.
    const TestCa& ca() const { return m_ca; }
    // https://127.0.0.1:PORT/git/<relative>
    std::string url(const std::string& relative) const;
    // lighttpd's error log so far, for failure messages.
    std::string log() const;

  private:
    std::filesystem::path m_dir;
    std::filesystem::path m_repos_root;
    TestCa m_ca;
    std::filesystem::path m_server_pem;
    int m_port = 0;
    BackgroundProcess m_process;

    bool try_start(int port);
};

}  // namespace depsync::testing
