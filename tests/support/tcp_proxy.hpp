#pragma once
// Network faults for tests: a TCP forwarder on 127.0.0.1 that can stall or drop a connection after a given
// number of bytes, or, without a target, a listener that accepts connections and never answers.
// Everything runs on one thread owned by the proxy; the destructor stops it and closes every socket.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace depsync::testing {

// A TCP port on 127.0.0.1 that was free at the time of the call (bound to port 0, then released). Another
// process may take it before the caller binds it; servers started by tests retry with a new port then.
int free_port();

// Whether something accepts TCP connections on address:port (IPv4), trying until `timeout` has passed.
bool wait_for_port(int port, std::chrono::milliseconds timeout, const std::string& address = "127.0.0.1");

// What happens to a forwarded connection once `after_bytes` bytes have gone in the watched direction.
struct ProxyFault {
    enum class Action {
        none,   // forward everything
        stall,  // stop forwarding in both directions and keep both sockets open, silent
        drop,   // close both sockets
    };
    enum class Direction { to_client, to_server };
    Action action = Action::none;
    std::uint64_t after_bytes = 0;               // exactly this many bytes are forwarded first
    Direction direction = Direction::to_client;  // which direction's bytes are counted
};

class TcpProxy {
  public:
    // Listens on 127.0.0.1 (on `listen_port`, or a free port) and forwards each connection to
    // 127.0.0.1:target_port; without a target, accepts connections and never reads from or writes to them.
    // Throws std::runtime_error when the port cannot be bound.
    explicit TcpProxy(std::optional<int> target_port, std::optional<int> listen_port = std::nullopt);
    ~TcpProxy();
    TcpProxy(const TcpProxy&) = delete;
    TcpProxy& operator=(const TcpProxy&) = delete;

    int port() const { return m_port; }
    // Applies to connections accepted from now on; connections already open keep the fault they started with.
    void set_fault(ProxyFault fault);
    // Connections accepted so far.
    std::size_t connections() const { return m_connections.load(); }
    // Bytes forwarded towards clients, over all connections.
    std::uint64_t bytes_to_clients() const { return m_bytes_to_clients.load(); }

  private:
    void run();

    std::optional<int> m_target;
    int m_port = 0;
    int m_listen_fd = -1;
    int m_wake[2] = {-1, -1};  // written by the destructor to end run()
    std::mutex m_mutex;
    ProxyFault m_fault;
    std::atomic<std::size_t> m_connections{0};
    std::atomic<std::uint64_t> m_bytes_to_clients{0};
    std::thread m_thread;
};

}  // namespace depsync::testing
