#pragma once
// Where a remote lives, parsed from the forms depsync accepts:
//   /abs/path, file:///abs/path        local
//   ssh://[user@]host[:port]/path      ssh
//   [user@]host:path                   ssh (scp-like)
//   https://host[:port]/path           https (no user name or password: credentials come from the
//                                      credentials file or the environment, never from the URL)
// http:// is refused: it would carry the release, and any credentials, in clear.

#include <string>

namespace depsync::git {

enum class Scheme { local, ssh, https };

struct RemoteUrl {
    Scheme scheme = Scheme::local;
    std::string user;
    std::string host;
    int port = 0;  // 0: the scheme's default
    std::string path;
    bool has_password =
        false;  // ssh: user:password@ in the URL (refused: secrets belong in a credentials file)
};

// Throws Error(usage) for a URL it cannot use.
RemoteUrl parse_remote_url(const std::string& url);

// The URL with any password replaced, and for http(s) the whole user part, for messages and logs.
std::string redact_url(const std::string& url);

}  // namespace depsync::git
