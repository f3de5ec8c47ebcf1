#pragma once
// A hostile git smart-HTTP server for end-to-end tests, on 127.0.0.1 (over TLS with a given certificate, or
// plain): it can answer with a redirect to another server, advertise endless refs, send an endless pack of
// objects nobody asked for, or ask for credentials and record whether it got them. One request per
// connection (each answer says "Connection: close"); one thread; the destructor stops it.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace depsync::testing {

class HostileHttpServer {
  public:
    enum class Mode {
        ask_credentials,     // 401 (Basic) until a request carries Authorization, then 404
        redirect,            // 302 to `redirect_to` + the request's path
        auth_then_redirect,  // 401 until a request carries Authorization, then 302 as `redirect`
        many_refs,           // advertises `ref_count` refs (0: without end)
        endless_pack,        // advertises one branch, then answers the fetch with a pack that never ends
    };
    struct Options {
        Mode mode = Mode::ask_credentials;
        std::filesystem::path pem;  // key and certificate for TLS; empty: plain http
        std::string redirect_to;    // "https://127.0.0.1:PORT"
        std::uint64_t ref_count = 0;
    };

    explicit HostileHttpServer(Options options);
    ~HostileHttpServer();
    HostileHttpServer(const HostileHttpServer&) = delete;
    HostileHttpServer& operator=(const HostileHttpServer&) = delete;

    int port() const { return m_port; }
    // scheme://127.0.0.1:PORT
    std::string base_url() const;
    std::size_t requests() const { return m_requests.load(); }
    // Whether any request carried an Authorization header, and its values.
    bool saw_authorization() const;
    std::vector<std::string> authorizations() const;
    std::uint64_t bytes_sent() const { return m_bytes_sent.load(); }

  private:
    struct Connection;
    void run();
    void serve(Connection& c);

    Options m_options;
    int m_port = 0;
    int m_listen_fd = -1;
    int m_wake[2] = {-1, -1};
    void* m_ssl_ctx = nullptr;
    std::atomic<bool> m_stop{false};
    std::atomic<int> m_client_fd{-1};
    std::atomic<std::size_t> m_requests{0};
    std::atomic<std::uint64_t> m_bytes_sent{0};
    mutable std::mutex m_mutex;
    std::vector<std::string> m_authorizations;
    std::thread m_thread;
};

}  // namespace depsync::testing
