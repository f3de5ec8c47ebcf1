#include "core/git/object_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "core/fs/unique_fd.hpp"
#include "core/git/handle.hpp"
#include "core/git/repository.hpp"
#include "support/random_util.hpp"
#include "support/temp_dir.hpp"

namespace stdfs = std::filesystem;
using depsync::fs::UniqueFd;
using depsync::git::Compression;
using depsync::git::ObjectWriter;
using depsync::git::to_hex;
using depsync::testing::TempDir;

namespace {

struct Run {
    int rc;
    std::string output;  // stdout and stderr
};

Run run(const std::string& command) {
    Run r{-1, {}};
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    int status = ::pclose(p);
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::string read_bytes(const stdfs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const stdfs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string random_bytes(std::size_t size, std::uint64_t seed) {
    depsync::testing::Rng rng(seed);
    std::string s(size, '\0');
    depsync::testing::fill_random(rng, reinterpret_cast<unsigned char*>(s.data()), s.size());
    return s;
}

UniqueFd open_read(const stdfs::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd);
    return fd;
}

std::uint64_t size_of(const stdfs::path& path) {
    return static_cast<std::uint64_t>(stdfs::file_size(path));
}

// fsck output without the notices an empty repository always prints.
std::string fsck_complaints(const stdfs::path& repo) {
    Run r = run("git -C " + repo.string() + " fsck --strict --no-dangling --no-progress");
    std::string complaints;
    std::size_t start = 0;
    while (start < r.output.size()) {
        std::size_t end = r.output.find('\n', start);
        if (end == std::string::npos) end = r.output.size();
        std::string line = r.output.substr(start, end - start);
        if (!line.empty() && line.rfind("notice:", 0) != 0) complaints += line + "\n";
        start = end + 1;
    }
    if (r.rc != 0) complaints += "exit code " + std::to_string(r.rc);
    return complaints;
}

std::vector<std::string> leftover_temp_objects(const stdfs::path& objects) {
    std::vector<std::string> found;
    for (const auto& e : stdfs::recursive_directory_iterator(objects))
        if (e.path().filename().string().rfind("tmp_", 0) == 0) found.push_back(e.path().string());
    return found;
}

std::size_t loose_object_count(const stdfs::path& objects) {
    std::size_t n = 0;
    for (const auto& e : stdfs::directory_iterator(objects)) {
        std::string name = e.path().filename().string();
        if (name.size() == 2 && e.is_directory())
            n += static_cast<std::size_t>(std::distance(stdfs::directory_iterator(e.path()), {}));
    }
    return n;
}

struct Repo {
    TempDir tmp;
    stdfs::path path = tmp / "repo.git";
    depsync::git::RepositoryPtr repo = depsync::git::init_bare(path, "main");
    stdfs::path objects = path / "objects";
};

// The blob's content as libgit2 reads it.
std::string libgit2_content(git_repository* repo, const git_oid& id) {
    git_blob* raw = nullptr;
    REQUIRE(git_blob_lookup(&raw, repo, &id) == 0);
    depsync::git::BlobPtr blob(raw);
    return std::string(static_cast<const char*>(git_blob_rawcontent(raw)),
                       static_cast<std::size_t>(git_blob_rawsize(raw)));
}

// The blob's content as the git command line reads it.
std::string cli_content(const Repo& r, const git_oid& id) {
    stdfs::path out = r.tmp / "cat-file.out";
    Run cat = run("git -C " + r.path.string() + " cat-file -p " + to_hex(id) + " > " + out.string());
    REQUIRE(cat.rc == 0);
    return read_bytes(out);
}

}  // namespace

TEST_CASE("blobs written by the object writer read back identically in libgit2 and git") {
    auto compression = GENERATE(Compression::store, Compression::fast);
    struct Sample {
        const char* what;
        std::string content;
    };
    auto sample = GENERATE(Sample{"an empty file", ""}, Sample{"a short text", "<api name=\"x\"/>\n"},
                           Sample{"text with a NUL and no final newline", std::string("a\0b\r\nc", 6)},
                           Sample{"a 5 MB random file", random_bytes(5u << 20, 42)},
                           Sample{"1 MB of zeros plus one byte", std::string((1u << 20) + 1, '\0')});
    INFO(sample.what << (compression == Compression::store ? ", stored" : ", deflated"));

    Repo r;
    stdfs::path file = r.tmp / "input";
    write_bytes(file, sample.content);
    ObjectWriter writer(r.objects);
    UniqueFd fd = open_read(file);
    git_oid id = writer.write_blob(fd.get(), size_of(file), compression);

    CHECK(writer.objects_written() == 1);
    CHECK(writer.bytes_written() == sample.content.size());
    CHECK(libgit2_content(r.repo.get(), id) == sample.content);
    CHECK(cli_content(r, id) == sample.content);
    CHECK(trimmed(run("git -C " + r.path.string() + " cat-file -t " + to_hex(id)).output) == "blob");
    CHECK(trimmed(run("git -C " + r.path.string() + " hash-object " + file.string()).output) == to_hex(id));
    CHECK(fsck_complaints(r.path).empty());
    CHECK(leftover_temp_objects(r.objects).empty());
}

TEST_CASE("blobs written from memory read back identically in libgit2 and git") {
    Repo r;
    ObjectWriter writer(r.objects);
    std::string target = "../synapse-configs/default/api";
    git_oid id = writer.write_blob(target);
    CHECK(libgit2_content(r.repo.get(), id) == target);
    CHECK(cli_content(r, id) == target);
    git_oid empty = writer.write_blob(std::string());
    CHECK(to_hex(empty) == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    CHECK(libgit2_content(r.repo.get(), empty).empty());
    CHECK(writer.objects_written() == 2);
    CHECK(fsck_complaints(r.path).empty());
}

TEST_CASE("stored objects are not deflated and fast ones are") {
    Repo r;
    stdfs::path file = r.tmp / "zeros";
    write_bytes(file, std::string(1u << 20, '\0'));
    ObjectWriter writer(r.objects);

    UniqueFd a = open_read(file);
    git_oid id = writer.write_blob(a.get(), size_of(file), Compression::store);
    std::string hex = to_hex(id);
    stdfs::path loose = r.objects / hex.substr(0, 2) / hex.substr(2);
    CHECK(size_of(loose) > (1u << 20));

    // Same content, same name: the second write finds the object present and keeps it.
    stdfs::remove(loose);
    UniqueFd b = open_read(file);
    git_oid again = writer.write_blob(b.get(), size_of(file), Compression::fast);
    CHECK(git_oid_equal(&id, &again));
    CHECK(size_of(loose) < (64u << 10));
    CHECK(cli_content(r, id) == std::string(1u << 20, '\0'));
}

TEST_CASE("writing a blob that already exists returns the same id and leaves no temp file") {
    Repo r;
    ObjectWriter writer(r.objects);
    git_oid first = writer.write_blob("same content\n");
    git_oid second = writer.write_blob("same content\n");
    CHECK(git_oid_equal(&first, &second));
    CHECK(loose_object_count(r.objects) == 1);
    CHECK(leftover_temp_objects(r.objects).empty());
    CHECK(libgit2_content(r.repo.get(), first) == "same content\n");
}

TEST_CASE("hash_blob gives the id git hash-object computes") {
    TempDir tmp;
    auto content = GENERATE(std::string(), std::string("x"), std::string("line\n"), random_bytes(3u << 20, 7),
                            std::string(100000, 'a'));
    stdfs::path file = tmp / "f";
    write_bytes(file, content);
    std::string expected = trimmed(run("git hash-object " + file.string()).output);
    REQUIRE(expected.size() == 40);

    UniqueFd fd = open_read(file);
    CHECK(to_hex(depsync::git::hash_blob(fd.get(), size_of(file))) == expected);
    CHECK(to_hex(depsync::git::hash_blob(content)) == expected);
}

TEST_CASE("hash_blob and write_blob agree on the id") {
    Repo r;
    std::string content = random_bytes(300000, 3);
    stdfs::path file = r.tmp / "f";
    write_bytes(file, content);
    ObjectWriter writer(r.objects);
    UniqueFd a = open_read(file);
    UniqueFd b = open_read(file);
    git_oid hashed = depsync::git::hash_blob(a.get(), content.size());
    git_oid written = writer.write_blob(b.get(), content.size(), Compression::store);
    CHECK(git_oid_equal(&hashed, &written));
}

TEST_CASE("a file that grew after it was stat'ed is reported as changing and nothing is stored") {
    Repo r;
    stdfs::path file = r.tmp / "growing.car";
    write_bytes(file, random_bytes(2u << 20, 1));
    std::uint64_t stat_size = size_of(file);
    // The deployer appends after depsync looked at the size.
    {
        std::ofstream out(file, std::ios::binary | std::ios::app);
        out << "more";
    }
    ObjectWriter writer(r.objects);
    auto compression = GENERATE(Compression::store, Compression::fast);
    UniqueFd fd = open_read(file);
    CHECK_THROWS_AS(writer.write_blob(fd.get(), stat_size, compression), depsync::git::FileChanged);
    CHECK(loose_object_count(r.objects) == 0);
    CHECK(leftover_temp_objects(r.objects).empty());
    CHECK(writer.objects_written() == 0);

    UniqueFd again = open_read(file);
    CHECK_THROWS_AS(depsync::git::hash_blob(again.get(), stat_size), depsync::git::FileChanged);
}

TEST_CASE("a file that keeps growing while the writer reads it is reported as changing") {
    Repo r;
    stdfs::path file = r.tmp / "growing.car";
    write_bytes(file, random_bytes(8u << 20, 5));
    std::uint64_t stat_size = size_of(file);
    UniqueFd fd = open_read(file);

    // A deployer still copying the archive in: appends until the writer is done.
    std::atomic<bool> done{false};
    std::promise<void> first_append;
    std::thread appender([&] {
        std::ofstream out(file, std::ios::binary | std::ios::app);
        const std::string chunk(64u << 10, 'z');
        bool signalled = false;
        while (!done) {
            out << chunk << std::flush;
            if (!signalled) first_append.set_value();
            signalled = true;
        }
    });
    first_append.get_future().wait();
    ObjectWriter writer(r.objects);
    auto compression = GENERATE(Compression::store, Compression::fast);
    bool changed = false;
    try {
        writer.write_blob(fd.get(), stat_size, compression);
    } catch (const depsync::git::FileChanged&) {
        changed = true;
    }
    done = true;
    appender.join();
    CHECK(changed);
    CHECK(loose_object_count(r.objects) == 0);
    CHECK(leftover_temp_objects(r.objects).empty());
}

TEST_CASE("a file that shrank after it was stat'ed is reported as changing") {
    Repo r;
    stdfs::path file = r.tmp / "shrinking.xml";
    write_bytes(file, std::string(5000, 'x'));
    ObjectWriter writer(r.objects);
    UniqueFd fd = open_read(file);
    CHECK_THROWS_AS(writer.write_blob(fd.get(), 6000, Compression::fast), depsync::git::FileChanged);
    CHECK(loose_object_count(r.objects) == 0);
    CHECK(leftover_temp_objects(r.objects).empty());
}

TEST_CASE("the writer reads from the descriptor's current offset") {
    Repo r;
    stdfs::path file = r.tmp / "f";
    write_bytes(file, "headerPAYLOAD");
    UniqueFd fd = open_read(file);
    REQUIRE(::lseek(fd.get(), 6, SEEK_SET) == 6);
    ObjectWriter writer(r.objects);
    git_oid id = writer.write_blob(fd.get(), 7, Compression::fast);
    CHECK(libgit2_content(r.repo.get(), id) == "PAYLOAD");
}
