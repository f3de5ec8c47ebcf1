#pragma once
// The TCP connections of an https transfer, made by depsync instead of libgit2 (registered as libgit2's
// standard socket stream, the layer under its TLS): each one goes only to the host and port the transfer was
// configured with, so a redirect elsewhere is refused before a byte, let alone a credential, is sent there;
// and the bytes received over all of them are bounded.

#include <cstdint>
#include <functional>
#include <string>

namespace depsync::git {

struct StreamGuard {
    std::string host;              // as in the URL (an IPv6 address without brackets)
    int port = 0;                  // the port connected to
    std::uint64_t max_bytes = 0;   // received bytes allowed over all connections; 0: no bound
    std::string max_bytes_reason;  // why that bound, for the message ("config 'max_fetch_bytes'")
    std::function<void(const std::string&)> refuse;  // records why a connection was refused or cut
};

// Registers the guarded stream with libgit2 for this process (the transfer child). Call before connecting.
void install_stream_guard(StreamGuard guard);

}  // namespace depsync::git
