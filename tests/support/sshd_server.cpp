#include "support/sshd_server.hpp"

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/tcp_proxy.hpp"

namespace depsync::testing {
namespace {

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void append_text(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::app);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

ProcessResult checked(const std::vector<std::string>& argv) {
    ProcessResult r = run(argv);
    if (r.exit_code != 0) {
        std::string cmd;
        for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
        throw std::runtime_error("cannot run " + cmd + " (exit " + std::to_string(r.exit_code) +
                                 "): " + r.err);
    }
    return r;
}

}  // namespace

const char* ssh_keygen_type(SshKeyType type) {
    switch (type) {
        case SshKeyType::ed25519:
            return "ed25519";
        case SshKeyType::ecdsa:
            return "ecdsa";
        case SshKeyType::rsa:
            return "rsa";
    }
    return "?";
}

void generate_ssh_key(const std::filesystem::path& path, SshKeyType type) {
    std::filesystem::create_directories(path.parent_path());
    std::vector<std::string> argv = {"ssh-keygen", "-q",           "-t", ssh_keygen_type(type), "-N", "",
                                     "-C",         "depsync-test", "-f", path.string()};
    // A small RSA key keeps the test fast; its size is not what the test is about.
    if (type == SshKeyType::rsa) argv.insert(argv.end(), {"-b", "2048"});
    checked(argv);
}

std::string ssh_fingerprint_of(const std::filesystem::path& public_key) {
    // "256 SHA256:... comment (ED25519)"
    std::istringstream fields(checked({"ssh-keygen", "-lf", public_key.string()}).out);
    std::string bits, fingerprint;
    fields >> bits >> fingerprint;
    return fingerprint;
}

std::string ssh_public_key_text(const std::filesystem::path& public_key) {
    std::istringstream fields(read_text(public_key));
    std::string type, key;
    fields >> type >> key;
    if (key.empty()) throw std::runtime_error("not a public key file: " + public_key.string());
    return type + " " + key;
}

std::filesystem::path sign_ssh_certificate(const std::filesystem::path& ca,
                                           const std::filesystem::path& public_key,
                                           const std::string& principal, bool host) {
    std::vector<std::string> argv = {
        "ssh-keygen", "-q",      "-s", ca.string(), "-I", "depsync-test-" + principal,
        "-n",         principal, "-V", "-5m:+1h"};
    if (host) argv.push_back("-h");
    argv.push_back(public_key.string());
    checked(argv);
    std::string name = public_key.string();
    name.resize(name.size() - std::string(".pub").size());
    return name + "-cert.pub";
}

std::string current_user_name() {
    if (const passwd* pw = ::getpwuid(::getuid())) return pw->pw_name;
    return "root";
}

SshdServer::SshdServer(std::filesystem::path dir, SshdOptions options)
    : m_dir(std::move(dir)), m_options(std::move(options)) {
    std::filesystem::create_directories(m_dir);
    // sshd refuses to start without its privilege-separation folder.
    std::filesystem::create_directories("/run/sshd");
    for (SshKeyType type : m_options.host_keys) {
        generate_ssh_key(host_key(type), type);
        if (!m_options.host_ca.empty())
            sign_ssh_certificate(m_options.host_ca, host_key_pub(type), m_options.address, true);
    }
    append_text(m_dir / "authorized_keys", "");
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (try_start(m_options.port.value_or(0) ? *m_options.port : free_port())) return;
        if (m_options.port) break;  // a fixed port that cannot be had will not free itself
    }
    throw std::runtime_error("cannot start sshd on " + m_options.address + ":\n" + log());
}

SshdServer::~SshdServer() {
    if (m_process.running()) {
        m_process.kill(SIGTERM);
        m_process.wait();
    }
}

bool SshdServer::try_start(int port) {
    std::string config = "Port " + std::to_string(port) + "\nListenAddress " + m_options.address + "\n";
    for (SshKeyType type : m_options.host_keys) {
        config += "HostKey " + host_key(type).string() + "\n";
        if (!m_options.host_ca.empty())
            config += "HostCertificate " + host_key(type).string() + "-cert.pub\n";
    }
    if (!m_options.trusted_user_ca_keys.empty())
        config += "TrustedUserCAKeys " + m_options.trusted_user_ca_keys.string() + "\n";
    config += "AuthorizedKeysFile " +
              (m_options.authorized_keys_file.empty() ? (m_dir / "authorized_keys").string()
                                                      : m_options.authorized_keys_file) +
              "\nStrictModes " + (m_options.strict_modes ? "yes" : "no") +
              "\n"
              "UsePAM no\n"
              "PasswordAuthentication no\n"
              "KbdInteractiveAuthentication no\n"
              "PermitRootLogin prohibit-password\n"
              "PidFile none\n"
              "LogLevel VERBOSE\n"
              "MaxStartups 100\n"
              // bash sources the account's ~/.bashrc for a command sshd runs (Debian builds it so) unless
              // SHLVL says it is nested: the tests must not time the account's shell start-up (a pyenv or
              // conda init there takes seconds under load and outlasts a 3 s timeout).
              "SetEnv SHLVL=1\n";
    {
        std::ofstream out(m_dir / "sshd_config", std::ios::trunc);
        out << config;
    }
    if (m_process.running()) {
        m_process.kill(SIGKILL);
        m_process.wait();
    }
    std::ofstream(m_dir / "sshd.log", std::ios::trunc).close();
    // sshd re-executes itself and so must be started by its absolute path.
    m_process.start({"/usr/sbin/sshd", "-D", "-f", (m_dir / "sshd_config").string(), "-E",
                     (m_dir / "sshd.log").string()});
    // Connecting to the address sshd was told to listen on; a free_port() taken by someone else in between
    // shows as sshd exiting, and a fresh port is tried.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        if (log().find("Server listening on") != std::string::npos) {
            m_port = port;
            return wait_for_port(port, std::chrono::seconds(5), m_options.address);
        }
        if (log().find("fatal") != std::string::npos || log().find("Cannot bind") != std::string::npos) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    m_process.kill(SIGKILL);
    m_process.wait();
    return false;
}

std::filesystem::path SshdServer::host_key(SshKeyType type) const {
    return m_dir / (std::string("host_") + ssh_keygen_type(type));
}

std::filesystem::path SshdServer::host_key_pub(SshKeyType type) const {
    std::filesystem::path pub = host_key(type);
    pub += ".pub";
    return pub;
}

std::string SshdServer::known_hosts_name() const {
    return m_port == 22 ? m_options.address : "[" + m_options.address + "]:" + std::to_string(m_port);
}

std::string SshdServer::known_hosts_line(SshKeyType type) const {
    return known_hosts_name() + " " + ssh_public_key_text(host_key_pub(type));
}

void SshdServer::authorize(const std::filesystem::path& public_key) {
    append_text(m_dir / "authorized_keys", ssh_public_key_text(public_key) + "\n");
}

std::string SshdServer::url(const std::filesystem::path& absolute_path) const {
    return "ssh://" + current_user_name() + "@" + m_options.address + ":" + std::to_string(m_port) +
           absolute_path.string();
}

std::string SshdServer::log() const {
    return read_text(m_dir / "sshd.log");
}

}  // namespace depsync::testing
