#include "support/https_server.hpp"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/tcp_proxy.hpp"

namespace depsync::testing {
namespace {

const std::filesystem::path lighttpd_bin = "/usr/sbin/lighttpd";
const std::filesystem::path openssl_module = "/usr/lib/lighttpd/mod_openssl.so";
const std::filesystem::path http_backend = "/usr/lib/git-core/git-http-backend";

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void write_text(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

void checked(const std::vector<std::string>& argv) {
    ProcessResult r = run(argv);
    if (r.exit_code != 0) {
        std::string cmd;
        for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
        throw std::runtime_error("cannot run " + cmd + " (exit " + std::to_string(r.exit_code) +
                                 "): " + r.err);
    }
}

// A lighttpd config string literal.
std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

}  // namespace

TestCa::TestCa(std::filesystem::path dir, const std::string& name)
    : m_dir(std::move(dir)), m_key(m_dir / "ca.key"), m_cert(m_dir / "ca.crt") {
    std::filesystem::create_directories(m_dir);
    checked({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", m_key.string(), "-out", m_cert.string(), "-days", "2", "-subj", "/CN=" + name});
}

std::filesystem::path TestCa::issue_server_cert(const std::string& ip, IpCertNames names) const {
    return issue_cert(ip, "IP:" + ip + (names == IpCertNames::ip_and_dns ? ",DNS:" + ip : std::string()), 2);
}

std::filesystem::path TestCa::issue_cert(const std::string& tag, const std::string& subject_alt_names,
                                         int days) const {
    std::filesystem::path key = m_dir / ("server-" + tag + ".key");
    std::filesystem::path csr = m_dir / ("server-" + tag + ".csr");
    std::filesystem::path cert = m_dir / ("server-" + tag + ".crt");
    std::filesystem::path ext = m_dir / ("server-" + tag + ".ext");
    std::filesystem::path pem = m_dir / ("server-" + tag + ".pem");
    checked({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key.string(), "-out", csr.string(), "-subj", "/CN=" + tag});
    write_text(ext,
               "subjectAltName=" + subject_alt_names +
                   "\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n");
    checked({"openssl", "x509", "-req", "-in", csr.string(), "-CA", m_cert.string(), "-CAkey", m_key.string(),
             "-CAcreateserial", "-out", cert.string(), "-days", std::to_string(days), "-extfile",
             ext.string()});
    write_text(pem, read_text(cert) + read_text(key));
    std::filesystem::permissions(pem,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return pem;
}

std::string HttpsGitServer::unavailable_reason() {
    for (const auto& [path, package] :
         {std::pair{lighttpd_bin, "lighttpd"}, std::pair{openssl_module, "lighttpd-mod-openssl"},
          std::pair{http_backend, "git"}}) {
        if (!std::filesystem::exists(path))
            return path.string() + " is missing: install the Debian package " + package +
                   " (scripts/test-services-setup)";
    }
    return {};
}

HttpsGitServer::HttpsGitServer(std::filesystem::path dir, std::filesystem::path repos_root, std::string user,
                               std::string secret, IpCertNames names)
    : m_dir(std::move(dir)), m_repos_root(std::move(repos_root)), m_ca(m_dir / "ca", "depsync test CA") {
    if (std::string why = unavailable_reason(); !why.empty()) throw std::runtime_error(why);
    m_server_pem = m_ca.issue_server_cert("127.0.0.1", names);
    // lighttpd's plain user file: one "user:password" line.
    write_text(m_dir / "users", user + ":" + secret + "\n");
    std::filesystem::permissions(m_dir / "users",
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    for (int attempt = 0; attempt < 5; ++attempt)
        if (try_start(free_port())) return;
    throw std::runtime_error("cannot start lighttpd:\n" + log());
}

HttpsGitServer::~HttpsGitServer() {
    if (m_process.running()) {
        m_process.kill(SIGTERM);
        m_process.wait();
    }
}

bool HttpsGitServer::try_start(int port) {
    std::filesystem::path error_log = m_dir / "error.log";
    write_text(error_log, "");
    std::filesystem::create_directories(m_dir / "docroot");
    std::string root = quoted(m_repos_root.string());
    std::string config =
        "server.modules = (\"mod_openssl\", \"mod_auth\", \"mod_authn_file\", \"mod_cgi\", \"mod_setenv\", "
        "\"mod_alias\")\n"
        "server.document-root = " +
        quoted((m_dir / "docroot").string()) +
        "\n"
        "server.bind = \"127.0.0.1\"\n"
        "server.port = " +
        std::to_string(port) +
        "\n"
        "server.errorlog = " +
        quoted(error_log.string()) +
        "\n"
        "ssl.engine = \"enable\"\n"
        "ssl.pemfile = " +
        quoted(m_server_pem.string()) +
        "\n"
        "ssl.openssl.ssl-conf-cmd = (\"MinProtocol\" => \"TLSv1.2\")\n"
        "alias.url = (\"/git/\" => " +
        quoted(http_backend.string() + "/") +
        ")\n"
        "$HTTP[\"url\"] =~ \"^/git/\" {\n"
        "  cgi.assign = (\"\" => \"\")\n"
        "  setenv.add-environment = (\"GIT_PROJECT_ROOT\" => " +
        root +
        ", \"GIT_HTTP_EXPORT_ALL\" => \"1\")\n"
        "  auth.backend = \"plain\"\n"
        "  auth.backend.plain.userfile = " +
        quoted((m_dir / "users").string()) +
        "\n"
        "  auth.require = (\"\" => (\"method\" => \"basic\", \"realm\" => \"depsync\", \"require\" => "
        "\"valid-user\"))\n"
        "}\n";
    write_text(m_dir / "lighttpd.conf", config);
    if (m_process.running()) {
        m_process.kill(SIGKILL);
        m_process.wait();
    }
    m_process.start({lighttpd_bin.string(), "-D", "-f", (m_dir / "lighttpd.conf").string()});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        std::string text = log();
        if (text.find("server started") != std::string::npos) {
            m_port = port;
            return wait_for_port(port, std::chrono::seconds(5));
        }
        if (text.find("can't bind") != std::string::npos ||
            text.find("Address already in use") != std::string::npos)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    m_process.kill(SIGKILL);
    ProcessResult r = m_process.wait();
    write_text(m_dir / "lighttpd.out", r.out + r.err);
    return false;
}

std::string HttpsGitServer::url(const std::string& relative) const {
    return "https://127.0.0.1:" + std::to_string(m_port) + "/git/" + relative;
}

std::string HttpsGitServer::log() const {
    return read_text(m_dir / "error.log") + read_text(m_dir / "lighttpd.out");
}

}  // namespace depsync::testing
