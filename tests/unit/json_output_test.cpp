// --json output and the cluster view's reading of it: keys in the documented order, text escaped as JSON,
// bytes that are not UTF-8 replaced (never refused), and a node's answer read back field by field.

#include <catch2/catch.hpp>

#include <string>

#include "cli/cluster_view.hpp"
#include "cli/output.hpp"

using depsync::cli::Json;
using depsync::cli::json_text;
using depsync::cli::parse_json;

namespace {

std::string all_ascii() {
    std::string text;
    for (int c = 1; c < 0x80; ++c) text += static_cast<char>(c);
    return text;
}

depsync::cli::NodeView view_of_answer(const std::string& answer) {
    depsync::sync::ClusterNode node;
    node.target = "depsync@mi-peer-1";
    depsync::sync::NodeCall call;
    call.reached = true;
    call.exit_code = 0;
    call.out = answer;
    return depsync::cli::view_of(node, call);
}

}  // namespace

TEST_CASE("json output keeps keys in insertion order on one line", "[json]") {
    Json o = {{"role", "peer"}, {"release", std::uint64_t{3}}, {"drift", nullptr}, {"pinned", true}};
    o["upstream_release"] = std::uint64_t{18446744073709551615u};
    o["changes"] = Json::array({Json{{"status", "A"}, {"path", "a.xml"}}});
    CHECK(json_text(o) ==
          "{\"role\":\"peer\",\"release\":3,\"drift\":null,\"pinned\":true,"
          "\"upstream_release\":18446744073709551615,"
          "\"changes\":[{\"status\":\"A\",\"path\":\"a.xml\"}]}");
}

TEST_CASE("json output escapes quotes, backslashes and control characters, and passes other text as it is",
          "[json]") {
    CHECK(json_text(Json("q\"b\\s/")) == "\"q\\\"b\\\\s/\"");
    CHECK(json_text(Json("\n\t\r\x01\x1b\x1f")) == "\"\\n\\t\\r\\u0001\\u001b\\u001f\"");
    // DEL, a C1 control and other valid UTF-8 are JSON text as they are.
    CHECK(json_text(Json("del\x7f c1\xc2\x9b \xc3\xa9\xe6\xbc\xa2\xf0\x9f\x98\x80")) ==
          "\"del\x7f c1\xc2\x9b \xc3\xa9\xe6\xbc\xa2\xf0\x9f\x98\x80\"");
}

TEST_CASE("json text round-trips every ASCII character and valid UTF-8 byte for byte", "[json]") {
    const std::string text = all_ascii() + "\xc3\xa9\xe6\xbc\xa2\xf0\x9f\x98\x80\xc2\x9b";
    Json o = {{"path", text}, {"n", std::uint64_t{42}}, {"ok", false}};
    nlohmann::json back = parse_json(json_text(o));
    CHECK(back.at("path").get<std::string>() == text);
    CHECK(back.at("n").get<std::uint64_t>() == 42);
    CHECK(back.at("ok").get<bool>() == false);
}

TEST_CASE("json output of a name that is not UTF-8 is valid JSON with U+FFFD in its place, never an error",
          "[json]") {
    const std::string fffd = "\xef\xbf\xbd";
    // A stray byte, a cut sequence, an overlong form, a surrogate, a code point above U+10FFFF.
    for (const std::string& bad :
         {std::string("\xff"), std::string("\xc3"), std::string("\xe6\xbc"), std::string("\xc0\xaf"),
          std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80")}) {
        std::string text;
        REQUIRE_NOTHROW(text = json_text(Json{{"path", "a" + bad + "b.xml"}}));
        std::string read = parse_json(text).at("path").get<std::string>();
        CHECK(read.substr(0, 1 + fffd.size()) == "a" + fffd);
        CHECK(read.substr(read.size() - 5) == "b.xml");
        CHECK(read.find_first_not_of("ab.xml" + fffd) == std::string::npos);
    }
}

TEST_CASE("the cluster view reads a node's status answer field by field", "[json][cluster]") {
    Json status = {{"role", "peer"},
                   {"node", "mi-peer-1"},
                   {"dir", "/opt/mi/server"},
                   {"release", std::uint64_t{3}},
                   {"commit", std::string(40, 'a')},
                   {"time", "2026-11-27T12:01:17Z"},
                   {"drift", std::uint64_t{2}},
                   {"upstream_release", std::uint64_t{5}},
                   {"pinned", true},
                   {"interrupted", false},
                   {"held", true},
                   {"held_reason", "on_change failed: \x1b[2J"},
                   {"last_success", nullptr},
                   {"last_error", "cannot fetch"},
                   {"consecutive_failures", std::uint64_t{4}},
                   {"on_change_error", nullptr},
                   {"releases_behind", std::uint64_t{2}}};
    auto v = view_of_answer(json_text(status) + "\n");
    CHECK(v.error.empty());
    CHECK(v.reachable);
    CHECK(v.name == "mi-peer-1");
    CHECK(v.role == "peer");
    CHECK(v.commit == std::string(40, 'a'));
    CHECK(v.release == std::uint64_t{3});
    CHECK(v.upstream == std::uint64_t{5});
    CHECK(v.drift == std::uint64_t{2});
    CHECK(v.pinned);
    CHECK_FALSE(v.interrupted);
    CHECK(v.held);
    CHECK(v.held_reason == "on_change failed: \x1b[2J");
    CHECK(v.last_success.empty());
    CHECK(v.last_error == "cannot fetch");
    CHECK(v.consecutive_failures == 4);
}

TEST_CASE("the cluster view reads an older node's answer holding bytes that are not UTF-8",
          "[json][cluster]") {
    // Earlier versions wrote such bytes into --json as they were.
    auto v = view_of_answer("{\"node\":\"peer-\xff\",\"role\":\"peer\",\"release\":7}\n");
    CHECK(v.error.empty());
    CHECK(v.name == "peer-\xef\xbf\xbd");
    CHECK(v.release == std::uint64_t{7});
}

TEST_CASE("the cluster view refuses an answer that is not one flat status object", "[json][cluster]") {
    for (const std::string& answer :
         {std::string(""), std::string("ssh: banner\n"), std::string("{\"release\":3"),
          std::string("[{\"release\":1},{\"release\":2}]"), std::string("{\"release\":{\"number\":3}}"),
          std::string("[[1]]"), std::string("42"), std::string(100000, '[')}) {
        INFO(answer.substr(0, 40));
        auto v = view_of_answer(answer);
        CHECK(v.error.rfind("unexpected answer to status --json (", 0) == 0);
        CHECK_FALSE(v.release);
        CHECK(v.reachable);
    }
}

TEST_CASE("the cluster view reads releases from a log answer in order", "[json][cluster]") {
    Json log = Json::array();
    for (std::uint64_t n : {std::uint64_t{4}, std::uint64_t{3}})
        log.push_back(Json{{"release", n},
                           {"commit", std::string(40, 'b')},
                           {"time", "2026-11-27T12:01:18Z"},
                           {"node", "mi-primary"},
                           {"host", "mi-primary"},
                           {"message", "deploy \"Orders\" 1.0." + std::to_string(n)},
                           {"added", std::uint64_t{2}},
                           {"modified", n},
                           {"deleted", std::uint64_t{1}},
                           {"unsafe", nullptr},
                           {"restores", nullptr}});
    auto releases = depsync::cli::releases_of(json_text(log));
    REQUIRE(releases.size() == 2);
    CHECK(releases[0].number == 4);
    CHECK(releases[1].number == 3);
    CHECK(releases[0].message == "deploy \"Orders\" 1.0.4");
    CHECK(releases[1].modified == 3);
    CHECK(releases[0].deleted == 1);
    CHECK(releases[0].node == "mi-primary");
    CHECK(depsync::cli::releases_of("[]").empty());
    CHECK_THROWS_AS(depsync::cli::releases_of("[{\"release\":[4]}]"), std::runtime_error);
}

TEST_CASE("the cluster view counts only plain unsigned numbers, and a text after the answer is no answer",
          "[json][cluster]") {
    // What a node sends is read, never trusted: a number in another form counts as absent.
    for (const std::string& release :
         {std::string("-3"), std::string("3.5"), std::string("3e0"), std::string("\"3\""),
          std::string("18446744073709551616"), std::string("true"), std::string("null")}) {
        INFO(release);
        auto v = view_of_answer("{\"node\":\"n\",\"release\":" + release +
                                ",\"consecutive_failures\":" + release + "}");
        CHECK(v.error.empty());
        CHECK_FALSE(v.release);
        CHECK(v.consecutive_failures == 0);
    }
    CHECK(view_of_answer("{\"release\":18446744073709551615}").release ==
          std::uint64_t{18446744073709551615u});
    CHECK_FALSE(view_of_answer("{\"release\":1e400}").release);
    // A field of the wrong kind is empty text or false, not an error.
    auto odd = view_of_answer("{\"node\":7,\"held\":\"yes\",\"pinned\":1,\"last_error\":false}");
    CHECK(odd.error.empty());
    CHECK(odd.name.empty());
    CHECK_FALSE(odd.held);
    CHECK_FALSE(odd.pinned);
    CHECK(odd.last_error.empty());
    for (const std::string& answer :
         {std::string("{\"release\":3} junk"), std::string("{\"release\":3}{\"release\":4}"),
          std::string("{\"release\":3}\n{\"release\":4}\n")}) {
        INFO(answer);
        auto v = view_of_answer(answer);
        CHECK_FALSE(v.error.empty());
        CHECK_FALSE(v.release);
    }
}

TEST_CASE("the cluster view counts a peer on its pin as converged, a held or off-pin peer as not",
          "[json][cluster]") {
    auto peer = [](const std::string& name, std::uint64_t release, const std::string& pin) {
        Json o = {{"node", name}, {"role", "peer"}, {"release", release}};
        if (!pin.empty()) o.update(Json::parse(pin));
        return view_of_answer(json_text(o) + "\n");
    };
    using depsync::cli::compare;
    using depsync::cli::state_of;
    const std::string on_pin = R"({"pinned":true,"pinned_release":1,"on_pin":true,"pin_reason":"freeze"})";
    auto view = compare({peer("a", 3, ""), peer("b", 1, on_pin)});
    CHECK(view.newest == std::uint64_t{3});
    CHECK(view.converged);
    CHECK(view.nodes[1].behind == std::uint64_t{2});
    CHECK(state_of(view.nodes[1]) == "pinned");
    CHECK(depsync::cli::verdict_text(view, "node(s)") == "all 2 node(s) on r3 or their pin (1 pinned)");

    // Held after a failed on_change: a pinned record, but no pin the operator chose.
    view = compare({peer("a", 3, ""), peer("b", 1, R"({"pinned":true,"on_pin":true,"held":true})")});
    CHECK_FALSE(view.converged);
    CHECK(state_of(view.nodes[1]) == "held");
    // Pinned at r1 but running r2 (pull --to): not where the operator wants it.
    view = compare({peer("a", 3, ""), peer("b", 2, R"({"pinned":true,"pinned_release":1,"on_pin":false})")});
    CHECK_FALSE(view.converged);
    CHECK(state_of(view.nodes[1]) == "behind");
    CHECK(depsync::cli::verdict_text(view, "node(s)") == "1 of 2 node(s) on r3");

    // The repository's newest counts over what the nodes know.
    view = compare({peer("a", 3, ""), peer("b", 1, on_pin)}, depsync::cli::NewestKnown{4, "the primary's"});
    CHECK_FALSE(view.converged);
    CHECK(view.nodes[0].behind == std::uint64_t{1});
    CHECK(view.newest_source == "the primary's");
    CHECK(depsync::cli::verdict_text(view, "nodes") == "0 of 2 nodes on r4, 1 on their pin");
}
