#include "core/sync/stat_cache.hpp"

#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>

#include "core/git/handle.hpp"
#include "core/git/object_writer.hpp"
#include "support/temp_dir.hpp"

namespace stdfs = std::filesystem;
using depsync::git::hash_blob;
using depsync::sync::StatCache;
using depsync::sync::StatKey;
using depsync::testing::TempDir;

namespace {

constexpr std::int64_t second = 1'000'000'000;
constexpr std::int64_t scan_start = 1'700'000'000 * second;

StatKey key(std::int64_t mtime_ns, std::uint64_t size = 100, std::uint64_t ino = 42) {
    StatKey k;
    k.mtime_ns = mtime_ns;
    k.ctime_ns = mtime_ns + 5;
    k.size = size;
    k.ino = ino;
    k.mode = 0100644;
    return k;
}

const StatKey old_key = key(scan_start - 3600 * second);

}  // namespace

TEST_CASE("a cached entry is found only with exactly the stat fields it was stored with") {
    StatCache cache;
    git_oid id = hash_blob("content");
    cache.put("a/b.xml", old_key, id, scan_start);

    const auto* hit = cache.find("a/b.xml", old_key);
    REQUIRE(hit != nullptr);
    CHECK(git_oid_equal(&hit->oid, &id));
    CHECK_FALSE(hit->racy);

    CHECK(cache.find("a/other.xml", old_key) == nullptr);
    StatKey k = old_key;
    k.mtime_ns += 1;
    CHECK(cache.find("a/b.xml", k) == nullptr);
    k = old_key;
    k.ctime_ns += 1;
    CHECK(cache.find("a/b.xml", k) == nullptr);
    k = old_key;
    k.size += 1;
    CHECK(cache.find("a/b.xml", k) == nullptr);
    k = old_key;
    k.ino += 1;
    CHECK(cache.find("a/b.xml", k) == nullptr);
    k = old_key;
    k.mode = 0100755;
    CHECK(cache.find("a/b.xml", k) == nullptr);
}

TEST_CASE("an entry modified just before it was read is racy and never a hit") {
    StatCache cache;
    StatKey recent =
        key(scan_start - 50'000'000);  // 50 ms before it was read: the same timestamp tick is possible
    cache.put("recent.xml", recent, hash_blob("x"), scan_start);
    CHECK(cache.size() == 1);
    CHECK(cache.find("recent.xml", recent) == nullptr);

    StatKey future = key(scan_start + 10 * second);  // a clock that was set back
    cache.put("future.xml", future, hash_blob("x"), scan_start);
    CHECK(cache.find("future.xml", future) == nullptr);

    StatKey settled = key(scan_start - second);
    cache.put("settled.xml", settled, hash_blob("x"), scan_start);
    CHECK(cache.find("settled.xml", settled) != nullptr);
}

TEST_CASE("a scan keeps the entries it found and drops the ones it did not see") {
    StatCache cache;
    cache.put("a.xml", old_key, hash_blob("a"), scan_start);
    cache.put("gone.xml", old_key, hash_blob("g"), scan_start);
    cache.put_other("dir", old_key, depsync::git::EntryKind::directory, {}, scan_start);
    cache.put_other("old-dir", old_key, depsync::git::EntryKind::directory, {}, scan_start);
    cache.forget_seen();
    REQUIRE(cache.find("a.xml", old_key) != nullptr);
    cache.put_other("dir", old_key, depsync::git::EntryKind::directory, {}, scan_start);
    CHECK(cache.drop_unseen() == 2);
    CHECK(cache.size() == 1);  // files only
    CHECK(cache.find("a.xml", old_key) != nullptr);
    CHECK(cache.find("gone.xml", old_key) == nullptr);
    // A folder is never a hit for a file.
    CHECK(cache.find("dir", old_key) == nullptr);
}

TEST_CASE("erase and clear forget entries") {
    StatCache cache;
    cache.put("a", old_key, hash_blob("a"), scan_start);
    cache.put("b", old_key, hash_blob("b"), scan_start);
    cache.erase("a");
    CHECK(cache.find("a", old_key) == nullptr);
    CHECK(cache.find("b", old_key) != nullptr);
    cache.clear();
    CHECK(cache.size() == 0);
}

TEST_CASE("a saved cache loads back with every entry, its id and its racy flag") {
    TempDir tmp;
    StatCache cache;
    struct Item {
        std::string path;
        StatKey stat;
        git_oid oid;
    };
    std::vector<Item> items{
        {"top.xml", key(scan_start - 10 * second, 0, 1), hash_blob("")},
        {"carbonapps/App_1.0.0.car", key(scan_start - 99 * second, 123456789012ULL, 99999999999ULL),
         hash_blob("a")},
        {"a b/with spaces and ünïcödé.xml", key(scan_start - 7 * second, 5, 3), hash_blob("b")},
        {"trailing space ", key(scan_start - 7 * second, 6, 4), hash_blob("c")},
        {"tab\tinside", key(scan_start - 7 * second, 6, 5), hash_blob("d")},
    };
    for (const Item& i : items) cache.put(i.path, i.stat, i.oid, scan_start);
    StatKey exec_key = key(scan_start - 8 * second, 7, 6);
    exec_key.mode = 0100755;
    cache.put("run.sh", exec_key, hash_blob("e"), scan_start);
    StatKey racy_key = key(scan_start);
    cache.put("racy.xml", racy_key, hash_blob("f"), scan_start);

    stdfs::path file = tmp / "statcache";
    cache.save(file);
    StatCache loaded = StatCache::load(file);

    CHECK(loaded.size() == cache.size());
    for (const Item& i : items) {
        INFO("'" << i.path << "'");
        const auto* hit = loaded.find(i.path, i.stat);
        REQUIRE(hit != nullptr);
        CHECK(git_oid_equal(&hit->oid, &i.oid));
        CHECK(hit->stat == i.stat);
    }
    CHECK(loaded.find("run.sh", exec_key) != nullptr);
    // Still racy after the round trip: not a hit.
    CHECK(loaded.find("racy.xml", racy_key) == nullptr);
}

TEST_CASE("the cache file is written with owner-only permissions") {
    TempDir tmp;
    StatCache cache;
    cache.put("a", old_key, hash_blob("a"), scan_start);
    cache.save(tmp / "statcache");
    CHECK((stdfs::status(tmp / "statcache").permissions() &
           (stdfs::perms::group_all | stdfs::perms::others_all)) == stdfs::perms::none);
}

TEST_CASE("a path with a newline is not cached, so it cannot corrupt the cache file") {
    TempDir tmp;
    StatCache cache;
    cache.put("evil\n0000000000000000000000000000000000000000 0 0 0 0 0 0 x", old_key, hash_blob("a"),
              scan_start);
    cache.put("good", old_key, hash_blob("g"), scan_start);
    CHECK(cache.size() == 1);
    cache.save(tmp / "statcache");
    StatCache loaded = StatCache::load(tmp / "statcache");
    CHECK(loaded.size() == 1);
    CHECK(loaded.find("good", old_key) != nullptr);
}

TEST_CASE("a missing or damaged cache file loads as an empty cache") {
    TempDir tmp;
    CHECK(StatCache::load(tmp / "missing").size() == 0);

    auto damaged =
        GENERATE(std::string(""), std::string("not a cache\n"),
                 std::string("depsync-statcache 1\nzzzz 1 2 3 4 644 0 a\n"),
                 std::string("depsync-statcache 1\n") + std::string(40, 'a') + " 1 2\n",
                 std::string("depsync-statcache 1\n") + std::string(40, 'a') + " 1 2 3 4 644 0\n",
                 std::string("depsync-statcache 1\n") + std::string(40, 'a') + " 1 2 3 4 644 0 \n",
                 std::string("depsync-statcache 1\n") + std::string(40, 'a') + " 1 2 3 4 644 0x a\n",
                 std::string("depsync-statcache 999\n") + std::string(40, 'a') + " 1 2 3 4 644 0 a\n");
    {
        std::ofstream out(tmp / "statcache", std::ios::binary | std::ios::trunc);
        out << damaged;
    }
    CHECK(StatCache::load(tmp / "statcache").size() == 0);
}

TEST_CASE("a folder where the cache file should be loads as an empty cache") {
    TempDir tmp;
    stdfs::create_directories(tmp / "statcache");
    CHECK(StatCache::load(tmp / "statcache").size() == 0);
}

// Exactly one space separates the racy flag from the path, so blanks that begin a path are kept.
TEST_CASE("a path beginning with a space survives a save and load") {
    TempDir tmp;
    StatCache cache;
    git_oid id = hash_blob("x");
    cache.put(" leading space.xml", old_key, id, scan_start);
    cache.put("  two spaces.xml", old_key, id, scan_start);
    cache.save(tmp / "statcache");
    StatCache loaded = StatCache::load(tmp / "statcache");
    CHECK(loaded.size() == 2);
    CHECK(loaded.find(" leading space.xml", old_key) != nullptr);
    CHECK(loaded.find("  two spaces.xml", old_key) != nullptr);
    CHECK(loaded.find("leading space.xml", old_key) == nullptr);
}

TEST_CASE("StatKey takes nanosecond times, size, inode and mode from stat") {
    struct stat st {};
    st.st_mtim.tv_sec = 1000;
    st.st_mtim.tv_nsec = 7;
    st.st_ctim.tv_sec = 2000;
    st.st_ctim.tv_nsec = 9;
    st.st_size = 12345;
    st.st_ino = 77;
    st.st_mode = S_IFREG | 0755;
    StatKey k = StatKey::of(st);
    CHECK(k.mtime_ns == 1000 * second + 7);
    CHECK(k.ctime_ns == 2000 * second + 9);
    CHECK(k.size == 12345);
    CHECK(k.ino == 77);
    CHECK(k.mode == (S_IFREG | 0755));
}

namespace {

void write_bytes(const stdfs::path& file, const std::string& bytes) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << bytes;
}

std::string read_bytes(const stdfs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("a cache saved with a tree is read back as a snapshot in walk order") {
    using depsync::git::EntryKind;
    using depsync::sync::CacheSnapshot;
    TempDir tmp;
    StatCache cache;
    // Put in an order unlike the walk's: "a-c" sorts between "a" and "a/x" by bytes, not in a walk.
    cache.put("a-c", old_key, hash_blob("1"), scan_start);
    cache.put("a/x", key(scan_start - 50 * second, 7, 8), hash_blob("2"), scan_start);
    cache.put_other("a", old_key, EntryKind::directory, {}, scan_start);
    cache.put_other("link", key(scan_start - 9 * second, 3, 9), EntryKind::symlink, hash_blob("t"),
                    scan_start);
    cache.put("racy.xml", key(scan_start), hash_blob("3"), scan_start);
    git_oid tree = hash_blob("tree"), fingerprint = hash_blob("fp");
    cache.save(tmp / "statcache", &tree, &fingerprint);

    std::optional<CacheSnapshot> snap = CacheSnapshot::read(tmp / "statcache");
    REQUIRE(snap);
    CHECK(git_oid_equal(&snap->tree(), &tree));
    CHECK(git_oid_equal(&snap->fingerprint(), &fingerprint));
    std::vector<std::string> order;
    CacheSnapshot::Entry e;
    while (snap->next(e)) {
        order.emplace_back(e.path);
        if (e.path == "a") CHECK(e.kind == EntryKind::directory);
        if (e.path == "link") {
            CHECK(e.kind == EntryKind::symlink);
            CHECK(e.stat == key(scan_start - 9 * second, 3, 9));
        }
        if (e.path == "a/x") CHECK(e.stat == key(scan_start - 50 * second, 7, 8));
        CHECK(e.racy == (e.path == "racy.xml"));
    }
    CHECK(order == std::vector<std::string>{"a", "a/x", "a-c", "link", "racy.xml"});
    CHECK(snap->at_end());

    // The full load sees the files (folders and links are kept, but are not file hits).
    StatCache loaded = StatCache::load(tmp / "statcache");
    CHECK(loaded.size() == 3);
    CHECK(loaded.find("a/x", key(scan_start - 50 * second, 7, 8)) != nullptr);
    CHECK(loaded.find("link", key(scan_start - 9 * second, 3, 9)) == nullptr);
}

TEST_CASE("a cache saved without a tree, or cut short, is no snapshot") {
    using depsync::sync::CacheSnapshot;
    TempDir tmp;
    StatCache cache;
    cache.put("a", old_key, hash_blob("a"), scan_start);
    cache.put("b", old_key, hash_blob("b"), scan_start);
    cache.save(tmp / "statcache");
    CHECK_FALSE(CacheSnapshot::read(tmp / "statcache"));
    CHECK(StatCache::load(tmp / "statcache").size() == 2);

    git_oid tree = hash_blob("tree"), fingerprint = hash_blob("fp");
    cache.save(tmp / "statcache", &tree, &fingerprint);
    std::string whole = read_bytes(tmp / "statcache");
    write_bytes(tmp / "statcache", whole.substr(0, whole.size() - 1));
    // A snapshot cut short never ends cleanly, and the full load gives up on it.
    std::optional<CacheSnapshot> snap = CacheSnapshot::read(tmp / "statcache");
    REQUIRE(snap);
    CacheSnapshot::Entry e;
    while (snap->next(e)) {
    }
    CHECK_FALSE(snap->at_end());
    CHECK(StatCache::load(tmp / "statcache").size() == 0);
    // Bytes after the last entry: not a clean end either.
    write_bytes(tmp / "statcache", whole + "x");
    snap = CacheSnapshot::read(tmp / "statcache");
    REQUIRE(snap);
    while (snap->next(e)) {
    }
    CHECK_FALSE(snap->at_end());
    CHECK(StatCache::load(tmp / "statcache").size() == 0);
}

TEST_CASE("a cache file of the first, text format still loads") {
    TempDir tmp;
    write_bytes(tmp / "statcache",
                "depsync-statcache 1\n" + std::string(40, 'a') + " 1 2 3 4 100644 0 a b\n");
    StatCache loaded = StatCache::load(tmp / "statcache");
    CHECK(loaded.size() == 1);
    StatKey k;
    k.mtime_ns = 1;
    k.ctime_ns = 2;
    k.size = 3;
    k.ino = 4;
    k.mode = 0100644;
    CHECK(loaded.find("a b", k) != nullptr);
    CHECK_FALSE(depsync::sync::CacheSnapshot::read(tmp / "statcache"));
}

TEST_CASE("folders named by their trees keep those ids through a save and load; a scan's put unnames them") {
    TempDir tmp;
    StatCache cache;
    cache.put("conf/a.xml", old_key, hash_blob("a"), scan_start);
    cache.put_other("conf", old_key, depsync::git::EntryKind::directory, {}, scan_start);
    cache.put_other("conf/empty", old_key, depsync::git::EntryKind::directory, {}, scan_start);
    CHECK_FALSE(cache.folders_named());
    CHECK(git_oid_is_zero(&cache.listing().at("conf").oid));

    depsync::git::TreeIds ids;
    const git_oid conf_tree = hash_blob("stand-in for the tree of conf");
    ids.set("conf", conf_tree);
    cache.name_folders(ids);
    // One folder still has no tree in `ids`: the cache does not stand for the release's listing.
    CHECK_FALSE(cache.folders_named());
    const git_oid empty_tree = hash_blob("stand-in for the empty tree");
    ids.set("conf/empty", empty_tree);
    cache.name_folders(ids);
    CHECK(cache.folders_named());

    cache.save(tmp / "statcache");
    StatCache loaded = StatCache::load(tmp / "statcache");
    CHECK(loaded.folders_named());
    const depsync::git::Listing listing = loaded.listing();
    CHECK(git_oid_equal(&listing.at("conf").oid, &conf_tree));
    CHECK(git_oid_equal(&listing.at("conf/empty").oid, &empty_tree));
    CHECK(listing.at("conf/a.xml").kind == depsync::git::EntryKind::file);

    // A scan that reads the folder again records it without a tree: named again only after the next write.
    loaded.put_other("conf", old_key, depsync::git::EntryKind::directory, {}, scan_start);
    CHECK_FALSE(loaded.folders_named());
}
