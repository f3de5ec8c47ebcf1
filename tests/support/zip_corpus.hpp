#pragma once

// A corpus of real-shaped zip archives for the archive check and its interop tests: CApp-like content
// (artifacts.xml, a folder per artifact, stored jars of random bytes) in the layouts real writers
// produce, copies of them cut where a copy still being written stops, and damaged ones.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace depsync::testing {

struct ZipSample {
    std::string name;  // what it is, for test output
    std::filesystem::path path;
    // Bytes before the last archive that are a complete archive themselves: a copy cut short inside the
    // last one still holds that one, which Java then reads.
    std::uint64_t earlier_archive = 0;
    // Bytes after the archive's end record that belong to no archive (padding).
    std::uint64_t padding = 0;
};

// Complete archives in `dir`: written by the test writer (plain, empty, a comment at the end, data
// descriptors, zip64, zip64 with descriptors, a stub before the entries with offsets from the file's
// start or prepended as-is, one archive written twice back to back also in zip64, two different archives
// back to back, zeros padded after the end), and by the real `zip` and `jar`
// tools (deflated, streamed through a pipe, forced zip64, a stub adjusted by `zip -A`).
std::vector<ZipSample> write_complete_zips(const std::filesystem::path& dir);

// Archives whose end record counts fewer or more entries than the directory holds, as writers without
// zip64 leave it past 65,535 entries: Java's ZipFile reads them by the directory's size (unzip refuses).
std::vector<ZipSample> write_miscounted_zips(const std::filesystem::path& dir);

// Copies of `sample` in `dir`, cut where a copy still being written can stop: in the first entry of its
// last archive, after its entries before the directory, inside the directory, before the zip64 end
// record, before the end record, inside the comment, one byte short. Each name says where.
std::vector<ZipSample> write_truncated_copies(const ZipSample& sample, const std::filesystem::path& dir);

// Complete-length archives with one record damaged: a central record's signature, a local header's
// signature, a directory offset past the end of the file.
std::vector<ZipSample> write_damaged_zips(const std::filesystem::path& dir);

}  // namespace depsync::testing
