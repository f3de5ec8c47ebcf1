#include "core/sync/scan.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/fs/path_safety.hpp"
#include "core/git/handle.hpp"
#include "core/git/object_writer.hpp"
#include "core/git/repository.hpp"
#include "support/temp_dir.hpp"
#include "support/zip_writer.hpp"

namespace stdfs = std::filesystem;
using depsync::fs::PathMatcher;
using depsync::git::EntryKind;
using depsync::git::hash_blob;
using depsync::git::Listing;
using depsync::sync::scan_tree;
using depsync::sync::ScanOptions;
using depsync::sync::ScanResult;
using depsync::sync::StatCache;
using depsync::testing::TempDir;

namespace {

void write(const stdfs::path& path, const std::string& content, unsigned mode = 0644) {
    stdfs::create_directories(path.parent_path());
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out << content;
    }
    ::chmod(path.c_str(), static_cast<mode_t>(mode));
}

// Moves a file's mtime `seconds` into the past, out of the racy window of the next scan.
void age(const stdfs::path& path, long seconds) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    timespec times[2] = {{now.tv_sec - seconds, 0}, {now.tv_sec - seconds, 0}};
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

void age_all(const stdfs::path& root, long seconds) {
    for (auto it = stdfs::recursive_directory_iterator(root); it != stdfs::recursive_directory_iterator();
         ++it)
        if (it->is_regular_file() && !it->is_symlink()) age(it->path(), seconds);
}

std::vector<std::string> paths_of(const Listing& listing) {
    std::vector<std::string> out;
    for (const auto& kv : listing) out.push_back(kv.first);
    return out;
}

bool same_id(const git_oid& a, const git_oid& b) {
    return git_oid_equal(&a, &b) != 0;
}

// A small deployment tree: folders (two of them empty), files, an executable and symlinks.
struct Deployment {
    TempDir tmp;
    stdfs::path dir = tmp / "deployment";
    stdfs::path outside = tmp / "outside";

    Deployment() {
        write(dir / "carbonapps/App_1.0.0.car", "not really a zip");
        write(dir / "synapse-configs/default/api/Orders.xml", "<api name=\"Orders\"/>\n");
        write(dir / "scripts/reload.sh", "#!/bin/sh\n", 0755);
        write(dir / "top.xml", "top\n");
        stdfs::create_directories(dir / "synapse-configs/default/sequences");
        stdfs::create_directories(dir / "empty/nested/deeper");
        write(outside / "secret.txt", "outside the tree\n");
        stdfs::create_symlink("synapse-configs/default", dir / "link-to-folder");
        stdfs::create_symlink(outside, dir / "carbonapps/link-outside");
        stdfs::create_symlink("/nonexistent/target", dir / "dangling");
    }
};

}  // namespace

TEST_CASE("a scan lists every folder including empty ones, files with their mode, and symlinks unfollowed") {
    Deployment d;
    StatCache cache;
    ScanResult r = scan_tree(d.dir, {}, cache);

    std::vector<std::string> expected{"carbonapps",
                                      "carbonapps/App_1.0.0.car",
                                      "carbonapps/link-outside",
                                      "dangling",
                                      "empty",
                                      "empty/nested",
                                      "empty/nested/deeper",
                                      "link-to-folder",
                                      "scripts",
                                      "scripts/reload.sh",
                                      "synapse-configs",
                                      "synapse-configs/default",
                                      "synapse-configs/default/api",
                                      "synapse-configs/default/api/Orders.xml",
                                      "synapse-configs/default/sequences",
                                      "top.xml"};
    CHECK(paths_of(r.listing) == expected);

    const Listing& l = r.listing;
    CHECK(l.at("empty/nested/deeper").kind == EntryKind::directory);
    CHECK(l.at("carbonapps").kind == EntryKind::directory);
    CHECK(l.at("top.xml").kind == EntryKind::file);
    CHECK(same_id(l.at("top.xml").oid, hash_blob("top\n")));
    CHECK(l.at("scripts/reload.sh").kind == EntryKind::executable);
    CHECK(same_id(l.at("scripts/reload.sh").oid, hash_blob("#!/bin/sh\n")));
    CHECK(l.at("link-to-folder").kind == EntryKind::symlink);
    CHECK(same_id(l.at("link-to-folder").oid, hash_blob("synapse-configs/default")));
    CHECK(l.at("carbonapps/link-outside").kind == EntryKind::symlink);
    CHECK(same_id(l.at("carbonapps/link-outside").oid, hash_blob(d.outside.string())));
    CHECK(l.at("dangling").kind == EntryKind::symlink);
    CHECK(r.hashed == 4);
    CHECK(r.changing.empty());
    CHECK(r.skipped.empty());
    CHECK(r.incomplete.empty());
}

TEST_CASE("a rescan with the stat cache hashes no file") {
    Deployment d;
    age_all(d.dir, 100);
    StatCache cache;
    ScanResult first = scan_tree(d.dir, {}, cache);
    CHECK(first.hashed == 4);
    CHECK(cache.size() == 4);

    ScanResult second = scan_tree(d.dir, {}, cache);
    CHECK(second.hashed == 0);
    CHECK(paths_of(second.listing) == paths_of(first.listing));
    for (const auto& [path, entry] : first.listing) {
        INFO(path);
        CHECK(second.listing.at(path).same_as(entry));
    }
}

TEST_CASE("every rescan with the stat cache hashes no file, not just the second") {
    Deployment d;
    age_all(d.dir, 100);
    StatCache cache;
    CHECK(scan_tree(d.dir, {}, cache).hashed == 4);
    CHECK(scan_tree(d.dir, {}, cache).hashed == 0);
    CHECK(scan_tree(d.dir, {}, cache).hashed == 0);
    CHECK(scan_tree(d.dir, {}, cache).hashed == 0);
}

TEST_CASE("a full scan hashes every file despite the cache") {
    Deployment d;
    age_all(d.dir, 100);
    StatCache cache;
    scan_tree(d.dir, {}, cache);
    ScanOptions options;
    options.full = true;
    CHECK(scan_tree(d.dir, options, cache).hashed == 4);
}

TEST_CASE("after one file changes, a rescan hashes only that file") {
    Deployment d;
    age_all(d.dir, 100);
    StatCache cache;
    scan_tree(d.dir, {}, cache);

    SECTION("touched without a content change") {
        age(d.dir / "top.xml", 50);
        ScanResult r = scan_tree(d.dir, {}, cache);
        CHECK(r.hashed == 1);
        CHECK(same_id(r.listing.at("top.xml").oid, hash_blob("top\n")));
    }
    SECTION("rewritten with content of the same size") {
        write(d.dir / "top.xml", "TOP\n");
        age(d.dir / "top.xml", 99);
        ScanResult r = scan_tree(d.dir, {}, cache);
        CHECK(r.hashed == 1);
        CHECK(same_id(r.listing.at("top.xml").oid, hash_blob("TOP\n")));
    }
    SECTION("made executable") {
        ::chmod((d.dir / "top.xml").c_str(), 0755);
        ScanResult r = scan_tree(d.dir, {}, cache);
        CHECK(r.hashed == 1);
        CHECK(r.listing.at("top.xml").kind == EntryKind::executable);
    }
}

TEST_CASE("a file whose mtime is not safely in the past is hashed again on the next scan") {
    Deployment d;
    age_all(d.dir, 100);
    // A timestamp ahead of the scan (a write in the same tick, or a clock set back) proves nothing about the
    // content.
    age(d.dir / "top.xml", -60);
    StatCache cache;
    CHECK(scan_tree(d.dir, {}, cache).hashed == 4);
    CHECK(scan_tree(d.dir, {}, cache).hashed == 1);
    CHECK(scan_tree(d.dir, {}, cache).hashed == 1);
}

TEST_CASE("a cache saved by one scan saves the hashing of the next run") {
    Deployment d;
    age_all(d.dir, 100);
    StatCache cache;
    scan_tree(d.dir, {}, cache);
    cache.save(d.tmp / "statcache");
    StatCache loaded = StatCache::load(d.tmp / "statcache");
    CHECK(scan_tree(d.dir, {}, loaded).hashed == 0);
}

TEST_CASE("files and folders matched by exclude patterns are skipped with everything below them") {
    Deployment d;
    write(d.dir / "old.bk", "x");
    write(d.dir / "synapse-configs/default/api/Orders.xml.bk", "x");
    write(d.dir / "tmp/work/a.xml", "x");
    write(d.dir / "logs", "a file named like an excluded folder");
    write(d.dir / "keep.bk", "kept");
    PathMatcher exclude({"*.bk", "!keep.bk", "tmp/", "logs/", "/empty/nested"});
    ScanOptions options;
    options.exclude = &exclude;
    StatCache cache;
    ScanResult r = scan_tree(d.dir, options, cache);

    CHECK(r.listing.count("old.bk") == 0);
    CHECK(r.listing.count("synapse-configs/default/api/Orders.xml.bk") == 0);
    CHECK(r.listing.count("tmp") == 0);
    CHECK(r.listing.count("tmp/work") == 0);
    CHECK(r.listing.count("tmp/work/a.xml") == 0);
    CHECK(r.listing.count("empty/nested") == 0);
    CHECK(r.listing.count("empty/nested/deeper") == 0);
    CHECK(r.listing.count("empty") == 1);
    CHECK(r.listing.count("logs") == 1);
    CHECK(r.listing.count("keep.bk") == 1);
    CHECK(r.listing.count("synapse-configs/default/api/Orders.xml") == 1);
    // Skipping is not deleting.
    CHECK(stdfs::exists(d.dir / "old.bk"));
    CHECK(stdfs::exists(d.dir / "tmp/work/a.xml"));
}

TEST_CASE("stale depsync temp files are removed only when asked") {
    Deployment d;
    write(d.dir / ".depsync-tmp.1234.0", "half a file");
    write(d.dir / "carbonapps/.depsync-tmp.1234.1", "half an archive");
    write(d.dir / ".depsync-tmpfoo", "not the prefix");
    StatCache cache;

    ScanResult kept = scan_tree(d.dir, {}, cache);
    CHECK(kept.stale_temps_removed == 0);
    CHECK(kept.listing.count(".depsync-tmp.1234.0") == 0);
    CHECK(kept.listing.count("carbonapps/.depsync-tmp.1234.1") == 0);
    CHECK(kept.listing.count(".depsync-tmpfoo") == 1);
    CHECK(stdfs::exists(d.dir / ".depsync-tmp.1234.0"));
    CHECK(stdfs::exists(d.dir / "carbonapps/.depsync-tmp.1234.1"));

    ScanOptions options;
    options.remove_stale_temps = true;
    ScanResult removed = scan_tree(d.dir, options, cache);
    CHECK(removed.stale_temps_removed == 2);
    CHECK_FALSE(stdfs::exists(d.dir / ".depsync-tmp.1234.0"));
    CHECK_FALSE(stdfs::exists(d.dir / "carbonapps/.depsync-tmp.1234.1"));
    CHECK(stdfs::exists(d.dir / ".depsync-tmpfoo"));
    CHECK(stdfs::exists(d.dir / "top.xml"));
}

TEST_CASE("an incomplete archive is reported when archives are checked") {
    Deployment d;
    {
        depsync::testing::ZipWriter complete(d.dir / "carbonapps/Good_1.0.0.car");
        complete.add_file("artifacts.xml", "<artifacts/>");
        complete.finish();
    }
    {
        depsync::testing::ZipWriter partial(d.dir / "carbonapps/Half_1.0.0.car");
        partial.add_file("artifacts.xml", "<artifacts/>");
        partial.add_file("payload.bin", std::string(5000, 'p'));
        // No finish(): the central directory is still missing, as while the file is being copied in.
    }
    StatCache cache;

    ScanOptions options;
    options.check_archives = true;
    ScanResult r = scan_tree(d.dir, options, cache);
    REQUIRE(r.incomplete.size() == 2);
    // The fixture's App_1.0.0.car is not a zip at all.
    CHECK(r.incomplete[0].path == "carbonapps/App_1.0.0.car");
    CHECK(r.incomplete[1].path == "carbonapps/Half_1.0.0.car");
    CHECK_FALSE(r.incomplete[1].defect.empty());
    CHECK(r.listing.count("carbonapps/Half_1.0.0.car") == 0);
    CHECK(r.listing.count("carbonapps/Good_1.0.0.car") == 1);

    ScanResult unchecked = scan_tree(d.dir, {}, cache);
    CHECK(unchecked.incomplete.empty());
    CHECK(unchecked.listing.count("carbonapps/Half_1.0.0.car") == 1);
}

TEST_CASE("names that could never be applied, sockets and fifos are skipped and reported") {
    Deployment d;
    write(d.dir / ".git/config", "[core]\n");
    write(d.dir / "carbonapps/bad\nname.car", "x");
    REQUIRE(::mkfifo((d.dir / "fifo").c_str(), 0644) == 0);
    StatCache cache;
    ScanResult r = scan_tree(d.dir, {}, cache);
    std::vector<std::string> skipped = r.skipped;
    std::sort(skipped.begin(), skipped.end());
    CHECK(skipped == std::vector<std::string>{".git", "carbonapps/bad\nname.car", "fifo"});
    CHECK(r.listing.count(".git") == 0);
    CHECK(r.listing.count(".git/config") == 0);
    CHECK(r.listing.count("fifo") == 0);
}

TEST_CASE("a scan with a writer stores every file and symlink as a blob") {
    Deployment d;
    stdfs::path repo_path = d.tmp / "repo.git";
    auto repo = depsync::git::init_bare(repo_path, "main");
    depsync::git::ObjectWriter writer(repo_path / "objects");
    ScanOptions options;
    options.writer = &writer;
    StatCache cache;
    ScanResult r = scan_tree(d.dir, options, cache);
    for (const auto& [path, entry] : r.listing) {
        if (entry.kind == EntryKind::directory) continue;
        INFO(path);
        git_blob* raw = nullptr;
        REQUIRE(git_blob_lookup(&raw, repo.get(), &entry.oid) == 0);
        depsync::git::BlobPtr blob(raw);
        std::string content(static_cast<const char*>(git_blob_rawcontent(raw)),
                            static_cast<std::size_t>(git_blob_rawsize(raw)));
        if (entry.kind == EntryKind::symlink) {
            CHECK(content == stdfs::read_symlink(d.dir / path).string());
        } else {
            std::ifstream in(d.dir / path, std::ios::binary);
            CHECK(content ==
                  std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
        }
    }
    CHECK(writer.objects_written() == 7);
}

TEST_CASE("scanning a missing deployment directory is a usage error") {
    TempDir tmp;
    StatCache cache;
    try {
        scan_tree(tmp / "missing", {}, cache);
        FAIL("scan_tree accepted a missing folder");
    } catch (const depsync::Error& e) {
        CHECK(e.code() == depsync::ExitCode::usage);
        CHECK_THAT(e.what(), Catch::Matchers::Contains((tmp / "missing").string()));
    }
}

namespace {

// Scans and saves the cache as a publish does, then reports whether a one-pass check finds the tree as saved.
struct Snapshotted {
    Deployment d;
    PathMatcher exclude{std::vector<std::string>{"*.bk"}};
    std::vector<depsync::sync::Root> roots{depsync::sync::Root{"", d.dir}};

    Snapshotted() {
        age_all(d.dir, 60);
        for (const char* link : {"link-to-folder", "carbonapps/link-outside", "dangling"})
            age(d.dir / link, 60);
        save();
    }
    void save() {
        StatCache cache;
        ScanOptions options;
        options.exclude = &exclude;
        ScanResult r = scan_tree(d.dir, options, cache);
        tree = depsync::git::tree_id(r.listing);
        git_oid fp = hash_blob("settings");
        cache.save(d.tmp / "statcache", &tree, &fp);
    }
    git_oid tree{};  // as saved
    bool unchanged() {
        auto snap = depsync::sync::CacheSnapshot::read(d.tmp / "statcache");
        return snap && depsync::sync::tree_unchanged(
                           depsync::sync::read_tree(depsync::sync::open_roots(roots), &exclude), *snap);
    }
};

}  // namespace

TEST_CASE("the one-pass check finds an untouched tree unchanged, and any change changed") {
    Snapshotted s;
    REQUIRE(s.unchanged());
    CHECK(s.unchanged());  // checking changes nothing

    SECTION("an excluded file appears: still unchanged") {
        write(s.d.dir / "carbonapps/App_1.0.0.car.bk", "backup");
        CHECK(s.unchanged());
    }
    SECTION("same size, mtime put back: the inode change time gives it away") {
        write(s.d.dir / "top.xml", "TOP\n");
        age(s.d.dir / "top.xml", 60);
        CHECK_FALSE(s.unchanged());
    }
    SECTION("a file is removed") {
        stdfs::remove(s.d.dir / "top.xml");
        CHECK_FALSE(s.unchanged());
    }
    SECTION("a file is added, even an empty one") {
        write(s.d.dir / "synapse-configs/default/api/New.xml", "");
        CHECK_FALSE(s.unchanged());
    }
    SECTION("an empty folder is added or removed") {
        SECTION("added") {
            stdfs::create_directories(s.d.dir / "empty/nested/deeper/more");
        }
        SECTION("removed") {
            stdfs::remove(s.d.dir / "empty/nested/deeper");
        }
        CHECK_FALSE(s.unchanged());
    }
    SECTION("a symlink points elsewhere") {
        stdfs::remove(s.d.dir / "dangling");
        stdfs::create_symlink("/nonexistent/other", s.d.dir / "dangling");
        age(s.d.dir / "dangling", 60);
        CHECK_FALSE(s.unchanged());
    }
    SECTION("a file turns executable") {
        ::chmod((s.d.dir / "top.xml").c_str(), 0755);
        CHECK_FALSE(s.unchanged());
    }
    SECTION("a file that was still racy when saved is never vouched for") {
        write(s.d.dir / "top.xml", "new\n");
        s.save();  // top.xml was modified just now: racy in the saved cache
        CHECK_FALSE(s.unchanged());
        age(s.d.dir / "top.xml", 60);
        s.save();
        CHECK(s.unchanged());
    }
    SECTION("a cache saved without a tree, or by other settings, is not a snapshot of this tree") {
        StatCache cache;
        scan_tree(s.d.dir, {}, cache);
        cache.save(s.d.tmp / "statcache");
        CHECK_FALSE(s.unchanged());
    }
}

TEST_CASE("the scan fingerprint changes with the roots and the patterns") {
    using depsync::sync::Root;
    using depsync::sync::scan_fingerprint;
    git_oid a = scan_fingerprint({Root{"", "/srv/a"}}, {"*.bk"});
    git_oid same = scan_fingerprint({Root{"", "/srv/a"}}, {"*.bk"});
    git_oid other_dir = scan_fingerprint({Root{"", "/srv/b"}}, {"*.bk"});
    git_oid other_pattern = scan_fingerprint({Root{"", "/srv/a"}}, {"*.bk", "tmp/"});
    git_oid named = scan_fingerprint({Root{"server", "/srv/a"}}, {"*.bk"});
    CHECK(same_id(a, same));
    CHECK_FALSE(same_id(a, other_dir));
    CHECK_FALSE(same_id(a, other_pattern));
    CHECK_FALSE(same_id(a, named));
}

TEST_CASE("a scan that reuses the no-change check's walk lists what a fresh scan lists") {
    Snapshotted s;
    write(s.d.dir / "top.xml", "changed\n");
    write(s.d.dir / "synapse-configs/default/api/New.xml", "<api/>\n");
    write(s.d.dir / "carbonapps/App_1.0.0.car.bk", "excluded");
    stdfs::create_directories(s.d.dir / "empty/nested/deeper/more");
    auto snap = depsync::sync::CacheSnapshot::read(s.d.tmp / "statcache");
    REQUIRE(snap);
    const depsync::sync::OpenRoots roots = depsync::sync::open_roots(s.roots);
    depsync::sync::TreeRead walked = depsync::sync::read_tree(roots, &s.exclude);
    REQUIRE_FALSE(depsync::sync::tree_unchanged(walked, *snap));
    REQUIRE(walked.tops.size() == 1);

    ScanOptions options;
    options.exclude = &s.exclude;
    StatCache fresh_cache, reused_cache;
    ScanResult fresh = scan_tree(s.d.dir, options, fresh_cache);
    ScanResult reused = depsync::sync::scan_roots(roots, options, reused_cache, &walked);
    CHECK(paths_of(reused.listing) == paths_of(fresh.listing));
    for (const auto& [path, entry] : fresh.listing) {
        INFO(path);
        CHECK(reused.listing.at(path).same_as(entry));
    }
    CHECK(reused.listing.count("synapse-configs/default/api/New.xml") == 1);
    CHECK(reused.listing.count("empty/nested/deeper/more") == 1);
    CHECK(reused.listing.count("carbonapps/App_1.0.0.car.bk") == 0);
    CHECK(reused.holds_excluded == fresh.holds_excluded);
}

TEST_CASE(
    "the no-change check vouches for a tree exactly when a scan finds it as saved with nothing to report") {
    Snapshotted s;
    // Each addition below is read by the check and by a scan; they agree on what belongs to the tree.
    auto agree = [&s] {
        StatCache cache;
        ScanOptions options;
        options.exclude = &s.exclude;
        ScanResult r = scan_tree(s.d.dir, options, cache);
        git_oid tree = depsync::git::tree_id(r.listing);
        const bool scan_same = same_id(tree, s.tree) && r.skipped.empty() && r.changing.empty();
        const bool check_same = s.unchanged();
        CHECK(check_same == scan_same);
        return check_same;
    };
    REQUIRE(agree());
    SECTION("a depsync temp file is no part of the tree") {
        write(s.d.dir / "carbonapps" / (std::string(depsync::fs::temp_prefix) + "1234.0"), "half");
        CHECK(agree());
    }
    SECTION("an excluded folder with files below it is skipped whole") {
        write(s.d.dir / "synapse-configs/old.bk/a.xml", "<a/>");
        CHECK(agree());
    }
    SECTION("a name no release may hold is reported, so the check does not vouch") {
        write(s.d.dir / "carbonapps/bad\nname.car", "x");
        CHECK_FALSE(agree());
    }
    SECTION("a '.git' folder is reported, so the check does not vouch") {
        stdfs::create_directories(s.d.dir / "empty/.git");
        CHECK_FALSE(agree());
    }
    SECTION("a FIFO is reported, so the check does not vouch") {
        REQUIRE(::mkfifo((s.d.dir / "carbonapps/pipe").c_str(), 0644) == 0);
        CHECK_FALSE(agree());
    }
}
