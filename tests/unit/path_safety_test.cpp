#include "core/fs/path_safety.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <optional>
#include <string>

using depsync::fs::name_defect;
using depsync::fs::symlink_defect;

namespace {
using Links = std::map<std::string, std::string>;

// symlink_defect for a link that is itself part of `links`, as read_tree calls it.
std::optional<std::string> defect_in(const Links& links, const std::string& path) {
    return symlink_defect(path, links.at(path), links);
}
}  // namespace

TEST_CASE("ordinary deployment names are safe") {
    for (const char* name : {"carbonapps", "CompositeApp_1.0.0.car", "synapse-configs", "default", "a", "...",
                             ".gitignore", ".github", "git", "x.git", ".gitx", "git~2", "name with spaces",
                             "ünïcödé.xml", ".depsync-tmp", "depsync-tmp.1", "-rf", "~"}) {
        INFO(name);
        CHECK_FALSE(name_defect(name).has_value());
    }
}

TEST_CASE("an empty name is unsafe") {
    CHECK(name_defect("").has_value());
}

TEST_CASE("dot and dot-dot components are unsafe") {
    CHECK(name_defect(".").has_value());
    CHECK(name_defect("..").has_value());
}

TEST_CASE("the git folder name is unsafe in every spelling git rejects") {
    for (const char* name : {".git", ".GIT", ".Git", ".git.", ".git ", ".git. .", ".GIT...", "git~1", "GIT~1",
                             "Git~1.", "git~1 "}) {
        INFO("'" << name << "'");
        CHECK(name_defect(name).has_value());
    }
}

TEST_CASE("control characters in a name are unsafe") {
    for (const std::string& name : {std::string("a\nb"), std::string("a\rb"), std::string("tab\there"),
                                    std::string("\x01start"), std::string("end\x1f"), std::string("del\x7f"),
                                    std::string("nul\0inside", 10), std::string("\x1b[31m")}) {
        INFO(name.size());
        CHECK(name_defect(name).has_value());
    }
}

TEST_CASE("a slash or a backslash inside a name is unsafe") {
    CHECK(name_defect("a/b").has_value());
    CHECK(name_defect("/").has_value());
    CHECK(name_defect("a\\b").has_value());
    CHECK(name_defect("..\\..\\etc").has_value());
}

TEST_CASE("names starting with the depsync temp prefix are reserved") {
    CHECK(name_defect(".depsync-tmp.").has_value());
    CHECK(name_defect(".depsync-tmp.1234.0").has_value());
    CHECK(name_defect(".depsync-tmp.x.car").has_value());
}

// As git's is_ntfs_dotgit(): a name ends at ':' (NTFS alternate data streams), after any dots and spaces.
TEST_CASE("the git folder name followed by an NTFS stream suffix is unsafe") {
    CHECK(name_defect(".git::$INDEX_ALLOCATION").has_value());
    CHECK(name_defect("git~1:stream").has_value());
    CHECK(name_defect(".GIT. :$DATA").has_value());
    CHECK(name_defect(".git:").has_value());
    CHECK_FALSE(name_defect(".gitx:stream").has_value());
    CHECK_FALSE(name_defect("a:.git").has_value());
    CHECK_FALSE(name_defect(".git.x:y").has_value());
}

TEST_CASE("a symlink that stays inside the tree is safe") {
    Links links{{"l", "carbonapps/a.car"},
                {"carbonapps/l", "../synapse-configs"},
                {"a/b/c/l", "../../x"},
                {"a/dot", "./b/../b/c"},
                {"root", "."},
                {"a/up", ".."}};
    for (const auto& [path, target] : links) {
        INFO(path << " -> " << target);
        CHECK_FALSE(symlink_defect(path, target, links).has_value());
    }
}

TEST_CASE("a symlink pointing above the root is unsafe") {
    CHECK(symlink_defect("l", "../x", {}).has_value());
    CHECK(symlink_defect("l", "..", {}).has_value());
    CHECK(symlink_defect("a/l", "../../x", {}).has_value());
    CHECK(symlink_defect("a/b/l", "../../../etc/passwd", {}).has_value());
}

TEST_CASE("a symlink climbing out through a detour is unsafe") {
    CHECK(symlink_defect("l", "a/../../x", {}).has_value());
    CHECK(symlink_defect("d/l", "../d/../../x", {}).has_value());
    CHECK(symlink_defect("l", "a/b/../../../x", {}).has_value());
}

TEST_CASE("an absolute symlink is unsafe") {
    CHECK(symlink_defect("l", "/etc/passwd", {}).has_value());
    CHECK(symlink_defect("a/l", "/", {}).has_value());
    CHECK(symlink_defect("carbonapps", "/tmp/outside", {}).has_value());
}

TEST_CASE("an empty symlink target is unsafe") {
    CHECK(symlink_defect("l", "", {}).has_value());
}

TEST_CASE("a symlink whose target passes through another link that leaves the tree is unsafe") {
    Links links{{"a/l1", "../l2/x"}, {"l2", "../outside"}};
    CHECK(defect_in(links, "a/l1").has_value());
    CHECK(defect_in(links, "l2").has_value());
}

TEST_CASE("a symlink chained through an absolute link is unsafe") {
    Links links{{"l1", "l2/passwd"}, {"l2", "/etc"}};
    CHECK(defect_in(links, "l1").has_value());
}

TEST_CASE("a chain of links that ends inside the tree is safe") {
    Links links{{"l1", "d/l2"}, {"d/l2", "../e/l3"}, {"e/l3", "../target.xml"}};
    CHECK_FALSE(defect_in(links, "l1").has_value());
    CHECK_FALSE(defect_in(links, "d/l2").has_value());
    CHECK_FALSE(defect_in(links, "e/l3").has_value());
}

TEST_CASE("dot-dot after a link into a deep folder resolves from the link's target") {
    // up -> a/b/c, so up/../../x is a/x: inside. Lexically (ignoring the link) it would be ../x: outside.
    Links links{{"up", "a/b/c"}, {"l", "up/../../x"}};
    CHECK_FALSE(defect_in(links, "l").has_value());
    // d/e/top -> ../.. (the root), so d/e/top/../x is ../x: outside. Lexically it would be d/e/x: inside.
    Links escaping{{"d/e/top", "../.."}, {"d/e/l", "top/../x"}};
    CHECK(defect_in(escaping, "d/e/l").has_value());
}

TEST_CASE("symlink loops are unsafe") {
    SECTION("two links pointing at each other") {
        Links links{{"a", "b"}, {"b", "a"}};
        CHECK(defect_in(links, "a").has_value());
        CHECK(defect_in(links, "b").has_value());
    }
    SECTION("a link pointing at itself") {
        Links links{{"d/self", "self"}};
        CHECK(defect_in(links, "d/self").has_value());
    }
    SECTION("a link through its own folder") {
        Links links{{"d/l", "../d/l/x"}};
        CHECK(defect_in(links, "d/l").has_value());
    }
}

TEST_CASE("a name longer than any Linux file system stores is unsafe") {
    CHECK_FALSE(name_defect(std::string(255, 'n')).has_value());
    REQUIRE(name_defect(std::string(256, 'n')).has_value());
    CHECK(name_defect(std::string(256, 'n'))->find("255") != std::string::npos);
}

TEST_CASE("a symlink target holding a NUL byte is unsafe, whatever follows it") {
    // symlink() stores the bytes before the NUL: '..\0x' would be stored as '..'.
    for (const std::string& target : {std::string("..\0x", 4), std::string("a\0", 2), std::string("\0", 1),
                                      std::string("carbonapps/a.car\0../../etc", 26)}) {
        INFO(target.size());
        auto why = symlink_defect("l", target, {});
        REQUIRE(why.has_value());
        CHECK(why->find("NUL") != std::string::npos);
    }
}

TEST_CASE("chained links through NUL targets are unsafe at every link") {
    Links links{
        {"u1", std::string("..\0", 3)}, {"u2", std::string("u1/..\0", 6)}, {"passwd.xml", "u2/etc/passwd"}};
    CHECK(defect_in(links, "u1").has_value());
    CHECK(defect_in(links, "u2").has_value());
    CHECK(defect_in(links, "passwd.xml").has_value());
}

TEST_CASE("a symlink target longer than the kernel stores is unsafe") {
    CHECK_FALSE(symlink_defect("l", std::string(4095, 'a'), {}).has_value());
    auto why = symlink_defect("l", std::string(4096, 'a'), {});
    REQUIRE(why.has_value());
    CHECK(why->find("4095") != std::string::npos);
}

TEST_CASE("symlink checks stop when their step budget is spent") {
    std::string target;
    for (int i = 0; i < 100; ++i) target += "./";
    target += "x";
    std::size_t budget = 1000;
    Links links;
    for (int i = 0; i < 20; ++i) links["l" + std::to_string(i)] = target;
    std::size_t refused = 0;
    for (const auto& [path, t] : links)
        if (symlink_defect(path, t, links, &budget)) ++refused;
    // Each link takes 101 steps: the first nine fit in 1000, the rest are refused.
    CHECK(refused == 11);
    CHECK(budget == 0);
}
