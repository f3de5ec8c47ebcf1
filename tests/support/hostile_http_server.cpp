#include "support/hostile_http_server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace depsync::testing {

struct HostileHttpServer::Connection {
    int fd = -1;
    SSL* ssl = nullptr;
    HostileHttpServer* server = nullptr;

    ssize_t read_some(char* buf, std::size_t len) {
        if (ssl) return SSL_read(ssl, buf, static_cast<int>(len));
        return ::recv(fd, buf, len, 0);
    }
    bool write_all(const std::string& data) {
        std::size_t off = 0;
        while (off < data.size()) {
            if (server->m_stop) return false;
            ssize_t n = ssl ? SSL_write(ssl, data.data() + off, static_cast<int>(data.size() - off))
                            : ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
            if (n <= 0) return false;
            off += static_cast<std::size_t>(n);
            server->m_bytes_sent += static_cast<std::uint64_t>(n);
        }
        return true;
    }
};

namespace {

std::string pkt(const std::string& payload) {
    char len[5];
    std::snprintf(len, sizeof len, "%04zx", payload.size() + 4);
    return len + payload;
}

std::string chunk(const std::string& data) {
    char len[20];
    std::snprintf(len, sizeof len, "%zx\r\n", data.size());
    return len + data + "\r\n";
}

const std::string fake_oid = "1234567890abcdef1234567890abcdef12345678";

struct Request {
    std::string line;  // "GET /path HTTP/1.1"
    std::string path;
    std::string authorization;
    bool ok = false;
};

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

template <class Conn>
Request read_request(Conn& conn) {
    Request r;
    std::string buf;
    char tmp[16384];
    while (buf.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = conn.read_some(tmp, sizeof tmp);
        if (n <= 0) return r;
        buf.append(tmp, static_cast<std::size_t>(n));
        if (buf.size() > (1u << 20)) return r;
    }
    std::size_t head_end = buf.find("\r\n\r\n") + 4;
    std::string head = buf.substr(0, head_end), body = buf.substr(head_end);
    r.line = head.substr(0, head.find("\r\n"));
    auto sp1 = r.line.find(' '), sp2 = r.line.rfind(' ');
    if (sp1 != std::string::npos && sp2 > sp1) r.path = r.line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::size_t content_length = 0;
    bool chunked = false;
    std::size_t pos = head.find("\r\n") + 2;
    while (pos < head.size()) {
        std::size_t end = head.find("\r\n", pos);
        std::string header = head.substr(pos, end - pos);
        pos = end + 2;
        auto colon = header.find(':');
        if (colon == std::string::npos) continue;
        std::string name = lower(header.substr(0, colon)), value = header.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        if (name == "authorization") r.authorization = value;
        if (name == "content-length") content_length = std::stoul(value);
        if (name == "transfer-encoding" && lower(value).find("chunked") != std::string::npos) chunked = true;
    }
    while (chunked ? body.find("0\r\n\r\n") == std::string::npos : body.size() < content_length) {
        ssize_t n = conn.read_some(tmp, sizeof tmp);
        if (n <= 0) break;
        body.append(tmp, static_cast<std::size_t>(n));
    }
    r.ok = true;
    return r;
}

// One blob of `size` pseudo-random bytes as a pack entry (zlib without compression: fast, and the bytes are
// incompressible anyway).
std::string pack_blob(std::uint64_t& state, std::size_t size) {
    std::string content(size, '\0');
    for (std::size_t i = 0; i + 8 <= size; i += 8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        std::memcpy(&content[i], &state, 8);
    }
    std::string entry;
    std::size_t s = size;
    unsigned char c = static_cast<unsigned char>((3 << 4) | (s & 0x0f));
    s >>= 4;
    while (s) {
        entry += static_cast<char>(c | 0x80);
        c = static_cast<unsigned char>(s & 0x7f);
        s >>= 7;
    }
    entry += static_cast<char>(c);
    uLongf out_len = compressBound(static_cast<uLong>(size));
    std::string out(out_len, '\0');
    compress2(reinterpret_cast<Bytef*>(out.data()), &out_len, reinterpret_cast<const Bytef*>(content.data()),
              static_cast<uLong>(size), Z_NO_COMPRESSION);
    out.resize(out_len);
    return entry + out;
}

}  // namespace

HostileHttpServer::HostileHttpServer(Options options) : m_options(std::move(options)) {
    if (!m_options.pem.empty()) {
        SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, m_options.pem.c_str()) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, m_options.pem.c_str(), SSL_FILETYPE_PEM) != 1) {
            if (ctx) SSL_CTX_free(ctx);
            throw std::runtime_error("cannot load " + m_options.pem.string());
        }
        m_ssl_ctx = ctx;
    }
    m_listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(m_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(m_listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(m_listen_fd, 16) != 0)
        throw std::runtime_error("cannot listen on 127.0.0.1");
    socklen_t len = sizeof addr;
    ::getsockname(m_listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
    m_port = ntohs(addr.sin_port);
    if (::pipe2(m_wake, O_CLOEXEC) != 0) throw std::runtime_error("cannot create pipe");
    m_thread = std::thread([this] { run(); });
}

HostileHttpServer::~HostileHttpServer() {
    m_stop = true;
    int fd = m_client_fd.load();
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
    (void)!::write(m_wake[1], "x", 1);
    if (m_thread.joinable()) m_thread.join();
    ::close(m_listen_fd);
    ::close(m_wake[0]);
    ::close(m_wake[1]);
    if (m_ssl_ctx) SSL_CTX_free(static_cast<SSL_CTX*>(m_ssl_ctx));
}

std::string HostileHttpServer::base_url() const {
    return std::string(m_options.pem.empty() ? "http" : "https") + "://127.0.0.1:" + std::to_string(m_port);
}

bool HostileHttpServer::saw_authorization() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return !m_authorizations.empty();
}

std::vector<std::string> HostileHttpServer::authorizations() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_authorizations;
}

void HostileHttpServer::run() {
    // SSL_write writes to the socket with write(2): a client killed mid-transfer (the tests do it on purpose)
    // would raise SIGPIPE and end the whole test binary. Blocked in this thread only, the signal stays
    // pending and the write fails with EPIPE; the processes the tests start keep the default disposition.
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
    while (!m_stop) {
        pollfd fds[2] = {{m_listen_fd, POLLIN, 0}, {m_wake[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) <= 0 || (fds[1].revents & POLLIN)) continue;
        int fd = ::accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        m_client_fd = fd;
        Connection c;
        c.fd = fd;
        c.server = this;
        bool ready = true;
        if (m_ssl_ctx) {
            c.ssl = SSL_new(static_cast<SSL_CTX*>(m_ssl_ctx));
            SSL_set_fd(c.ssl, fd);
            ready = SSL_accept(c.ssl) == 1;
        }
        if (ready && !m_stop) serve(c);
        if (c.ssl) {
            SSL_shutdown(c.ssl);
            SSL_free(c.ssl);
        }
        ERR_clear_error();
        m_client_fd = -1;
        ::close(fd);
    }
}

void HostileHttpServer::serve(Connection& c) {
    Request r = read_request(c);
    if (!r.ok) return;
    ++m_requests;
    if (!r.authorization.empty()) {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_authorizations.push_back(r.authorization);
    }
    const std::string close = "Connection: close\r\n";
    const Mode mode = m_options.mode;
    if ((mode == Mode::ask_credentials || mode == Mode::auth_then_redirect) && r.authorization.empty()) {
        c.write_all(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: "
            "0\r\n" +
            close + "\r\n");
        return;
    }
    if (mode == Mode::ask_credentials) {
        c.write_all("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n" + close + "\r\n");
        return;
    }
    if (mode == Mode::redirect || mode == Mode::auth_then_redirect) {
        c.write_all("HTTP/1.1 302 Found\r\nLocation: " + m_options.redirect_to + r.path +
                    "\r\nContent-Length: 0\r\n" + close + "\r\n");
        return;
    }
    const bool advertisement = r.line.rfind("GET ", 0) == 0;
    // A push asks for git-receive-pack: the same answers, under that service's name.
    const std::string service =
        r.path.find("git-receive-pack") != std::string::npos ? "git-receive-pack" : "git-upload-pack";
    std::string type = "application/x-" + service + (advertisement ? "-advertisement" : "-result");
    if (!c.write_all("HTTP/1.1 200 OK\r\nContent-Type: " + type + "\r\nTransfer-Encoding: chunked\r\n" +
                     close + "Cache-Control: no-cache\r\n\r\n"))
        return;
    if (advertisement) {
        std::string head = pkt("# service=" + service + "\n") + "0000" +
                           pkt(fake_oid + " refs/heads/main" + std::string(1, '\0') + "agent=hostile\n");
        if (!c.write_all(chunk(head))) return;
        if (mode == Mode::many_refs) {
            std::uint64_t sent = 0;
            std::string batch;
            char name[64];
            while (m_options.ref_count == 0 || sent < m_options.ref_count) {
                std::snprintf(name, sizeof name, " refs/tags/t%012llu\n",
                              static_cast<unsigned long long>(sent));
                batch += pkt(fake_oid + name);
                ++sent;
                if (batch.size() > (256u << 10)) {
                    if (!c.write_all(chunk(batch))) return;
                    batch.clear();
                }
            }
            if (!batch.empty() && !c.write_all(chunk(batch))) return;
        }
        c.write_all(chunk("0000") + "0\r\n\r\n");
        return;
    }
    // The fetch: NAK, then a pack of a million objects (64 GB: without end for a test), none asked for.
    std::string start = pkt("NAK\n") + "PACK";
    for (std::uint32_t v : {2u, 1000000u})
        for (int shift = 24; shift >= 0; shift -= 8) start += static_cast<char>((v >> shift) & 0xff);
    if (!c.write_all(chunk(start))) return;
    std::uint64_t state = 0x9e3779b97f4a7c15ull;
    while (!m_stop)
        if (!c.write_all(chunk(pack_blob(state, 64 * 1024)))) return;
}

}  // namespace depsync::testing
