#pragma once

// A minimal zip writer for test data: STORED entries only (the payload is random, so compression
// would gain nothing), real CRC-32s, local headers, central directory and end record, so the
// result opens in unzip, Java and depsync's own check. No zip64: test archives stay below 4 GiB.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/random_util.hpp"

namespace depsync::testing {

class ZipWriter {
  public:
    // Creates (or truncates) the file; throws std::runtime_error when it cannot.
    explicit ZipWriter(const std::filesystem::path& path);
    ZipWriter(const ZipWriter&) = delete;
    ZipWriter& operator=(const ZipWriter&) = delete;

    void add_file(std::string_view name, std::string_view content);
    // `size` bytes from `rng`, streamed in chunks so a 200 MB entry needs no 200 MB buffer.
    void add_random_file(std::string_view name, std::uint64_t size, Rng& rng);
    // `name` must end in '/'.
    void add_directory(std::string_view name);
    // Writes the central directory and the end record; the archive is incomplete until then.
    void finish(std::string_view comment = {});

    std::uint64_t size() const { return m_offset; }

  private:
    struct Entry {
        std::string name;
        std::uint32_t crc = 0;
        std::uint32_t size = 0;
        std::uint32_t local_offset = 0;
        std::uint32_t mode = 0;
    };

    void write_local_header(const Entry& entry);
    void write(const void* data, std::size_t size);

    std::filesystem::path m_path;
    std::ofstream m_out;
    std::uint64_t m_offset = 0;
    std::vector<Entry> m_entries;
};

}  // namespace depsync::testing
