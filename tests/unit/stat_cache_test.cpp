#include "core/sync/stat_cache.hpp"

#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
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

TEST_CASE("an entry kept from an earlier scan stays a hit") {
    StatCache first;
    first.put("a.xml", old_key, hash_blob("a"), scan_start);
    const auto* hit = first.find("a.xml", old_key);
    REQUIRE(hit != nullptr);
    StatCache second;
    second.keep("a.xml", *hit);
    CHECK(second.find("a.xml", old_key) != nullptr);
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
