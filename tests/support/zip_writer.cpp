#include "support/zip_writer.hpp"

#include <zlib.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace depsync::testing {
namespace {

// A fixed timestamp (2024-01-01 00:00) keeps archives byte-identical for the same seed.
constexpr std::uint16_t dos_time = 0;
constexpr std::uint16_t dos_date = ((2024 - 1980) << 9) | (1 << 5) | 1;
// "Made by" Unix, spec 3.0, so the external attributes below carry Unix permissions.
constexpr std::uint16_t version_made_by = (3 << 8) | 30;
constexpr std::uint16_t version_needed = 10;
constexpr std::uint32_t file_mode = 0100644;
constexpr std::uint32_t directory_mode = 040755;
constexpr std::size_t chunk_size = 1 << 20;

class Bytes {
  public:
    Bytes& u16(std::uint32_t v) {
        m_data.push_back(static_cast<char>(v & 0xFF));
        m_data.push_back(static_cast<char>((v >> 8) & 0xFF));
        return *this;
    }
    Bytes& u32(std::uint32_t v) { return u16(v & 0xFFFF).u16(v >> 16); }
    Bytes& text(std::string_view s) {
        m_data.append(s);
        return *this;
    }
    const std::string& data() const { return m_data; }

  private:
    std::string m_data;
};

std::uint32_t checked_u32(std::uint64_t value, const char* what) {
    if (value > std::numeric_limits<std::uint32_t>::max())
        throw std::runtime_error(std::string("cannot write zip: ") + what + " needs zip64");
    return static_cast<std::uint32_t>(value);
}

std::uint32_t crc_of(std::uint32_t crc, const void* data, std::size_t size) {
    return static_cast<std::uint32_t>(::crc32(crc, static_cast<const Bytef*>(data), static_cast<uInt>(size)));
}

}  // namespace

ZipWriter::ZipWriter(const std::filesystem::path& path)
    : m_path(path), m_out(path, std::ios::binary | std::ios::trunc) {
    if (!m_out) throw std::runtime_error("cannot create " + path.string() + ": " + std::strerror(errno));
}

void ZipWriter::write(const void* data, std::size_t size) {
    m_out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!m_out) throw std::runtime_error("cannot write " + m_path.string() + ": " + std::strerror(errno));
    m_offset += size;
}

void ZipWriter::write_local_header(const Entry& entry) {
    Bytes header;
    header.u32(0x04034b50).u16(version_needed).u16(0).u16(0).u16(dos_time).u16(dos_date);
    header.u32(entry.crc).u32(entry.size).u32(entry.size);
    header.u16(static_cast<std::uint32_t>(entry.name.size())).u16(0).text(entry.name);
    write(header.data().data(), header.data().size());
}

void ZipWriter::add_file(std::string_view name, std::string_view content) {
    Entry entry{std::string(name), crc_of(0, content.data(), content.size()),
                checked_u32(content.size(), "entry size"), checked_u32(m_offset, "offset"), file_mode};
    write_local_header(entry);
    write(content.data(), content.size());
    m_entries.push_back(std::move(entry));
}

void ZipWriter::add_random_file(std::string_view name, std::uint64_t size, Rng& rng) {
    Entry entry{std::string(name), 0, checked_u32(size, "entry size"), checked_u32(m_offset, "offset"),
                file_mode};
    // The CRC is known only after the data is generated: write the header, stream the data, then
    // patch the CRC field (offset 14 of the local header).
    write_local_header(entry);
    std::vector<unsigned char> chunk(static_cast<std::size_t>(std::min<std::uint64_t>(size, chunk_size)));
    std::uint32_t crc = crc_of(0, nullptr, 0);
    for (std::uint64_t left = size; left > 0;) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
        fill_random(rng, chunk.data(), n);
        crc = crc_of(crc, chunk.data(), n);
        write(chunk.data(), n);
        left -= n;
    }
    entry.crc = crc;
    Bytes crc_field;
    crc_field.u32(crc);
    m_out.seekp(static_cast<std::streamoff>(entry.local_offset + 14));
    m_out.write(crc_field.data().data(), 4);
    m_out.seekp(static_cast<std::streamoff>(m_offset));
    if (!m_out) throw std::runtime_error("cannot write " + m_path.string() + ": " + std::strerror(errno));
    m_entries.push_back(std::move(entry));
}

void ZipWriter::add_directory(std::string_view name) {
    Entry entry{std::string(name), 0, 0, checked_u32(m_offset, "offset"), directory_mode};
    write_local_header(entry);
    m_entries.push_back(std::move(entry));
}

void ZipWriter::finish(std::string_view comment) {
    const std::uint32_t directory_offset = checked_u32(m_offset, "offset");
    for (const auto& entry : m_entries) {
        const bool is_directory = !entry.name.empty() && entry.name.back() == '/';
        Bytes record;
        record.u32(0x02014b50).u16(version_made_by).u16(version_needed).u16(0).u16(0);
        record.u16(dos_time).u16(dos_date).u32(entry.crc).u32(entry.size).u32(entry.size);
        record.u16(static_cast<std::uint32_t>(entry.name.size())).u16(0).u16(0).u16(0);
        // Internal attributes 0; external: Unix mode in the high half, MS-DOS directory bit low.
        record.u16(0).u32((entry.mode << 16) | (is_directory ? 0x10U : 0U)).u32(entry.local_offset);
        record.text(entry.name);
        write(record.data().data(), record.data().size());
    }
    const std::uint32_t count = checked_u32(m_entries.size(), "entry count");
    if (count > 0xFFFF) throw std::runtime_error("cannot write zip: more than 65535 entries needs zip64");
    if (comment.size() > 0xFFFF)
        throw std::runtime_error("cannot write zip: comment longer than 65535 bytes");
    Bytes end;
    end.u32(0x06054b50).u16(0).u16(0).u16(count).u16(count);
    end.u32(checked_u32(m_offset - directory_offset, "directory size")).u32(directory_offset);
    end.u16(static_cast<std::uint32_t>(comment.size())).text(comment);
    write(end.data().data(), end.data().size());
    m_out.close();
    if (!m_out) throw std::runtime_error("cannot write " + m_path.string() + ": " + std::strerror(errno));
}

}  // namespace depsync::testing
