#include "core/git/pack_receiver.hpp"

#include <git2/sys/odb_backend.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/git/handle.hpp"
#include "core/git/repository.hpp"
#include "support/random_util.hpp"
#include "support/temp_dir.hpp"

namespace stdfs = std::filesystem;
using depsync::git::check;
using depsync::testing::patterned;
using depsync::testing::TempDir;

namespace {

// A repository with `count` blobs of assorted sizes (one of them larger than any piece the tests use),
// and the pack of all of them.
struct Source {
    depsync::git::RepositoryPtr repo;
    std::vector<git_oid> blobs;
    std::string pack;
};

Source make_source(const stdfs::path& dir, int count) {
    Source src;
    src.repo = depsync::git::init_bare(dir, "main");
    git_packbuilder* raw = nullptr;
    check(git_packbuilder_new(&raw, src.repo.get()), "start pack");
    for (int i = 0; i < count; ++i) {
        std::size_t size = i == 0 ? (3u << 20) : static_cast<std::size_t>(i * 997 % 70000);
        std::string content = patterned(size, static_cast<unsigned>(i + 1));
        git_oid id;
        check(git_blob_create_from_buffer(&id, src.repo.get(), content.data(), content.size()), "write blob");
        check(git_packbuilder_insert(raw, &id, nullptr), "add to pack");
        src.blobs.push_back(id);
    }
    git_buf buf = GIT_BUF_INIT;
    check(git_packbuilder_write_buf(&buf, raw), "write pack");
    src.pack.assign(buf.ptr, buf.size);
    git_buf_dispose(&buf);
    git_packbuilder_free(raw);
    return src;
}

// Feeds `pack` to the object database's pack writer in pieces of the sizes given (cycled); returns the
// commit's result.
int receive(git_repository* repo, const std::string& pack, const std::vector<std::size_t>& sizes) {
    depsync::git::OdbPtr odb = depsync::git::open_odb(repo);
    git_odb_writepack* wp = nullptr;
    check(git_odb_write_pack(&wp, odb.get(), nullptr, nullptr), "start receiving");
    git_indexer_progress stats{};
    std::size_t at = 0;
    for (std::size_t i = 0; at < pack.size(); ++i) {
        std::size_t n = std::min(sizes[i % sizes.size()], pack.size() - at);
        if (wp->append(wp, pack.data() + at, n, &stats) < 0) {
            wp->free(wp);
            return -1;
        }
        at += n;
    }
    int rc = wp->commit(wp, &stats);
    wp->free(wp);
    return rc;
}

std::string read_object(git_repository* repo, const git_oid& id) {
    depsync::git::OdbPtr odb = depsync::git::open_odb(repo);
    git_odb_object* obj = nullptr;
    check(git_odb_read(&obj, odb.get(), &id), "read object");
    depsync::git::OdbObjectPtr owned(obj);
    return std::string(static_cast<const char*>(git_odb_object_data(obj)), git_odb_object_size(obj));
}

std::vector<stdfs::path> files_in(const stdfs::path& dir, const std::string& extension) {
    std::vector<stdfs::path> out;
    for (const auto& e : stdfs::directory_iterator(dir))
        if (e.path().extension() == extension) out.push_back(e.path());
    return out;
}

}  // namespace

TEST_CASE("a pack received in pieces holds every object sent, whatever sizes the bytes arrive in") {
    TempDir tmp;
    Source src = make_source(tmp.path() / "src.git", 60);
    // Pieces of 4 KiB and of 1 MiB; packets from 1 byte to larger than a piece (straight through).
    const std::size_t piece = GENERATE(std::size_t{4096}, std::size_t{1} << 20);
    const std::vector<std::size_t> arrivals =
        GENERATE(std::vector<std::size_t>{65515}, std::vector<std::size_t>{1, 7, 4095, 4096, 4097},
                 std::vector<std::size_t>{5u << 20}, std::vector<std::size_t>{100, 2u << 20, 3});
    depsync::git::RepositoryPtr dst = depsync::git::init_bare(tmp.path() / "dst.git", "main");
    depsync::git::receive_packs_in_pieces(dst.get(), piece);
    REQUIRE(receive(dst.get(), src.pack, arrivals) == 0);
    for (const git_oid& id : src.blobs) CHECK(read_object(dst.get(), id) == read_object(src.repo.get(), id));
    const stdfs::path pack_dir = tmp.path() / "dst.git" / "objects" / "pack";
    REQUIRE(files_in(pack_dir, ".pack").size() == 1);
    REQUIRE(files_in(pack_dir, ".idx").size() == 1);
    // The real git reads the result as its own.
    const std::string verify =
        "git verify-pack '" + files_in(pack_dir, ".idx")[0].string() + "' >/dev/null 2>&1";
    CHECK(std::system(verify.c_str()) == 0);
}

TEST_CASE("received bytes reach the pack file a piece at a time") {
    TempDir tmp;
    Source src = make_source(tmp.path() / "src.git", 30);
    depsync::git::RepositoryPtr dst = depsync::git::init_bare(tmp.path() / "dst.git", "main");
    depsync::git::receive_packs_in_pieces(dst.get(), 1u << 20);
    depsync::git::OdbPtr odb = depsync::git::open_odb(dst.get());
    git_odb_writepack* wp = nullptr;
    check(git_odb_write_pack(&wp, odb.get(), nullptr, nullptr), "start receiving");
    git_indexer_progress stats{};
    const stdfs::path pack_dir = tmp.path() / "dst.git" / "objects" / "pack";
    auto written = [&] {
        std::uintmax_t total = 0;
        for (const auto& e : stdfs::directory_iterator(pack_dir)) total += e.file_size();
        return total;
    };
    REQUIRE(wp->append(wp, src.pack.data(), 1000, &stats) == 0);
    CHECK(written() == 0);
    // Past the piece: what was held goes to the indexer, and the newest bytes wait for the next piece.
    REQUIRE(wp->append(wp, src.pack.data() + 1000, (1u << 20) - 500, &stats) == 0);
    CHECK(written() >= 1000);
    CHECK(written() < (1u << 20));
    REQUIRE(wp->append(wp, src.pack.data() + 1000 + (1u << 20) - 500,
                       src.pack.size() - 1000 - (1u << 20) + 500, &stats) == 0);
    REQUIRE(wp->commit(wp, &stats) == 0);
    wp->free(wp);
    CHECK(stats.indexed_objects == 30);
    CHECK(read_object(dst.get(), src.blobs[0]) == read_object(src.repo.get(), src.blobs[0]));
}

TEST_CASE("a damaged or cut pack received in pieces is refused and leaves no pack behind") {
    TempDir tmp;
    Source src = make_source(tmp.path() / "src.git", 40);
    depsync::git::RepositoryPtr dst = depsync::git::init_bare(tmp.path() / "dst.git", "main");
    depsync::git::receive_packs_in_pieces(dst.get(), 64u << 10);
    SECTION("a flipped byte in an object") {
        std::string damaged = src.pack;
        damaged[damaged.size() / 2] = static_cast<char>(damaged[damaged.size() / 2] ^ 0x5a);
        CHECK(receive(dst.get(), damaged, {65515}) < 0);
    }
    SECTION("cut short") {
        CHECK(receive(dst.get(), src.pack.substr(0, src.pack.size() - 5000), {65515}) < 0);
    }
    const stdfs::path pack_dir = tmp.path() / "dst.git" / "objects" / "pack";
    CHECK(files_in(pack_dir, ".pack").empty());
    CHECK(files_in(pack_dir, ".idx").empty());
    git_error_clear();
}
