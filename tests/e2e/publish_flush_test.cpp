// What a publish flushes, observed with strace: the objects the release adds and their folders, then the
// branch, and never the whole file system (a syncfs also wrote out every unrelated dirty page).

#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

std::vector<std::string> lines_of(const stdfs::path& file) {
    std::ifstream in(file);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// Index of the first line holding `needle`, or -1.
long first_line_with(const std::vector<std::string>& lines, const std::string& needle) {
    for (std::size_t i = 0; i < lines.size(); ++i)
        if (lines[i].find(needle) != std::string::npos) return static_cast<long>(i);
    return -1;
}

std::string loose_path(const stdfs::path& repo, const std::string& hex) {
    return (repo / "objects" / hex.substr(0, 2) / hex.substr(2)).string();
}

bool strace_works() {
    if (dt::run({"strace", "-f", "-qq", "-o", "/dev/null", "true"}).exit_code == 0) return true;
    WARN("skipped: strace is missing or cannot trace here");
    return false;
}

// `depsync publish -m MESSAGE` on the primary under strace, tracing `calls` into `trace` (one line per call,
// descriptors shown with their paths).
ProcessResult traced_publish(const Cluster& cluster, const stdfs::path& trace, const std::string& calls,
                             const std::string& message) {
    return dt::run({"strace", "-f", "-y", "-qq", "-e", "trace=" + calls, "-o", trace.string(),
                    dt::depsync_bin(), "-c", cluster.primary().config.string(), "--settle", "1", "publish",
                    "-m", message});
}

}  // namespace

TEST_CASE("a publish flushes the objects it adds before the branch, and never the whole file system",
          "[e2e]") {
    if (!strace_works()) return;
    Cluster cluster(0);
    const Node& primary = cluster.primary();
    dt::generate_tree(primary.dir, dt::Profile::small, 3);
    REQUIRE_SUCCESS(cluster.publish("r1"));

    { std::ofstream(primary.dir / "flush-check.xml") << "<flush check='1'/>\n"; }
    const std::string blob = trimmed(git({"hash-object", (primary.dir / "flush-check.xml").string()}).out);
    REQUIRE(blob.size() == 40);
    const stdfs::path trace = cluster.root() / "publish.strace";
    ProcessResult published = traced_publish(cluster, trace, "fsync,fdatasync,syncfs", "r2");
    INFO(describe(published));
    REQUIRE(published.exit_code == 0);
    const std::string commit =
        trimmed(git({"--git-dir", cluster.repo().string(), "rev-parse", "refs/heads/main"}).out);
    REQUIRE(commit.size() == 40);

    const std::vector<std::string> lines = lines_of(trace);
    std::string all;
    for (const auto& line : lines) all += line + "\n";
    INFO("strace of the publish:\n" << all);
    CHECK(first_line_with(lines, "syncfs(") == -1);
    const long ref = first_line_with(lines, (cluster.repo() / "refs" / "heads" / "main").string() + ">");
    const long new_blob = first_line_with(lines, loose_path(cluster.repo(), blob) + ">");
    const long new_commit = first_line_with(lines, loose_path(cluster.repo(), commit) + ">");
    const long blob_folder =
        first_line_with(lines, (cluster.repo() / "objects" / blob.substr(0, 2)).string() + ">");
    REQUIRE(ref >= 0);
    CHECK(new_blob >= 0);
    CHECK(new_commit >= 0);
    CHECK(blob_folder >= 0);
    CHECK(new_blob < ref);
    CHECK(new_commit < ref);
    CHECK(blob_folder < ref);
    // Every object flushed at all is flushed before the branch.
    for (std::size_t i = static_cast<std::size_t>(ref); i < lines.size(); ++i)
        CHECK(lines[i].find((cluster.repo() / "objects").string()) == std::string::npos);
}

TEST_CASE("a publish takes the current release from the stat cache and flushes only the trees above a change",
          "[e2e]") {
    if (!strace_works()) return;
    Cluster cluster(0);
    const Node& primary = cluster.primary();
    dt::generate_tree(primary.dir, dt::Profile::small, 4);
    stdfs::create_directories(primary.dir / "deep" / "er" / "still");
    { std::ofstream(primary.dir / "deep" / "er" / "still" / "one.xml") << "<one version='1'/>\n"; }
    REQUIRE_SUCCESS(cluster.publish("r1"));
    const std::string repo = cluster.repo().string();
    auto trees_of = [&](const std::string& rev) {
        std::set<std::string> out{trimmed(git({"--git-dir", repo, "rev-parse", rev + "^{tree}"}).out)};
        for (const std::string& line :
             depsync::e2e::lines_of(git({"--git-dir", repo, "ls-tree", "-r", "-t", rev}).out))
            if (line.find(" tree ") != std::string::npos) out.insert(line.substr(12, 40));
        return out;
    };
    const std::set<std::string> before = trees_of("refs/heads/main");
    REQUIRE(before.size() > 5);

    { std::ofstream(primary.dir / "deep" / "er" / "still" / "one.xml") << "<one version='2'/>\n"; }
    const stdfs::path trace = cluster.root() / "publish.strace";
    ProcessResult published = traced_publish(cluster, trace, "openat,fsync", "r2");
    INFO(describe(published));
    REQUIRE(published.exit_code == 0);
    REQUIRE(published.out.find("(+0 ~1 -0)") != std::string::npos);
    const std::set<std::string> after = trees_of("refs/heads/main");

    const std::vector<std::string> lines = lines_of(trace);
    std::string all;
    for (const auto& line : lines) all += line + "\n";
    INFO("strace of the publish:\n" << all);
    auto flushed = [&](const std::string& tree) {
        const std::string path = "<" + loose_path(cluster.repo(), tree) + ">";
        for (const std::string& line : lines)
            if (line.find("fsync(") != std::string::npos && line.find(path) != std::string::npos) return true;
        return false;
    };
    // The release r2 replaces is not read back from the repository (the stat cache holds its listing):
    // none of its trees is opened, nor flushed again.
    for (const std::string& tree : before) {
        INFO("tree of r1 " << tree);
        CHECK(all.find(loose_path(cluster.repo(), tree)) == std::string::npos);
    }
    // The new trees are the root's and those of the three folders above the change; only they are flushed.
    std::size_t added = 0;
    for (const std::string& tree : after) {
        const bool is_new = before.count(tree) == 0;
        added += is_new ? 1 : 0;
        INFO("tree of r2 " << tree << (is_new ? " (new)" : " (also in r1)"));
        CHECK(flushed(tree) == is_new);
    }
    CHECK(added == 4);
}

TEST_CASE("a stat cache whose listing no longer matches the release it names is not taken for that release",
          "[e2e]") {
    Cluster cluster(0);
    const Node& primary = cluster.primary();
    dt::generate_tree(primary.dir, dt::Profile::small, 5);
    { std::ofstream(primary.dir / "keep-me.xml") << "<keep/>\n"; }
    REQUIRE_SUCCESS(cluster.publish("r1"));
    const std::string repo = cluster.repo().string();
    const std::string head = trimmed(git({"--git-dir", repo, "rev-parse", "refs/heads/main"}).out);

    // Damage the blob id the cache holds for keep-me.xml (20 bytes just before its path in the file), as a
    // bad disk block or a careless restore would: the file itself is unchanged, so a scan trusts the cache.
    const stdfs::path statcache = primary.state / "statcache";
    std::string bytes;
    {
        std::ifstream in(statcache, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    const std::size_t at = bytes.find("keep-me.xml");
    REQUIRE(at != std::string::npos);
    REQUIRE(at >= 20);
    bytes[at - 20] = static_cast<char>(bytes[at - 20] ^ 0x5a);
    { std::ofstream(statcache, std::ios::binary | std::ios::trunc) << bytes; }

    { std::ofstream(primary.dir / "other.xml") << "<other/>\n"; }
    ProcessResult published = cluster.publish("r2");
    INFO(describe(published));
    const std::string now = trimmed(git({"--git-dir", repo, "rev-parse", "refs/heads/main"}).out);
    // Refused, or published with keep-me.xml as it is: never a release naming a blob the repository lacks.
    if (published.exit_code != 0) {
        CHECK(now == head);
    } else {
        CHECK(now != head);
        const std::string blob =
            trimmed(git({"--git-dir", repo, "rev-parse", "refs/heads/main:keep-me.xml"}).out);
        CHECK(blob == trimmed(git({"hash-object", (primary.dir / "keep-me.xml").string()}).out));
        CHECK(git({"--git-dir", repo, "cat-file", "-e", blob}).exit_code == 0);
    }
    CHECK(git({"--git-dir", repo, "fsck", "--no-dangling"}).exit_code == 0);
}
