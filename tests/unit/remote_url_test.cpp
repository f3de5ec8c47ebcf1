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
    CHECK(redact_url("https://h/a@b.git") == "https://h/a@b.git");
    CHECK(redact_url("ssh://git@h/r.git") == "ssh://git@h/r.git");
    CHECK(redact_url("ssh://git:pw@h/r.git") == "ssh://git:***@h/r.git");
    // ssh keeps its user name.
    auto url = parse_remote_url("ssh://deploy@h:2222/srv/r.git");
    CHECK(url.scheme == Scheme::ssh);
    CHECK(url.user == "deploy");
    CHECK(url.port == 2222);
}
