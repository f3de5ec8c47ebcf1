#include "core/git/remote_url.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/error.hpp"

using depsync::Error;
using depsync::ExitCode;
using depsync::git::parse_remote_url;
using depsync::git::redact_url;
using depsync::git::Scheme;

namespace {

// The usage error parse_remote_url throws for `url`, or "" when it accepts it.
std::string refusal(const std::string& url) {
    try {
        parse_remote_url(url);
        return {};
    } catch (const Error& e) {
        CHECK(e.code() == ExitCode::usage);
        return e.what();
    }
}

}  // namespace

TEST_CASE("remote URLs: http:// is refused", "[unit][remote_url]") {
    std::string why = refusal("http://mirror.example/releases.git");
    CHECK(why.find("plain http") != std::string::npos);
    CHECK(refusal("https://mirror.example/releases.git").empty());
    CHECK(parse_remote_url("https://mirror.example:8443/r.git").port == 8443);
}

TEST_CASE("remote URLs: https takes no user name or password, and none shows in the message",
          "[unit][remote_url]") {
    const std::string token = "dstok_Secret123";
    for (const std::string& url :
         {"https://" + token + "@host.example/r.git", "https://depsync:" + token + "@host.example/r.git",
          "https://" + token + ":@host.example/r.git", std::string("https://@host.example/r.git")}) {
        std::string why = refusal(url);
        INFO(url << " -> " << why);
        CHECK(why.find("user name") != std::string::npos);
        CHECK(why.find("'username'") != std::string::npos);
        CHECK(why.find(token) == std::string::npos);
        CHECK(why.find("https://***@host.example/r.git") != std::string::npos);
    }
    CHECK(refusal("https://depsync@host.example/r.git").find("user name") != std::string::npos);
}

TEST_CASE("remote URLs: redact_url hides the user part of https URLs and the password of ssh URLs",
          "[unit][remote_url]") {
    CHECK(redact_url("https://tok@h/r.git") == "https://***@h/r.git");
    CHECK(redact_url("https://u:p@h:1/r.git") == "https://***@h:1/r.git");
    // An '@' after a '/' may end a secret that holds a '/': hidden too (such URLs are refused anyway).
    CHECK(redact_url("https://h/a@b.git") == "https://***@b.git");
    CHECK(redact_url("https://tok/en@h/r.git") == "https://***@h/r.git");
    CHECK(redact_url("ssh://git:pw/x@h/r.git") == "ssh://***@h/r.git");
    CHECK(redact_url("deploy:pw@h:r.git") == "deploy:***@h:r.git");
    CHECK(redact_url("deploy@h:r.git") == "deploy@h:r.git");
    CHECK(redact_url("ssh://git@h/r.git") == "ssh://git@h/r.git");
    CHECK(redact_url("ssh://git:pw@h/r.git") == "ssh://git:***@h/r.git");
    // ssh keeps its user name.
    auto url = parse_remote_url("ssh://deploy@h:2222/srv/r.git");
    CHECK(url.scheme == Scheme::ssh);
    CHECK(url.user == "deploy");
    CHECK(url.port == 2222);
}

TEST_CASE("remote URLs: a secret holding a '/' before the '@' is refused and never shown",
          "[unit][remote_url]") {
    // Parsed naively, the part before the '/' is a host name (sent to the resolver) and the rest a path.
    const std::string head = "dstok_Sec", tail = "ret123";
    for (const std::string& url : {"https://" + head + "/" + tail + "@host.example/r.git",
                                   "https://depsync:" + head + "/" + tail + "@host.example/r.git",
                                   "https://host.example/" + head + "/" + tail + "@x/r.git"}) {
        std::string why = refusal(url);
        INFO(url << " -> " << why);
        CHECK(why.find("user name or password") != std::string::npos);
        CHECK(why.find(head) == std::string::npos);
        CHECK(why.find(tail) == std::string::npos);
    }
    for (const std::string& url : {"ssh://deploy:" + head + "/" + tail + "@host.example/r.git",
                                   "ssh://deploy:" + head + tail + "@host.example/r.git",
                                   "deploy:" + head + tail + "@host.example:r.git",
                                   "deploy:" + head + "/" + tail + "@host.example:r.git"}) {
        std::string why = refusal(url);
        INFO(url << " -> " << why);
        CHECK(!why.empty());
        CHECK(why.find(head) == std::string::npos);
        CHECK(why.find(tail) == std::string::npos);
    }
    // A plain ssh user name stays.
    CHECK(refusal("ssh://deploy@host.example/r.git").empty());
    CHECK(refusal("deploy@host.example:r.git").empty());
}

TEST_CASE("remote URLs: hosts that are no host names, control characters and odd ports are refused",
          "[unit][remote_url]") {
    for (const std::string& url :
         {std::string("ssh://-oProxyCommand=touch%20x/r.git"), std::string("-oProxyCommand=x:r.git"),
          std::string("ssh://deploy@-oProxyCommand=x/r.git"), std::string("https://-host.example/r.git"),
          std::string("https://h%6Fst.example/r.git"), std::string("https://host.example\\evil/r.git"),
          std::string("https://host.example/r.git\r\nX-Injected: 1"), std::string("/srv/r.git\n"),
          std::string("https://host.example/r\x1b[31m.git"), std::string("https://host.example/my r.git"),
          std::string("https://host.example:+443/r.git"), std::string("https://host.example:443x/r.git"),
          std::string("ssh://host.example:22 /r.git"), std::string("https://[::1]x/r.git"),
          std::string("file://host.example/srv/r.git"), std::string("file://")}) {
        INFO(url);
        CHECK(!refusal(url).empty());
    }
    auto v6 = parse_remote_url("https://[::1]:8443/r.git");
    CHECK(v6.host == "::1");
    CHECK(v6.port == 8443);
    CHECK(parse_remote_url("file:///srv/r.git").path == "/srv/r.git");
    CHECK(parse_remote_url("/srv/my releases/r.git").path == "/srv/my releases/r.git");
}

TEST_CASE("remote URLs: a port is decimal from 1 to 65535, and each form's parts are read",
          "[unit][remote_url]") {
    for (const std::string& url :
         {std::string("ssh://h.example:0/r.git"), std::string("ssh://h.example:65536/r.git"),
          std::string("https://h.example:99999/r.git"), std::string("https://h.example:4294967739/r.git"),
          std::string("https://h.example:-1/r.git"), std::string("https://h.example:/r.git"),
          std::string("https://h.example:0x1bb/r.git"), std::string("https://[::1]:/r.git"),
          std::string("https://[::1]:65536/r.git"), std::string("https://h.example:\xd9\xa1/r.git"),
          std::string("https://"), std::string("ssh:///r.git"), std::string("https://:443/r.git"),
          std::string("ftp://h.example/r.git"), std::string("")}) {
        INFO(url);
        CHECK(!refusal(url).empty());
    }
    CHECK(parse_remote_url("ssh://h.example:1/r.git").port == 1);
    CHECK(parse_remote_url("https://h.example:65535/r.git").port == 65535);

    auto ssh = parse_remote_url("ssh://deploy@h.example:2222/srv/r.git");
    CHECK(ssh.scheme == Scheme::ssh);
    CHECK(ssh.user == "deploy");
    CHECK(ssh.host == "h.example");
    CHECK(ssh.port == 2222);
    CHECK(ssh.path == "/srv/r.git");
    CHECK_FALSE(ssh.has_password);
    auto scp = parse_remote_url("deploy@h.example:srv/r.git");
    CHECK(scp.scheme == Scheme::ssh);
    CHECK(scp.user == "deploy");
    CHECK(scp.host == "h.example");
    CHECK(scp.port == 0);
    CHECK(scp.path == "srv/r.git");
    // A bare host:path: the host may be an ssh_config alias, which brings its own user and port.
    auto alias = parse_remote_url("mi-primary:/srv/r.git");
    CHECK(alias.scheme == Scheme::ssh);
    CHECK(alias.user.empty());
    CHECK(alias.host == "mi-primary");
    CHECK(alias.port == 0);
    CHECK(alias.path == "/srv/r.git");
    CHECK(parse_remote_url("mi-primary:releases.git").path == "releases.git");
    // git's rule: a ':' after the first '/' makes a local path, not a host.
    auto colon = parse_remote_url("/srv/a:b.git");
    CHECK(colon.scheme == Scheme::local);
    CHECK(colon.path == "/srv/a:b.git");
    auto https = parse_remote_url("https://h.example/r.git");
    CHECK(https.scheme == Scheme::https);
    CHECK(https.user.empty());
    CHECK(https.port == 0);
    CHECK(https.path == "/r.git");
    auto local = parse_remote_url("/srv/r.git");
    CHECK(local.scheme == Scheme::local);
    CHECK(local.host.empty());
    CHECK(local.path == "/srv/r.git");
}
