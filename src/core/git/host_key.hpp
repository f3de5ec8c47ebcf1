#pragma once
// Why the system ssh client refused a host's key ("Host key verification failed."), told as depsync's own
// transport tells it: the host's SHA256 fingerprint and the known_hosts line to add, or that its key changed.

#include <filesystem>
#include <optional>
#include <string>

namespace depsync::git {

// Asks `host` (port 0: 22) for its keys with ssh-keyscan, bounded by `timeout_seconds`, and says why ssh
// refused it against `known_hosts`: a host the file does not list gets its fingerprint and the line to add
// (of the key type ssh prefers), a listed one that its key changed. nullopt when the host gives no key.
std::optional<std::string> explain_host_key_failure(const std::string& host, int port,
                                                    const std::filesystem::path& known_hosts,
                                                    int timeout_seconds);

// "SHA256:..." of a key's base64 text as it appears in known_hosts, as ssh-keygen -l prints it; "" when the
// text is not base64.
std::string sha256_fingerprint(const std::string& base64_key);

}  // namespace depsync::git
