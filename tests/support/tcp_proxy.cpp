#include "support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <list>
#include <stdexcept>
#include <string>
#include <vector>

namespace depsync::testing {
namespace {

std::runtime_error os_error(const std::string& what) {
    return std::runtime_error(what + ": " + std::strerror(errno));
}

sockaddr_in loopback(int port, const std::string& address = "127.0.0.1") {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
    return addr;
}

int bound_port(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) < 0) throw os_error("getsockname");
    return ntohs(addr.sin_port);
}

void close_fd(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

// Connects to address:port; -1 when nothing listens there.
int connect_to(int port, const std::string& address = "127.0.0.1") {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr = loopback(port, address);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

void set_nonblocking(int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

constexpr std::size_t buffer_cap = 256 * 1024;

// One direction of a forwarded connection: bytes read from `from`, waiting to be written to `to`.
struct Flow {
    std::string pending;
    bool eof = false;        // `from` has nothing more to send
    bool shut = false;       // `to` was told so (shutdown SHUT_WR)
    bool watched = false;    // the fault counts this direction's bytes
    std::uint64_t read = 0;  // bytes read from `from` so far
};

struct Connection {
    int client = -1;
    int server = -1;  // -1: no target, the connection is only held open
    ProxyFault fault;
    Flow up;    // client -> server
    Flow down;  // server -> client
    bool stalled = false;
    bool dead = false;

    // Bytes `flow` may still read before the fault strikes.
    std::size_t allowance(const Flow& flow) const {
        if (!flow.watched || fault.action == ProxyFault::Action::none) return buffer_cap;
        return static_cast<std::size_t>(std::min<std::uint64_t>(fault.after_bytes - flow.read, buffer_cap));
    }
    const Flow& watched() const { return up.watched ? up : down; }
    bool fault_due() const {
        const Flow& w = watched();
        return fault.action != ProxyFault::Action::none && w.read >= fault.after_bytes && w.pending.empty();
    }
    void close_all() {
        close_fd(client);
        close_fd(server);
        dead = true;
    }
};

// Reads what `flow` may take from `fd`; returns false on a hard error.
bool pull_from(int fd, Flow& flow, std::size_t allowance) {
    if (allowance == 0 || flow.eof) return true;
    char buf[65536];
    ssize_t n = ::read(fd, buf, std::min(sizeof buf, allowance));
    if (n > 0) {
        flow.pending.append(buf, static_cast<std::size_t>(n));
        flow.read += static_cast<std::uint64_t>(n);
        return true;
    }
    if (n == 0) {
        flow.eof = true;
        return true;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

// Writes what it can of `flow`'s pending bytes to `fd`; returns the count written, or -1 on a hard error.
ssize_t push_to(int fd, Flow& flow) {
    if (flow.pending.empty()) return 0;
    ssize_t n = ::send(fd, flow.pending.data(), flow.pending.size(), MSG_NOSIGNAL);
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
    flow.pending.erase(0, static_cast<std::size_t>(n));
    return n;
}

}  // namespace

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw os_error("socket");
    sockaddr_in addr = loopback(0);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        ::close(fd);
        throw os_error("bind to a free port");
    }
    int port = bound_port(fd);
    ::close(fd);
    return port;
}

bool wait_for_port(int port, std::chrono::milliseconds timeout, const std::string& address) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int fd = connect_to(port, address);
        if (fd >= 0) {
            ::close(fd);
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

TcpProxy::TcpProxy(std::optional<int> target_port, std::optional<int> listen_port) : m_target(target_port) {
    m_listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (m_listen_fd < 0) throw os_error("socket");
    int one = 1;
    ::setsockopt(m_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr = loopback(listen_port.value_or(0));
    if (::bind(m_listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
        ::listen(m_listen_fd, 16) < 0) {
        auto error = os_error("listen on 127.0.0.1:" + std::to_string(listen_port.value_or(0)));
        close_fd(m_listen_fd);
        throw error;
    }
    m_port = bound_port(m_listen_fd);
    if (::pipe2(m_wake, O_CLOEXEC) < 0) {
        auto error = os_error("pipe");
        close_fd(m_listen_fd);
        throw error;
    }
    m_thread = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
    char stop = 'x';
    [[maybe_unused]] ssize_t n = ::write(m_wake[1], &stop, 1);
    m_thread.join();
    close_fd(m_wake[0]);
    close_fd(m_wake[1]);
    close_fd(m_listen_fd);
}

void TcpProxy::set_fault(ProxyFault fault) {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_fault = fault;
}

void TcpProxy::run() {
    std::list<Connection> connections;
    std::vector<pollfd> fds;
    std::vector<std::pair<Connection*, bool>>
        owners;  // for fds[i >= 2]: connection, and whether it is the client
    for (;;) {
        fds.assign({{m_wake[0], POLLIN, 0}, {m_listen_fd, POLLIN, 0}});
        owners.clear();
        for (Connection& c : connections) {
            if (c.dead || c.stalled || c.server < 0) continue;
            auto events = [&](const Flow& in, const Flow& out) {
                short e = 0;
                if (!in.eof && in.pending.size() < buffer_cap && c.allowance(in) > 0) e |= POLLIN;
                if (!out.pending.empty()) e |= POLLOUT;
                return e;
            };
            fds.push_back({c.client, events(c.up, c.down), 0});
            owners.emplace_back(&c, true);
            fds.push_back({c.server, events(c.down, c.up), 0});
            owners.emplace_back(&c, false);
        }
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[0].revents) break;
        if (fds[1].revents & POLLIN) {
            int client = ::accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (client >= 0) {
                ++m_connections;
                Connection c;
                c.client = client;
                {
                    std::lock_guard<std::mutex> lock(m_mutex);
                    c.fault = m_fault;
                }
                c.down.watched = c.fault.direction == ProxyFault::Direction::to_client;
                c.up.watched = !c.down.watched;
                if (m_target) {
                    c.server = connect_to(*m_target);
                    if (c.server < 0) {
                        c.close_all();
                    } else {
                        set_nonblocking(c.server);
                    }
                }
                connections.push_back(std::move(c));
            }
        }
        for (std::size_t i = 2; i < fds.size(); ++i) {
            auto [c, is_client] = owners[i - 2];
            if (c->dead || fds[i].revents == 0) continue;
            Flow& in = is_client ? c->up : c->down;
            Flow& out = is_client ? c->down : c->up;
            std::uint64_t read_before = in.read;
            bool eof_before = in.eof;
            ssize_t written = 0;
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                if (!pull_from(fds[i].fd, in, c->allowance(in))) c->close_all();
            }
            if (!c->dead && (fds[i].revents & POLLOUT)) {
                written = push_to(fds[i].fd, out);
                if (written < 0) c->close_all();
                if (written > 0 && &out == &c->down)
                    m_bytes_to_clients += static_cast<std::uint64_t>(written);
            }
            // A hung-up socket that allows no progress would be reported again at once: give up on it.
            bool progress = in.read != read_before || in.eof != eof_before || written > 0;
            if (!c->dead && (fds[i].revents & (POLLHUP | POLLERR)) && !progress) c->close_all();
        }
        for (Connection& c : connections) {
            if (c.dead || c.stalled || c.server < 0) continue;
            // Half-close: once one side has said all it will and that has been delivered, tell the other.
            for (auto [flow, to] : {std::pair{&c.up, c.server}, std::pair{&c.down, c.client}}) {
                if (flow->eof && flow->pending.empty() && !flow->shut) {
                    ::shutdown(to, SHUT_WR);
                    flow->shut = true;
                }
            }
            if (c.up.shut && c.down.shut) {
                c.close_all();
            } else if (c.fault_due()) {
                if (c.fault.action == ProxyFault::Action::drop) {
                    c.close_all();
                } else {
                    c.stalled = true;
                }
            }
        }
        connections.remove_if([](const Connection& c) { return c.dead; });
    }
    for (Connection& c : connections) c.close_all();
}

}  // namespace depsync::testing
