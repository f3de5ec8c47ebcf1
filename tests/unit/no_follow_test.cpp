#include "core/fs/no_follow.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "core/error.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace stdfs = std::filesystem;
using depsync::Error;
using depsync::ExitCode;
using depsync::fs::UniqueFd;
using depsync::testing::TempDir;

using Opener = std::function<UniqueFd(const stdfs::path&, const std::string&)>;

// The message of the Error `open` throws for `path`, with its exit code checked.
std::string refusal(const Opener& open, const stdfs::path& path) {
    try {
        open(path, "deployment directory");
    } catch (const Error& e) {
        CHECK(e.code() == ExitCode::usage);
        return e.what();
    }
    return "(opened)";
}

ino_t inode_of_fd(int fd) {
    struct stat st {};
    ::fstat(fd, &st);
    return st.st_ino;
}

}  // namespace

TEST_CASE("a deployment directory is opened only when no component of its path is a symlink") {
    TempDir t;
    stdfs::create_directories(t / "real/server");
    stdfs::create_directory_symlink(t / "real", t / "link-above");
    stdfs::create_directory_symlink(t / "real/server", t / "link-last");
    std::ofstream(t / "file") << "x";
    const Opener by_openat2 = depsync::fs::open_dir_no_symlinks;
    const Opener by_walk = depsync::fs::open_dir_by_walk;
    for (const Opener& open : {by_openat2, by_walk}) {
        UniqueFd fd = open(t / "real/server", "deployment directory");
        REQUIRE(fd);
        struct stat st {};
        REQUIRE(::stat((t / "real/server").c_str(), &st) == 0);
        CHECK(inode_of_fd(fd.get()) == st.st_ino);

        CHECK(refusal(open, t / "link-last") == "cannot open deployment directory " +
                                                    (t / "link-last").string() + ": " +
                                                    (t / "link-last").string() +
                                                    " is a symlink; depsync follows none there (set the real "
                                                    "path in the config)");
        CHECK(refusal(open, t / "link-above/server")
                  .find(": " + (t / "link-above").string() + " is a symlink") != std::string::npos);
        CHECK(refusal(open, t / "file/server").find((t / "file").string() + " is not a folder") !=
              std::string::npos);
        CHECK(refusal(open, t / "missing") ==
              "deployment directory " + (t / "missing").string() + " does not exist");
    }
}

TEST_CASE("a listed file is opened only while it is that regular file, and a FIFO never blocks") {
    TempDir t;
    std::ofstream(t / "a.xml") << "content";
    UniqueFd dir(::open(t.path().c_str(), O_RDONLY | O_DIRECTORY));
    struct stat seen {};
    REQUIRE(::fstatat(dir.get(), "a.xml", &seen, AT_SYMLINK_NOFOLLOW) == 0);
    std::string refused;

    SECTION("the same file") {
        UniqueFd fd = depsync::fs::open_listed_file(dir.get(), "a.xml", seen, refused);
        REQUIRE(fd);
        CHECK(refused.empty());
        CHECK((::fcntl(fd.get(), F_GETFL) & O_NONBLOCK) == 0);
    }
    SECTION("a FIFO put in its place") {
        REQUIRE(::mkfifo((t / "fifo").c_str(), 0644) == 0);
        REQUIRE(::rename((t / "fifo").c_str(), (t / "a.xml").c_str()) == 0);
        auto start = std::chrono::steady_clock::now();
        UniqueFd fd = depsync::fs::open_listed_file(dir.get(), "a.xml", seen, refused);
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(2));
        CHECK_FALSE(fd);
        CHECK(refused == "it is no longer a regular file (a FIFO, device or folder was put in its place)");
    }
    SECTION("another file put in its place") {
        std::ofstream(t / "other") << "content";
        REQUIRE(::rename((t / "other").c_str(), (t / "a.xml").c_str()) == 0);
        CHECK_FALSE(depsync::fs::open_listed_file(dir.get(), "a.xml", seen, refused));
        CHECK(refused == "another file was put in its place after it was listed");
    }
    SECTION("a symlink put in its place") {
        REQUIRE(::unlink((t / "a.xml").c_str()) == 0);
        REQUIRE(::symlink("/etc/passwd", (t / "a.xml").c_str()) == 0);
        CHECK_FALSE(depsync::fs::open_listed_file(dir.get(), "a.xml", seen, refused));
        CHECK(refused == "it became a symlink after it was listed");
    }
    SECTION("gone") {
        REQUIRE(::unlink((t / "a.xml").c_str()) == 0);
        CHECK_FALSE(depsync::fs::open_listed_file(dir.get(), "a.xml", seen, refused));
        CHECK(errno == ENOENT);
        CHECK(refused.empty());
    }
}
