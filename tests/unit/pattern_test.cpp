#include "core/fs/pattern.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using depsync::fs::matches_path_or_parent;
using depsync::fs::PathMatcher;

namespace {
constexpr bool file = false;
constexpr bool dir = true;
}  // namespace

TEST_CASE("a pattern without a slash matches the name at any depth") {
    PathMatcher m({"*.bk"});
    CHECK(m.matches("a.bk", file));
    CHECK(m.matches("carbonapps/a.bk", file));
    CHECK(m.matches("x/y/z/a.bk", file));
    CHECK(m.matches("x/old.bk", dir));
    CHECK_FALSE(m.matches("a.bk.xml", file));
    CHECK_FALSE(m.matches("a.bk/inner.xml", file));
    CHECK_FALSE(m.matches("abk", file));
}

TEST_CASE("a plain name without wildcards matches that name in every folder") {
    PathMatcher m({"tmp"});
    CHECK(m.matches("tmp", dir));
    CHECK(m.matches("a/tmp", file));
    CHECK(m.matches("a/b/tmp", dir));
    CHECK_FALSE(m.matches("tmpx", file));
    CHECK_FALSE(m.matches("xtmp", file));
}

TEST_CASE("a leading slash anchors the pattern at the root") {
    PathMatcher m({"/tmp"});
    CHECK(m.matches("tmp", dir));
    CHECK(m.matches("tmp", file));
    CHECK_FALSE(m.matches("a/tmp", dir));
    CHECK_FALSE(m.matches("a/b/tmp", file));
}

TEST_CASE("a slash inside the pattern anchors it at the root") {
    PathMatcher m({"imports/*.x"});
    CHECK(m.matches("imports/a.x", file));
    CHECK_FALSE(m.matches("deep/imports/a.x", file));
    CHECK_FALSE(m.matches("imports/sub/a.x", file));
    CHECK_FALSE(m.matches("a.x", file));
}

TEST_CASE("a trailing slash matches folders only") {
    PathMatcher m({"cache/"});
    CHECK(m.matches("cache", dir));
    CHECK(m.matches("work/cache", dir));
    CHECK_FALSE(m.matches("cache", file));
    CHECK_FALSE(m.matches("work/cache", file));
}

TEST_CASE("an anchored pattern with a trailing slash matches only that folder at the root") {
    PathMatcher m({"/work/tmp/"});
    CHECK(m.matches("work/tmp", dir));
    CHECK_FALSE(m.matches("work/tmp", file));
    CHECK_FALSE(m.matches("x/work/tmp", dir));
}

TEST_CASE("a leading double star matches the name in any folder including the root") {
    PathMatcher m({"**/logs"});
    CHECK(m.matches("logs", dir));
    CHECK(m.matches("a/logs", dir));
    CHECK(m.matches("a/b/c/logs", file));
    CHECK_FALSE(m.matches("logs2", dir));
    CHECK_FALSE(m.matches("logs/x", file));
}

TEST_CASE("a trailing double star matches everything inside the folder") {
    PathMatcher m({"tmp/**"});
    CHECK(m.matches("tmp/x", file));
    CHECK(m.matches("tmp/a/b/c.xml", file));
    CHECK(m.matches("tmp/a", dir));
    CHECK_FALSE(m.matches("other/tmp/x", file));
    CHECK_FALSE(m.matches("tmpx/y", file));
}

TEST_CASE("a double star between slashes matches zero or more folders") {
    PathMatcher m({"a/**/b.xml"});
    CHECK(m.matches("a/b.xml", file));
    CHECK(m.matches("a/x/b.xml", file));
    CHECK(m.matches("a/x/y/z/b.xml", file));
    CHECK_FALSE(m.matches("b.xml", file));
    CHECK_FALSE(m.matches("c/a/x/b.xml", file));
    CHECK_FALSE(m.matches("a/x/b.xml.bak", file));
}

TEST_CASE("a negation re-includes a path and the last matching pattern wins") {
    PathMatcher m({"*.bk", "!keep.bk"});
    CHECK(m.matches("old.bk", file));
    CHECK(m.matches("d/old.bk", file));
    CHECK_FALSE(m.matches("keep.bk", file));
    CHECK_FALSE(m.matches("d/keep.bk", file));

    SECTION("a pattern after the negation excludes again") {
        m.add("/keep.bk");
        CHECK(m.matches("keep.bk", file));
        CHECK_FALSE(m.matches("d/keep.bk", file));
    }
}

TEST_CASE("a negation before the pattern it would undo has no effect") {
    PathMatcher m({"!keep.bk", "*.bk"});
    CHECK(m.matches("keep.bk", file));
    CHECK(m.matches("old.bk", file));
}

TEST_CASE("a negation alone matches nothing") {
    PathMatcher m({"!keep.bk"});
    CHECK_FALSE(m.empty());
    CHECK_FALSE(m.matches("keep.bk", file));
    CHECK_FALSE(m.matches("other", file));
}

TEST_CASE("comments and blank lines are ignored") {
    PathMatcher m({"# a comment", "", "   ", "#*.xml"});
    CHECK(m.empty());
    CHECK_FALSE(m.matches("# a comment", file));
    CHECK_FALSE(m.matches("a.xml", file));
    CHECK_FALSE(m.matches("#a.xml", file));

    m.add("*.xml");
    CHECK_FALSE(m.empty());
    CHECK(m.matches("a.xml", file));
}

TEST_CASE("trailing spaces of a pattern are ignored") {
    PathMatcher m({"*.log   "});
    CHECK(m.matches("server.log", file));
}

TEST_CASE("a star never matches a slash") {
    SECTION("in an anchored pattern") {
        PathMatcher m({"/a*b"});
        CHECK(m.matches("axyzb", file));
        CHECK(m.matches("ab", file));
        CHECK_FALSE(m.matches("a/b", file));
        CHECK_FALSE(m.matches("ax/yb", file));
    }
    SECTION("in a pattern with an inner slash") {
        PathMatcher m({"conf/*"});
        CHECK(m.matches("conf/a.xml", file));
        CHECK_FALSE(m.matches("conf/sub/a.xml", file));
    }
    SECTION("in an unanchored pattern") {
        PathMatcher m({"a*b"});
        CHECK(m.matches("x/a-b", file));
        CHECK_FALSE(m.matches("a/b", file));
    }
    SECTION("a question mark does not match a slash either") {
        PathMatcher m({"/a?b"});
        CHECK(m.matches("a-b", file));
        CHECK_FALSE(m.matches("a/b", file));
    }
}

TEST_CASE("character classes match one character of the class") {
    PathMatcher m({"r[0-9].car"});
    CHECK(m.matches("r1.car", file));
    CHECK_FALSE(m.matches("rx.car", file));
}

TEST_CASE("an empty matcher matches nothing") {
    PathMatcher m;
    CHECK(m.empty());
    CHECK_FALSE(m.matches("anything", file));
    CHECK_FALSE(matches_path_or_parent(m, "a/b/c", file));
}

TEST_CASE("a path below a matched folder counts as matched") {
    PathMatcher m({"cache/"});
    CHECK(matches_path_or_parent(m, "work/cache/x/y.xml", file));
    CHECK(matches_path_or_parent(m, "cache", dir));
    CHECK_FALSE(matches_path_or_parent(m, "cache", file));
    CHECK_FALSE(matches_path_or_parent(m, "work/cachex/y.xml", file));
}

TEST_CASE("a file inside an excluded folder cannot be re-included, as in gitignore") {
    PathMatcher m({"cache/", "!cache/keep.xml"});
    CHECK(matches_path_or_parent(m, "cache/keep.xml", file));
}

// As in gitignore, "tmp/**" matches what is inside tmp but not tmp itself (git status lists tmp/keep.xml).
TEST_CASE("a trailing double star leaves the folder itself unmatched so a negation can re-include a file") {
    PathMatcher m({"tmp/**", "!tmp/keep.xml"});
    CHECK_FALSE(m.matches("tmp", dir));
    CHECK_FALSE(matches_path_or_parent(m, "tmp/keep.xml", file));
    CHECK(matches_path_or_parent(m, "tmp/other.xml", file));
}
