#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/sync/release.hpp"

using depsync::sync::format_release_message;
using depsync::sync::message_trailer;
using depsync::sync::message_trailers;
using depsync::sync::release_number_text;
using depsync::sync::ReleaseTrailers;

namespace {

using Trailers = std::vector<std::pair<std::string, std::string>>;

}  // namespace

TEST_CASE("release trailers are the lines of a message's last paragraph when each is 'Token: value'",
          "[release][trailers]") {
    CHECK(message_trailers("deploy\n\nDepsync-Release: 5\nDepsync-Node: web-1\n") ==
          Trailers{{"Depsync-Release", "5"}, {"Depsync-Node", "web-1"}});
    // Blank lines (also with spaces or a carriage return) after the paragraph do not end it.
    CHECK(message_trailers("deploy\n\nDepsync-Release: 5\n\n \r\n\t\n") ==
          Trailers{{"Depsync-Release", "5"}});
    // A value is everything after ": ", kept as it is.
    CHECK(message_trailers("s\n\nDepsync-Node: a: b  \n") == Trailers{{"Depsync-Node", "a: b  "}});
    CHECK(message_trailers("s\n\nX-1: \n") == Trailers{{"X-1", ""}});
}

TEST_CASE("release trailers: a message whose last paragraph is text, or is its only paragraph, has none",
          "[release][trailers]") {
    for (const std::string& message :
         {std::string(""), std::string("\n\n\n"), std::string("Depsync-Release: 5\n"),
          std::string("\n\nDepsync-Release: 5\n"),  // blank lines before are no subject
          std::string("s\n\nDepsync-Release: 5\nnot a trailer\n"),
          std::string("s\n\nDepsync-Release: 5\n\nclosing words\n"),
          std::string("s\n\nDepsync-Release:5\n"),          // no space after the colon
          std::string("s\n\nDepsync Release: 5\n"),         // a space in the token
          std::string("s\n\nDepsync_Release: 5\n"),         // '_' is not a token character
          std::string("s\n\n: 5\n"),                        // no token
          std::string("s\n\n Depsync-Release: 5\n"),        // indented
          std::string("s\n\nDepsync-Release\x1b[0m: 5\n"),  // an escape sequence in the token
          std::string("s\n\nDépsync-Release: 5\n")}) {      // a byte above ASCII in the token
        INFO(message);
        CHECK(message_trailers(message).empty());
    }
}

TEST_CASE("release trailers: the last of a repeated key counts, and control characters stay in the value",
          "[release][trailers]") {
    const std::string message = "s\n\nDepsync-Release: 4\nDepsync-Release: 7\nDepsync-Node: a\x1b]0;x\x07\n";
    CHECK(message_trailer(message, "Depsync-Release") == "7");
    CHECK(message_trailer(message, "Depsync-Node") == std::string("a\x1b]0;x\x07"));
    CHECK_FALSE(message_trailer(message, "Depsync-Host"));
    CHECK_FALSE(message_trailer(message, "depsync-release"));  // keys are compared exactly
    // A carriage return ends no line: it stays in the value, and such a number is no number.
    std::optional<std::string> crlf = message_trailer("s\r\n\r\nDepsync-Release: 5\r\n", "Depsync-Release");
    REQUIRE(crlf);
    CHECK(*crlf == "5\r");
    CHECK_FALSE(release_number_text(*crlf));
}

TEST_CASE("a release number is plain decimal from 1 to 10^15 - 1; anything else is no number",
          "[release][trailers]") {
    CHECK(release_number_text("1") == 1u);
    CHECK(release_number_text("42") == 42u);
    CHECK(release_number_text("999999999999999") == 999999999999999u);
    for (const std::string& text :
         {std::string(""), std::string("0"), std::string("00"), std::string("01"), std::string("+1"),
          std::string("-1"), std::string(" 1"), std::string("1 "), std::string("1\n"), std::string("1x"),
          std::string("0x10"), std::string("1e3"), std::string("1.0"), std::string("1000000000000000"),
          std::string("18446744073709551616"), std::string("99999999999999999999999999"),
          std::string("\xd9\xa1"),  // ARABIC-INDIC DIGIT ONE
          std::string("1\0", 2)}) {
        INFO(text);
        CHECK_FALSE(release_number_text(text));
    }
}

TEST_CASE("a release message reads back the trailers it was written with, whatever its text says",
          "[release][trailers]") {
    ReleaseTrailers t;
    t.number = 12;
    t.node = "web-1";
    t.host = "host.example";
    t.restores = 9;
    t.roots = "server,tenants";
    // The operator's message ends in a paragraph of trailers of its own: it cannot add to or override ours.
    const std::string text = format_release_message(
        "hotfix\n\nDepsync-Release: 999\nDepsync-Restores: 1\nDepsync-Cut: 3\n\n\n", t);
    CHECK(text ==
          "hotfix\n\nDepsync-Release: 999\nDepsync-Restores: 1\nDepsync-Cut: 3\n\n"
          "Depsync-Release: 12\nDepsync-Node: web-1\nDepsync-Host: host.example\nDepsync-Restores: 9\n"
          "Depsync-Roots: server,tenants\n");
    CHECK(message_trailers(text) == Trailers{{"Depsync-Release", "12"},
                                             {"Depsync-Node", "web-1"},
                                             {"Depsync-Host", "host.example"},
                                             {"Depsync-Restores", "9"},
                                             {"Depsync-Roots", "server,tenants"}});
    CHECK_FALSE(message_trailer(text, "Depsync-Cut"));

    // Without a message, restores or roots: a subject of its own, and only the trailers that apply.
    ReleaseTrailers plain;
    plain.number = 1;
    plain.node = "n";
    plain.host = "h";
    const std::string minimal = format_release_message("", plain);
    CHECK(minimal == "release r1\n\nDepsync-Release: 1\nDepsync-Node: n\nDepsync-Host: h\n");
    CHECK(release_number_text(*message_trailer(minimal, "Depsync-Release")) == 1u);
    CHECK_FALSE(message_trailer(minimal, "Depsync-Restores"));
    CHECK_FALSE(message_trailer(minimal, "Depsync-Roots"));
}
