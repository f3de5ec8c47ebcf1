// Reading refs from their files must agree with git and refuse anything it cannot be sure of.

#include "core/git/ref_file.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/git/handle.hpp"
#include "support/temp_dir.hpp"

namespace stdfs = std::filesystem;
using depsync::git::read_ref_file;
using depsync::git::to_hex;
using depsync::testing::TempDir;

namespace {

const std::string a(40, 'a'), b = "0123456789abcdef0123456789abcdef01234567";

void put(const stdfs::path& file, const std::string& text) {
    stdfs::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
}

std::string hex_of(const std::optional<git_oid>& id) {
    return id ? to_hex(*id) : std::string("none");
}

}  // namespace

TEST_CASE("a loose ref is read, and wins over packed-refs") {
    TempDir tmp;
    put(tmp / "refs/heads/main", a + "\n");
    put(tmp / "packed-refs", "# pack-refs with: peeled fully-peeled sorted \n" + b + " refs/heads/main\n");
    CHECK(hex_of(read_ref_file(tmp.path(), "refs/heads/main")) == a);
}

TEST_CASE("a packed ref is read, its peeled line and other refs skipped") {
    TempDir tmp;
    put(tmp / "packed-refs", "# pack-refs with: peeled fully-peeled sorted \n" + a +
                                 " refs/heads/mainline\n" + a + " refs/tags/r1\n^" + b + "\n" + b +
                                 " refs/heads/main\n");
    CHECK(hex_of(read_ref_file(tmp.path(), "refs/heads/main")) == b);
    CHECK(hex_of(read_ref_file(tmp.path(), "refs/tags/r1")) == a);
    CHECK(hex_of(read_ref_file(tmp.path(), "refs/heads/other")) == "none");
}

TEST_CASE("a missing, symbolic or malformed ref is not read") {
    TempDir tmp;
    CHECK(hex_of(read_ref_file(tmp.path(), "refs/heads/main")) == "none");
    auto text = GENERATE(std::string("ref: refs/heads/other\n"), a, a + "\n\n", a.substr(1) + "x\n",
                         std::string(39, 'a') + "\n", std::string(40, 'g') + "\n", std::string());
    put(tmp / "refs/heads/main", text);
    // Even with the ref in packed-refs: an unreadable loose file is doubt, not absence.
    put(tmp / "packed-refs", b + " refs/heads/main\n");
    CHECK(hex_of(read_ref_file(tmp.path(), "refs/heads/main")) == "none");
}

TEST_CASE("packed-refs whose last line lacks its newline is not trusted") {
    TempDir tmp;
    put(tmp / "packed-refs", b + " refs/heads/main");
    CHECK(hex_of(read_ref_file(tmp.path(), "refs/heads/main")) == "none");
}
