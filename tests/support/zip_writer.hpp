#pragma once

// A minimal zip writer for test data: STORED entries only (the payload is random, so compression
// would gain nothing), real CRC-32s, local headers, central directory and end record, so the
// result opens in unzip, Java, Python and depsync's own check. A layout adds what real writers also
// produce: a stub before the first entry, data descriptors, zip64 records.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/random_util.hpp"

namespace depsync::testing {

struct ZipLayout {
    // Bytes before the first entry, as in a self-extracting archive; the offsets count from the file's
    // start, as `zip -A` leaves them (prepending with `cat` instead keeps them relative to the archive).
    std::string stub;
    // CRC and sizes after each entry's data instead of in its local header, as streaming writers do.
    bool data_descriptors = false;
    // zip64 extra fields, end record and locator, with placeholders in every 32-bit size and offset
    // field and the entry counts, as writers do for archives above 4 GiB or 65,535 entries.
    bool zip64 = false;
};

class ZipWriter {
  public:
    // Creates (or truncates) the file; throws std::runtime_error when it cannot.
    explicit ZipWriter(const std::filesystem::path& path, ZipLayout layout = {});
    ZipWriter(const ZipWriter&) = delete;
    ZipWriter& operator=(const ZipWriter&) = delete;

    void add_file(std::string_view name, std::string_view content);
    // `size` bytes from `rng`, streamed in chunks so a 200 MB entry needs no 200 MB buffer.
    void add_random_file(std::string_view name, std::uint64_t size, Rng& rng);
    // `name` must end in '/'.
    void add_directory(std::string_view name);
    // Writes the central directory and the end record(s); the archive is incomplete until then.
    void finish(std::string_view comment = {});

    std::uint64_t size() const { return m_offset; }

  private:
    struct Entry {
        std::string name;
        std::uint32_t crc = 0;
        std::uint64_t size = 0;
        std::uint64_t local_offset = 0;
        std::uint32_t mode = 0;
    };

    void write_local_header(const Entry& entry);
    void write_descriptor(const Entry& entry);
    void write_central_record(const Entry& entry);
    void write_zip64_end(std::uint64_t directory_offset);
    void write(const void* data, std::size_t size);
    std::uint32_t field32(std::uint64_t value, const char* what) const;

    std::filesystem::path m_path;
    std::ofstream m_out;
    ZipLayout m_layout;
    std::uint64_t m_offset = 0;
    std::vector<Entry> m_entries;
};

}  // namespace depsync::testing
