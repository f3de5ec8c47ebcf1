// The archive check against real zip readers: Java's ZipFile (what the server deploys with), Python's
// zipfile and unzip -t, over a corpus of real-shaped archives from the test support code.

#include <fcntl.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "core/fs/zip_check.hpp"
#include "support/temp_dir.hpp"
#include "support/zip_corpus.hpp"
#include "support/zip_readers.hpp"

namespace {

namespace stdfs = std::filesystem;
using depsync::testing::ReaderVerdict;
using depsync::testing::TempDir;
using depsync::testing::ZipSample;

std::optional<std::string> check(const stdfs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path.string());
    auto defect = depsync::fs::find_zip_defect(fd);
    ::close(fd);
    return defect;
}

std::vector<stdfs::path> paths_of(const std::vector<ZipSample>& samples) {
    std::vector<stdfs::path> paths;
    for (const auto& s : samples) paths.push_back(s.path);
    return paths;
}

struct Verdicts {
    std::vector<ReaderVerdict> java, python;
};

Verdicts read_all(const std::vector<ZipSample>& samples, const TempDir& work) {
    return {depsync::testing::java_zipfile_verdicts(paths_of(samples), work.path()),
            depsync::testing::python_zipfile_verdicts(paths_of(samples), work.path())};
}

}  // namespace

TEST_CASE("every archive in the corpus is read by Java, Python and unzip, and passes the archive check") {
    TempDir dir;
    const auto samples = depsync::testing::write_complete_zips(dir.path());
    const Verdicts readers = read_all(samples, dir);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        CAPTURE(samples[i].name);
        // The corpus itself is sound: every reference reader reads every entry.
        REQUIRE(readers.java[i] == std::nullopt);
        REQUIRE(readers.python[i] == std::nullopt);
        REQUIRE(depsync::testing::unzip_test_verdict(samples[i].path) == std::nullopt);
        CHECK(check(samples[i].path) == std::nullopt);
    }
}

TEST_CASE("a copy cut where a writer stops fails the archive check, as it fails Java's ZipFile") {
    TempDir dir;
    std::vector<ZipSample> cut;
    for (const auto& sample : depsync::testing::write_complete_zips(dir.path())) {
        auto copies = depsync::testing::write_truncated_copies(sample, dir.path());
        cut.insert(cut.end(), copies.begin(), copies.end());
    }
    REQUIRE(cut.size() > 80);
    const auto java = depsync::testing::java_zipfile_verdicts(paths_of(cut), dir.path());
    for (std::size_t i = 0; i < cut.size(); ++i) {
        CAPTURE(cut[i].name);
        CHECK(check(cut[i].path) != std::nullopt);
        // Where a complete archive precedes the cut one, Java reads that one instead: the check is
        // stricter there on purpose (the rest is a copy still being written).
        if (cut[i].earlier_archive == 0) CHECK(java[i] != std::nullopt);
    }
}

TEST_CASE("an end record that miscounts the entries is read by Java and passes the archive check") {
    TempDir dir;
    const auto samples = depsync::testing::write_miscounted_zips(dir.path());
    const auto java = depsync::testing::java_zipfile_verdicts(paths_of(samples), dir.path());
    for (std::size_t i = 0; i < samples.size(); ++i) {
        CAPTURE(samples[i].name);
        REQUIRE(java[i] == std::nullopt);
        CHECK(check(samples[i].path) == std::nullopt);
    }
}

TEST_CASE("a damaged archive fails the archive check and every reference reader") {
    TempDir dir;
    const auto damaged = depsync::testing::write_damaged_zips(dir.path());
    const Verdicts readers = read_all(damaged, dir);
    for (std::size_t i = 0; i < damaged.size(); ++i) {
        CAPTURE(damaged[i].name);
        CHECK(check(damaged[i].path) != std::nullopt);
        CHECK(readers.java[i] != std::nullopt);
        CHECK(readers.python[i] != std::nullopt);
        CHECK(depsync::testing::unzip_test_verdict(damaged[i].path) != std::nullopt);
    }
}
