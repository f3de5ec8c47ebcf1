#include "core/git/remote_url.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace depsync::git {
namespace {

[[noreturn]] void refuse(const std::string& url, const std::string& why) {
    throw Error("remote URL '" + redact_url(url) + "' " + why, ExitCode::usage);
}

bool is_control(char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

// A host as libgit2 and the system resolve it: no percent-encoding (libgit2 decodes it, so the name checked
// would not be the name connected to), no white space, and nothing an ssh command line could take for an
// option.
void check_host(const std::string& host, const std::string& url) {
    if (host.empty()) refuse(url, "names no host");
    if (host.front() == '-') refuse(url, "names a host starting with '-': refused");
    if (host.find_first_of("%\\ \t/@") != std::string::npos)
        refuse(url, "names an invalid host (percent-encoding, a backslash, white space, '/' or '@')");
}

void parse_port(const std::string& port, RemoteUrl& out, const std::string& url) {
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        refuse(url, "has an invalid port");
    out.port = std::stoi(port);
    if (out.port <= 0 || out.port > 65535) refuse(url, "has an invalid port");
}

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
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string::npos) refuse(url, "is invalid (no ']' after an IPv6 address)");
        host = authority.substr(1, close - 1);
        std::string after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') refuse(url, "is invalid (text after an IPv6 address)");
            parse_port(after.substr(1), out, url);
        }
    } else if (auto colon = authority.rfind(':'); colon != std::string::npos) {
        host = authority.substr(0, colon);
        parse_port(authority.substr(colon + 1), out, url);
    }
    out.host = host;
    check_host(out.host, url);
}

}  // namespace

RemoteUrl parse_remote_url(const std::string& url) {
    RemoteUrl out;
    if (url.empty()) throw Error("no remote configured", ExitCode::usage);
    // Control characters would reach terminals, logs and request lines.
    if (std::any_of(url.begin(), url.end(), is_control))
        throw Error("the remote URL contains a control character (a line break, tab or escape): refused",
                    ExitCode::usage);
    auto scheme_end = url.find("://");
    if (scheme_end != std::string::npos) {
        std::string scheme = url.substr(0, scheme_end);
        std::string rest = url.substr(scheme_end + 3);
        if (scheme == "file") {
            out.scheme = Scheme::local;
            out.path = rest;
            if (out.path.empty() || out.path.front() != '/')
                refuse(url, "names no absolute path (write file:///path, or the path alone)");
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
        // A token written as the user name would be shown wherever the URL is; a user name belongs with the
        // secret it goes with. Any '@' counts, also one after a '/': "https://tok/en@host/" is a token with a
        // slash, which a parser would take for a host "tok" and a path.
        if (out.scheme == Scheme::https && rest.find('@') != std::string::npos)
            refuse(url,
                   "carries a user name or password: https URLs take neither; put 'username' and 'token' (or "
                   "'password') in the file named by 'credentials'");
        if (out.scheme == Scheme::https && rest.find(' ') != std::string::npos)
            refuse(url, "contains a space (write it as %20)");
        auto slash = rest.find('/');
        if (out.scheme == Scheme::ssh &&
            rest.find('@', slash == std::string::npos ? rest.size() : slash) != std::string::npos)
            refuse(url,
                   "has an '@' after its host: write the user name before the host (ssh://user@host/path)");
        split_authority(rest.substr(0, slash), out, url);
        out.path = slash == std::string::npos ? "/" : rest.substr(slash);
        if (out.has_password)
            refuse(url, "contains a password: put credentials in the file named by 'credentials' instead");
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
        // "user:secret@host:path" would be host "user" with the secret in its path.
        if (url.find('@', colon) != std::string::npos)
            refuse(url, "has an '@' after its host: write it as user@host:path, with no password");
        std::string authority = url.substr(0, colon);
        auto at = authority.rfind('@');
        if (at != std::string::npos) out.user = authority.substr(0, at);
        out.host = at == std::string::npos ? authority : authority.substr(at + 1);
        out.path = url.substr(colon + 1);
        check_host(out.host, url);
        return out;
    }
    out.path = url;
    return out;
}

std::string redact_url(const std::string& url) {
    auto scheme_end = url.find("://");
    if (scheme_end == std::string::npos) {
        // scp-like: a ':' before the last '@' starts a password.
        auto at = url.rfind('@');
        auto colon = url.find(':');
        if (at == std::string::npos || colon == std::string::npos || colon > at) return url;
        return url.substr(0, colon) + ":***" + url.substr(at);
    }
    // The last '@' anywhere: a secret may hold a '/' ("https://tok/en@host/").
    auto at = url.rfind('@');
    if (at == std::string::npos || at < scheme_end) return url;
    std::string scheme = url.substr(0, scheme_end);
    std::string userinfo = url.substr(scheme_end + 3, at - scheme_end - 3);
    if (scheme != "ssh" || userinfo.find('/') != std::string::npos)
        return url.substr(0, scheme_end + 3) + "***" + url.substr(at);
    auto colon = userinfo.find(':');
    if (colon == std::string::npos) return url;
    return url.substr(0, scheme_end + 3 + colon) + ":***" + url.substr(at);
}

}  // namespace depsync::git
