#include "core/sync/cluster.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/error.hpp"
#include "support/temp_dir.hpp"

using depsync::Error;
using depsync::ExitCode;
using depsync::sync::ClusterNode;
using depsync::sync::parse_nodes;

namespace {

// The usage error parse_nodes throws for `text`, or "" when it reads it.
std::string refusal(const std::string& text) {
    try {
        parse_nodes(text, "nodes");
        return {};
    } catch (const Error& e) {
        CHECK(e.code() == ExitCode::usage);
        return e.what();
    }
}

}  // namespace

TEST_CASE("the nodes file: one node per line, remote or local, with comments and blank lines",
          "[cluster][nodes]") {
    std::vector<ClusterNode> nodes = parse_nodes(
        "# web tier\n"
        "\n"
        "deploy@web-1.example:2222 /etc/depsync/web.conf   # the primary\n"
        "\tweb-2.example\r\n"
        "[fd00::2]:22\n"
        "root@[::1]\n"
        "/etc/depsync/local.conf\n"
        "web#3.example\n",
        "nodes");
    REQUIRE(nodes.size() == 6);
    CHECK(nodes[0].target == "deploy@web-1.example:2222");
    CHECK_FALSE(nodes[0].local);
    CHECK(nodes[0].user == "deploy");
    CHECK(nodes[0].host == "web-1.example");
    CHECK(nodes[0].port == 2222);
    CHECK(nodes[0].config == "/etc/depsync/web.conf");
    CHECK(nodes[1].host == "web-2.example");  // a carriage return is white space
    CHECK(nodes[1].user.empty());
    CHECK(nodes[1].port == 0);
    CHECK(nodes[1].config.empty());
    CHECK(nodes[2].host == "fd00::2");
    CHECK(nodes[2].port == 22);
    CHECK(nodes[3].user == "root");
    CHECK(nodes[3].host == "::1");
    CHECK(nodes[3].port == 0);
    CHECK(nodes[4].local);
    CHECK(nodes[4].config == "/etc/depsync/local.conf");
    CHECK(nodes[4].target == "/etc/depsync/local.conf");
    // '#' starts a comment only at the start of a word.
    CHECK(nodes[5].host == "web#3.example");
}

TEST_CASE("the nodes file: ports are decimal from 1 to 65535, nothing more", "[cluster][nodes]") {
    CHECK(parse_nodes("h:1\n", "nodes")[0].port == 1);
    CHECK(parse_nodes("h:65535\n", "nodes")[0].port == 65535);
    CHECK(parse_nodes("h:00022\n", "nodes")[0].port == 22);
    for (const std::string& line :
         {std::string("h:0"), std::string("h:65536"), std::string("h:99999"), std::string("h:123456"),
          std::string("h:4294967318"), std::string("h:-1"), std::string("h:+22"), std::string("h:22x"),
          std::string("h:0x16"), std::string("h:"), std::string("h:22:23"), std::string("[::1]:"),
          std::string("[::1]22"), std::string("[::1"), std::string("h:\xd9\xa1")}) {
        INFO(line);
        CHECK(refusal(line + "\n").find("invalid node address") != std::string::npos);
    }
}

TEST_CASE("the nodes file refuses what could become an ssh option or a second command", "[cluster][nodes]") {
    for (const std::string& line :
         {std::string("-oProxyCommand=touch:22"), std::string("deploy@-oProxyCommand=x"),
          std::string("@host"), std::string("deploy@"), std::string("[]:22"),
          std::string("[-oProxyCommand=x]")}) {
        INFO(line);
        CHECK(refusal(line + "\n").find("invalid node address") != std::string::npos);
    }
    CHECK(refusal("web-1 /etc/a.conf extra\n").find("too many fields") != std::string::npos);
    CHECK(refusal("/etc/depsync/a.conf /etc/depsync/b.conf\n").find("takes no second field") !=
          std::string::npos);
}

TEST_CASE("the nodes file's errors name the file and the line, and an empty list is refused",
          "[cluster][nodes]") {
    std::string why = refusal("web-1\n\n# c\nweb-2:http\n");
    CHECK(why.find("nodes:4: invalid node address in 'web-2:http'") == 0);
    CHECK(refusal("").find("nodes lists no nodes") == 0);
    CHECK(refusal("# only comments\n   \n\t# and blanks\n").find("lists no nodes") != std::string::npos);

    depsync::testing::TempDir tmp;
    CHECK_THROWS_WITH(depsync::sync::read_nodes_file(tmp / "missing"), Catch::Contains("does not exist"));
}
