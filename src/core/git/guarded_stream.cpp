#include "core/git/guarded_stream.hpp"

#include <git2.h>
#include <git2/sys/stream.h>
#include <netdb.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error.hpp"
#include "core/git/handle.hpp"

namespace depsync::git {
namespace {

StreamGuard guard;
std::uint64_t received = 0;

// Laid out as libgit2's own socket stream, whose descriptor its ssh transport reads.
struct GuardedStream {
    git_stream parent;
    char* host;
    char* port;
    int fd;
};

int fail(const std::string& message) {
    if (guard.refuse) guard.refuse(message);
    git_error_set_str(GIT_ERROR_NET, message.c_str());
    return -1;
}

std::string unbracketed(std::string host) {
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    return host;
}

std::string host_port(const std::string& host, const std::string& port) {
    return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port;
}

int stream_connect(git_stream* s) {
    auto* st = reinterpret_cast<GuardedStream*>(s);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    int rc = ::getaddrinfo(st->host, st->port, &hints, &found);
    if (rc != 0) return fail("cannot resolve " + std::string(st->host) + ": " + ::gai_strerror(rc));
    int err = 0;
    for (addrinfo* a = found; a; a = a->ai_next) {
        int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            st->fd = fd;
            break;
        }
        err = errno;
        ::close(fd);
    }
    ::freeaddrinfo(found);
    if (st->fd < 0)
        return fail("cannot connect to " + host_port(st->host, st->port) + ": " + std::strerror(err));
    return 0;
}

ssize_t stream_read(git_stream* s, void* data, size_t len) {
    auto* st = reinterpret_cast<GuardedStream*>(s);
    ssize_t n;
    do {
        n = ::recv(st->fd, data, len, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return fail(std::string("cannot read from the server: ") + std::strerror(errno));
    received += static_cast<std::uint64_t>(n);
    if (guard.max_bytes > 0 && received > guard.max_bytes)
        return fail("the server sent more than " + std::to_string(guard.max_bytes) + " bytes (" +
                    guard.max_bytes_reason + "); the transfer was stopped and nothing was applied");
    return n;
}

ssize_t stream_write(git_stream* s, const char* data, size_t len, int /*flags*/) {
    auto* st = reinterpret_cast<GuardedStream*>(s);
    ssize_t n;
    do {
        n = ::send(st->fd, data, len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return fail(std::string("cannot write to the server: ") + std::strerror(errno));
    return n;
}

int stream_close(git_stream* s) {
    auto* st = reinterpret_cast<GuardedStream*>(s);
    if (st->fd >= 0) ::close(st->fd);
    st->fd = -1;
    return 0;
}

void stream_free(git_stream* s) {
    auto* st = reinterpret_cast<GuardedStream*>(s);
    stream_close(s);
    std::free(st->host);
    std::free(st->port);
    delete st;
}

int stream_init(git_stream** out, const char* host, const char* port) {
    std::string want_port = std::to_string(guard.port);
    if (::strcasecmp(unbracketed(host).c_str(), unbracketed(guard.host).c_str()) != 0 ||
        std::strtol(port, nullptr, 10) != guard.port)
        return fail("the server sent the transfer on to " + host_port(unbracketed(host), port) +
                    " (a redirect), not the configured " + host_port(unbracketed(guard.host), want_port) +
                    "; depsync connects, and sends credentials, only to the configured host and port: "
                    "refused");
    auto* st = new GuardedStream{};
    st->parent.version = GIT_STREAM_VERSION;
    st->parent.connect = stream_connect;
    st->parent.read = stream_read;
    st->parent.write = stream_write;
    st->parent.close = stream_close;
    st->parent.free = stream_free;
    st->host = ::strdup(host);
    st->port = ::strdup(port);
    st->fd = -1;
    *out = &st->parent;
    return 0;
}

}  // namespace

void install_stream_guard(StreamGuard g) {
    guard = std::move(g);
    received = 0;
    ensure_library();
    git_stream_registration registration{};
    registration.version = GIT_STREAM_VERSION;
    registration.init = stream_init;
    check(git_stream_register(GIT_STREAM_STANDARD, &registration), "register the network stream");
}

}  // namespace depsync::git
