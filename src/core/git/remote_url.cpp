#include "core/git/remote_url.hpp"

#include "core/error.hpp"

namespace depsync::git {
namespace {

// "user@host:port" -> parts; IPv6 literals in brackets are kept whole.
void split_authority(std::string authority, RemoteUrl& out, const std::string& url) {
    auto at = authority.rfind('@');
    if (at != std::string::npos) {
        out.user = authority.substr(0, at);
        auto colon = out.user.find(':');
        if (colon != std::string::npos) {
            out.has_password = true;
            out.user.resize(colon);
        }
        authority = authority.substr(at + 1);
    }
    std::string host = authority;
    std::string port;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string::npos)
            throw Error("invalid remote URL '" + redact_url(url) + "'", ExitCode::usage);
        host = authority.substr(1, close - 1);
        if (close + 1 < authority.size() && authority[close + 1] == ':') port = authority.substr(close + 2);
    } else if (auto colon = authority.rfind(':'); colon != std::string::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    out.host = host;
    if (!port.empty()) {
        try {
            out.port = std::stoi(port);
        } catch (const std::exception&) {
            throw Error("invalid port in remote URL '" + redact_url(url) + "'", ExitCode::usage);
        }
        if (out.port <= 0 || out.port > 65535)
            throw Error("invalid port in remote URL '" + redact_url(url) + "'", ExitCode::usage);
    }
    if (out.host.empty()) throw Error("remote URL '" + redact_url(url) + "' names no host", ExitCode::usage);
}

}  // namespace

RemoteUrl parse_remote_url(const std::string& url) {
    RemoteUrl out;
    if (url.empty()) throw Error("no remote configured", ExitCode::usage);
    auto scheme_end = url.find("://");
    if (scheme_end != std::string::npos) {
        std::string scheme = url.substr(0, scheme_end);
        std::string rest = url.substr(scheme_end + 3);
        if (scheme == "file") {
            out.scheme = Scheme::local;
            out.path = rest;
            return out;
        }
        if (scheme == "ssh") {
            out.scheme = Scheme::ssh;
        } else if (scheme == "https") {
            out.scheme = Scheme::https;
        } else if (scheme == "http") {
            throw Error("remote '" + redact_url(url) +
                            "' is refused: plain http carries the release, and any credentials, in clear; "
                            "use https:// or ssh://",
                        ExitCode::usage);
        } else {
            throw Error("unsupported remote '" + redact_url(url) + "' (use a path, ssh:// or https://)",
                        ExitCode::usage);
        }
        auto slash = rest.find('/');
        split_authority(rest.substr(0, slash), out, url);
        out.path = slash == std::string::npos ? "/" : rest.substr(slash);
        // A token written as the user name would be shown wherever the URL is; a user name belongs with the
        // secret it goes with.
        if (out.scheme == Scheme::https &&
            (!out.user.empty() || out.has_password || rest.substr(0, slash).find('@') != std::string::npos))
            throw Error("remote URL '" + redact_url(url) +
                            "' carries a user name or password: https URLs take neither; put 'username' "
                            "and 'token' (or 'password') in the file named by 'credentials'",
                        ExitCode::usage);
        return out;
    }
    if (url.front() == '/' || url.front() == '.') {
        out.path = url;
        return out;
    }
    // scp-like: [user@]host:path (a colon before any slash)
    auto colon = url.find(':');
    auto slash = url.find('/');
    if (colon != std::string::npos && (slash == std::string::npos || colon < slash)) {
        out.scheme = Scheme::ssh;
        std::string authority = url.substr(0, colon);
        auto at = authority.rfind('@');
        if (at != std::string::npos) out.user = authority.substr(0, at);
        out.host = at == std::string::npos ? authority : authority.substr(at + 1);
        out.path = url.substr(colon + 1);
        if (out.host.empty()) throw Error("remote URL '" + url + "' names no host", ExitCode::usage);
        return out;
    }
    out.path = url;
    return out;
}

std::string redact_url(const std::string& url) {
    auto scheme_end = url.find("://");
    if (scheme_end == std::string::npos) return url;
    auto slash = url.find('/', scheme_end + 3);
    auto at = url.rfind('@', slash == std::string::npos ? std::string::npos : slash);
    if (at == std::string::npos || at < scheme_end) return url;
    std::string scheme = url.substr(0, scheme_end);
    if (scheme != "ssh") return url.substr(0, scheme_end + 3) + "***" + url.substr(at);
    auto colon = url.find(':', scheme_end + 3);
    if (colon == std::string::npos || colon > at) return url;
    return url.substr(0, colon) + ":***" + url.substr(at);
}

}  // namespace depsync::git
