// The two phases of an apply under failure: whatever the node's file systems cannot hold fails while staging
// (nothing visible has changed), and a failure in the commit phase is undone path by path, so that every
// path is back as it was, with the same inode, and no temp file is left.

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/fs/path_safety.hpp"
#include "core/fs/pattern.hpp"
#include "core/git/handle.hpp"
#include "core/git/object_writer.hpp"
#include "core/git/repository.hpp"
#include "core/sync/apply.hpp"
#include "core/sync/scan.hpp"
#include "support/temp_dir.hpp"

namespace stdfs = std::filesystem;
using Catch::Matchers::Contains;
using depsync::git::Entry;
using depsync::git::EntryKind;
using depsync::git::Listing;
using depsync::sync::LocalChanges;
using depsync::sync::Plan;
using depsync::testing::TempDir;

namespace {

std::string read(const stdfs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write(const stdfs::path& path, const std::string& content) {
    stdfs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
}

// Every entry below `root`: "dir", "link -> target" or "file [content] inode N", by relative path.
std::map<std::string, std::string> snapshot(const stdfs::path& root) {
    std::map<std::string, std::string> out;
    for (auto it = stdfs::recursive_directory_iterator(root); it != stdfs::recursive_directory_iterator();
         ++it) {
        std::string rel = stdfs::relative(it->path(), root).string();
        struct stat st {};
        REQUIRE(::lstat(it->path().c_str(), &st) == 0);
        if (S_ISLNK(st.st_mode))
            out[rel] = "link -> " + stdfs::read_symlink(it->path()).string();
        else if (S_ISDIR(st.st_mode))
            out[rel] = "dir " + std::to_string(st.st_mode & 07777);
        else
            out[rel] = "file [" + read(it->path()) + "] inode " + std::to_string(st.st_ino) + " mode " +
                       std::to_string(st.st_mode & 07777);
    }
    return out;
}

std::string describe(const std::map<std::string, std::string>& snap) {
    std::string out;
    for (const auto& [path, what] : snap) out += path + ": " + what + "\n";
    return out;
}

std::vector<std::string> temp_files(const stdfs::path& root) {
    std::vector<std::string> out;
    for (const auto& e : stdfs::recursive_directory_iterator(root))
        if (e.path().filename().string().rfind(std::string(depsync::fs::temp_prefix), 0) == 0)
            out.push_back(e.path().string());
    return out;
}

Entry d() {
    return Entry{EntryKind::directory, {}};
}

struct Node {
    TempDir tmp;
    stdfs::path dir = tmp / "deployment";
    stdfs::path repo_path = tmp / "state/repo.git";
    stdfs::path backups = tmp / "state/backup/r2";
    depsync::git::RepositoryPtr repo = depsync::git::init_bare(repo_path, "main");
    depsync::git::ObjectWriter writer{repo_path / "objects"};
    depsync::git::OdbPtr odb;

    Node() {
        stdfs::create_directories(dir);
        git_odb* raw = nullptr;
        REQUIRE(git_repository_odb(&raw, repo.get()) == 0);
        odb.reset(raw);
    }

    Entry file(const std::string& content) { return Entry{EntryKind::file, writer.write_blob(content)}; }

    Listing scan(const depsync::fs::PathMatcher* exclude = nullptr) {
        depsync::sync::StatCache scratch;
        depsync::sync::ScanOptions options;
        options.exclude = exclude;
        return depsync::sync::scan_tree(dir, options, scratch).listing;
    }

    depsync::sync::ApplyContext context() {
        depsync::sync::ApplyContext ctx;
        ctx.dir = dir;
        ctx.odb = odb.get();
        ctx.backup_dir = backups;
        return ctx;
    }

    void pull(const Listing& deployed, const Listing& target) {
        depsync::sync::execute_plan(
            depsync::sync::plan_update(deployed, target, scan(), LocalChanges::overwrite), context());
    }
};

// r1 and r2 of a small tree: r2 modifies, removes a file and a folder, adds a file and a folder.
Listing release1(Node& n) {
    return {{"a.xml", n.file("a v1")},
            {"b", d()},
            {"b/old.xml", n.file("old")},
            {"c.xml", n.file("c v1")},
            {"d.xml", n.file("d v1")}};
}

Listing release2(Node& n) {
    return {{"a.xml", n.file("a v2")},
            {"d.xml", n.file("d v2")},
            {"new", d()},
            {"new/n.xml", n.file("n")},
            {"z.xml", n.file("z")}};
}

// Sets or clears the immutable attribute; false when this file system or this user cannot.
bool set_immutable(const stdfs::path& file, bool on) {
    int fd = ::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return false;
    int flags = 0;
    bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
    flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    ok = ok && ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

TEST_CASE("a commit that fails part-way is undone: every path is back with its old inode, no temp file") {
    Node n;
    Listing r1 = release1(n);
    Listing r2 = release2(n);
    n.pull({}, r1);
    write(n.dir / "c.xml", "c edited here");  // a local change the update removes: saved, then brought back
    const auto before = snapshot(n.dir);
    Plan plan = depsync::sync::plan_update(r1, r2, n.scan(), LocalChanges::overwrite);
    auto ctx = n.context();
    std::optional<depsync::sync::StagedPlan> staged;
    staged.emplace(plan, ctx);
    staged->stage();
    // After staging, something takes the place of the last new file: the renames fail at it, after the
    // removals and the renames of a.xml and d.xml.
    write(n.dir / "z.xml/blocker.txt", "in the way");

    std::string error;
    try {
        staged->commit();
    } catch (const depsync::Error& e) {
        error = e.what();
    }
    INFO(error);
    CHECK_THAT(error, Contains("z.xml"));
    CHECK(staged->undone());
    staged.reset();

    stdfs::remove_all(n.dir / "z.xml");
    INFO(describe(snapshot(n.dir)));
    CHECK(snapshot(n.dir) == before);
    CHECK(temp_files(n.dir).empty());
    CHECK_FALSE(stdfs::exists(n.backups));  // what the failed update saved is gone again

    // With the cause gone, the same update goes through.
    depsync::sync::execute_plan(plan, ctx);
    CHECK(read(n.dir / "a.xml") == "a v2");
    CHECK(read(n.dir / "z.xml") == "z");
    CHECK_FALSE(stdfs::exists(n.dir / "b"));
    CHECK_FALSE(stdfs::exists(n.dir / "c.xml"));
    CHECK(read(n.backups / "c.xml") == "c edited here");
    CHECK(temp_files(n.dir).empty());
}

TEST_CASE("a file that cannot be removed fails the commit and what was done before it is undone") {
    Node n;
    Listing r1{{"api", d()},
               {"api/a.xml", n.file("a")},
               {"api/b.xml", n.file("b")},
               {"api/c.xml", n.file("c v1")},
               {"api/keep.xml", n.file("keep v1")}};
    Listing r2{{"api", d()}, {"api/c.xml", n.file("c v2")}, {"api/keep.xml", n.file("keep v2")}};
    n.pull({}, r1);
    if (!set_immutable(n.dir / "api/b.xml", true)) {
        WARN("cannot set the immutable attribute here (needs root and ext4/xfs/btrfs); case not run");
        return;
    }
    const auto before = snapshot(n.dir);
    std::string error;
    try {
        n.pull(r1, r2);  // removes a.xml, then fails on b.xml
    } catch (const depsync::Error& e) {
        error = e.what();
    }
    set_immutable(n.dir / "api/b.xml", false);
    INFO(error);
    CHECK_THAT(error, Contains("api/b.xml"));
    INFO(describe(snapshot(n.dir)));
    CHECK(snapshot(n.dir) == before);
    CHECK(temp_files(n.dir).empty());

    n.pull(r1, r2);
    CHECK_FALSE(stdfs::exists(n.dir / "api/a.xml"));
    CHECK_FALSE(stdfs::exists(n.dir / "api/b.xml"));
    CHECK(read(n.dir / "api/c.xml") == "c v2");
}

TEST_CASE("a name longer than the file system allows fails the apply before anything visible changes") {
    Node n;
    Listing r1 = release1(n);
    n.pull({}, r1);
    const auto before = snapshot(n.dir);
    SECTION("a file name of 256 bytes") {
        Listing r2 = release2(n);
        r2["new/" + std::string(256, 'x') + ".xml"] = n.file("long");
        CHECK_THROWS_WITH(n.pull(r1, r2), Contains("longer than its file system allows (255)"));
    }
    SECTION("a folder name of 300 bytes") {
        Listing r2 = release2(n);
        r2[std::string(300, 'y')] = d();
        CHECK_THROWS_WITH(n.pull(r1, r2), Contains("longer than its file system allows"));
    }
    SECTION("a path longer than the system allows, of names that each fit") {
        Listing r2 = release2(n);
        std::string path;
        while (path.size() < PATH_MAX) {
            path += (path.empty() ? "" : "/") + std::string(200, 'p');
            r2[path] = d();
        }
        r2[path + "/f.xml"] = n.file("deep");
        CHECK_THROWS_WITH(n.pull(r1, r2), Contains("longer than the system allows"));
    }
    CHECK(snapshot(n.dir) == before);
    CHECK(temp_files(n.dir).empty());
}

TEST_CASE("a folder that must become a file but holds an excluded file fails before anything changes") {
    Node n;
    Listing r1{{"p", d()}, {"p/a.xml", n.file("a")}, {"q.xml", n.file("q")}};
    Listing r2{{"p", n.file("p is a file now")}};
    n.pull({}, r1);
    write(n.dir / "p/a.xml.bk", "an editor's backup, excluded");
    depsync::fs::PathMatcher exclude(std::vector<std::string>{"*.bk"});
    const auto before = snapshot(n.dir);
    // The scan does not see the excluded file, so the plan removes the folder and writes the file.
    Plan plan = depsync::sync::plan_update(r1, r2, n.scan(&exclude), LocalChanges::overwrite);
    CHECK_THROWS_WITH(depsync::sync::execute_plan(plan, n.context()), Contains("p/a.xml.bk"));
    CHECK(snapshot(n.dir) == before);
    CHECK(temp_files(n.dir).empty());
}

TEST_CASE("a backup path longer than the system allows fails the apply before anything changes") {
    Node n;
    std::string folder;
    for (int i = 0; i < 4; ++i) folder += (folder.empty() ? "" : "/") + std::string(200, 'f');
    Listing r1{{"a.xml", n.file("a v1")}, {"gone.xml", n.file("gone")}};
    Listing r2{{"a.xml", n.file("a v2")}};
    std::string parent;
    for (int i = 0; i < 4; ++i) {
        parent += (parent.empty() ? "" : "/") + std::string(200, 'f');
        r1[parent] = d();
        r2[parent] = d();
    }
    r1[folder + "/x.xml"] = n.file("x v1");
    r2[folder + "/x.xml"] = n.file("x v2");
    n.pull({}, r1);
    write(n.dir / folder / "x.xml", "x edited here");
    // The backup folder's own path takes what is left of PATH_MAX.
    auto ctx = n.context();
    ctx.backup_dir = n.tmp / std::string(200, 'b');
    while (ctx.backup_dir.native().size() + folder.size() + 8 < PATH_MAX)
        ctx.backup_dir /= std::string(200, 'b');
    const auto before = snapshot(n.dir);
    Plan plan = depsync::sync::plan_update(r1, r2, n.scan(), LocalChanges::overwrite);
    REQUIRE(plan.backups == 1);
    CHECK_THROWS_WITH(depsync::sync::execute_plan(plan, ctx), Contains("backup path"));
    CHECK(snapshot(n.dir) == before);
    CHECK(temp_files(n.dir).empty());
}
