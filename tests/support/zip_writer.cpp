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
// "Made by" Unix (spec 3.0, or 4.5 for zip64), so the external attributes carry Unix permissions.
constexpr std::uint16_t made_by_unix = 3 << 8;
constexpr std::uint32_t file_mode = 0100644;
constexpr std::uint32_t directory_mode = 040755;
constexpr std::size_t chunk_size = 1 << 20;
constexpr std::uint32_t placeholder = 0xFFFFFFFF;
constexpr std::uint16_t descriptor_flag = 1 << 3;

class Bytes {
  public:
    Bytes& u16(std::uint32_t v) {
        m_data.push_back(static_cast<char>(v & 0xFF));
        m_data.push_back(static_cast<char>((v >> 8) & 0xFF));
        return *this;
    }
    Bytes& u32(std::uint32_t v) { return u16(v & 0xFFFF).u16(v >> 16); }
    Bytes& u64(std::uint64_t v) {
        return u32(static_cast<std::uint32_t>(v)).u32(static_cast<std::uint32_t>(v >> 32));
    }
    Bytes& text(std::string_view s) {
        m_data.append(s);
        return *this;
    }
    const std::string& data() const { return m_data; }

  private:
    std::string m_data;
};

std::uint32_t crc_of(std::uint32_t crc, const void* data, std::size_t size) {
    return static_cast<std::uint32_t>(::crc32(crc, static_cast<const Bytef*>(data), static_cast<uInt>(size)));
}

}  // namespace

ZipWriter::ZipWriter(const std::filesystem::path& path, ZipLayout layout)
    : m_path(path), m_out(path, std::ios::binary | std::ios::trunc), m_layout(std::move(layout)) {
    if (!m_out) throw std::runtime_error("cannot create " + path.string() + ": " + std::strerror(errno));
    write(m_layout.stub.data(), m_layout.stub.size());
}

void ZipWriter::write(const void* data, std::size_t size) {
    m_out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!m_out) throw std::runtime_error("cannot write " + m_path.string() + ": " + std::strerror(errno));
    m_offset += size;
}

// A 32-bit size or offset field: the value itself, or the zip64 placeholder.
std::uint32_t ZipWriter::field32(std::uint64_t value, const char* what) const {
    if (m_layout.zip64) return placeholder;
    if (value > std::numeric_limits<std::uint32_t>::max())
        throw std::runtime_error(std::string("cannot write zip: ") + what + " needs zip64");
    return static_cast<std::uint32_t>(value);
}

void ZipWriter::write_local_header(const Entry& entry) {
    const bool later = m_layout.data_descriptors;
    Bytes header;
    header.u32(0x04034b50).u16(m_layout.zip64 ? 45 : later ? 20 : 10).u16(later ? descriptor_flag : 0);
    header.u16(0).u16(dos_time).u16(dos_date).u32(later ? 0 : entry.crc);
    const std::uint32_t size = later && !m_layout.zip64 ? 0 : field32(entry.size, "entry size");
    header.u32(size).u32(size).u16(static_cast<std::uint32_t>(entry.name.size()));
    header.u16(m_layout.zip64 ? 20 : 0).text(entry.name);
    // The zip64 extra field of a local header holds both sizes (zero when a descriptor follows).
    if (m_layout.zip64) header.u16(0x0001).u16(16).u64(later ? 0 : entry.size).u64(later ? 0 : entry.size);
    write(header.data().data(), header.data().size());
}

void ZipWriter::write_descriptor(const Entry& entry) {
    if (!m_layout.data_descriptors) return;
    Bytes descriptor;
    descriptor.u32(0x08074b50).u32(entry.crc);
    if (m_layout.zip64)
        descriptor.u64(entry.size).u64(entry.size);
    else
        descriptor.u32(static_cast<std::uint32_t>(entry.size)).u32(static_cast<std::uint32_t>(entry.size));
    write(descriptor.data().data(), descriptor.data().size());
}

void ZipWriter::add_file(std::string_view name, std::string_view content) {
    Entry entry{std::string(name), crc_of(0, content.data(), content.size()), content.size(), m_offset,
                file_mode};
    field32(entry.size, "entry size");
    write_local_header(entry);
    write(content.data(), content.size());
    write_descriptor(entry);
    m_entries.push_back(std::move(entry));
}

void ZipWriter::add_random_file(std::string_view name, std::uint64_t size, Rng& rng) {
    Entry entry{std::string(name), 0, size, m_offset, file_mode};
    field32(size, "entry size");
    // The CRC is known only after the data is generated: write the header, stream the data, then
    // patch the CRC field (offset 14 of the local header), or write it in the descriptor.
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
    if (m_layout.data_descriptors) {
        write_descriptor(entry);
    } else {
        Bytes crc_field;
        crc_field.u32(crc);
        m_out.seekp(static_cast<std::streamoff>(entry.local_offset + 14));
        m_out.write(crc_field.data().data(), 4);
        m_out.seekp(static_cast<std::streamoff>(m_offset));
        if (!m_out) throw std::runtime_error("cannot write " + m_path.string() + ": " + std::strerror(errno));
    }
    m_entries.push_back(std::move(entry));
}

void ZipWriter::add_directory(std::string_view name) {
    Entry entry{std::string(name), 0, 0, m_offset, directory_mode};
    write_local_header(entry);
    write_descriptor(entry);
    m_entries.push_back(std::move(entry));
}

void ZipWriter::write_central_record(const Entry& entry) {
    const bool is_directory = !entry.name.empty() && entry.name.back() == '/';
    const bool later = m_layout.data_descriptors;
    Bytes record;
    record.u32(0x02014b50)
        .u16(made_by_unix | (m_layout.zip64 ? 45 : 30))
        .u16(m_layout.zip64 ? 45
             : later        ? 20
                            : 10);
    record.u16(later ? descriptor_flag : 0).u16(0).u16(dos_time).u16(dos_date).u32(entry.crc);
    record.u32(field32(entry.size, "entry size")).u32(field32(entry.size, "entry size"));
    record.u16(static_cast<std::uint32_t>(entry.name.size())).u16(m_layout.zip64 ? 28 : 0).u16(0).u16(0);
    // Internal attributes 0; external: Unix mode in the high half, MS-DOS directory bit low.
    record.u16(0).u32((entry.mode << 16) | (is_directory ? 0x10U : 0U));
    record.u32(field32(entry.local_offset, "offset")).text(entry.name);
    if (m_layout.zip64) record.u16(0x0001).u16(24).u64(entry.size).u64(entry.size).u64(entry.local_offset);
    write(record.data().data(), record.data().size());
}

// The zip64 end record and its locator, right before the end record.
void ZipWriter::write_zip64_end(std::uint64_t directory_offset) {
    const std::uint64_t record_offset = m_offset;
    Bytes end;
    end.u32(0x06064b50).u64(44).u16(made_by_unix | 45).u16(45).u32(0).u32(0);
    end.u64(m_entries.size())
        .u64(m_entries.size())
        .u64(record_offset - directory_offset)
        .u64(directory_offset);
    end.u32(0x07064b50).u32(0).u64(record_offset).u32(1);
    write(end.data().data(), end.data().size());
}

void ZipWriter::finish(std::string_view comment) {
    const std::uint64_t directory_offset = m_offset;
    for (const auto& entry : m_entries) write_central_record(entry);
    const std::uint64_t directory_size = m_offset - directory_offset;
    if (m_entries.size() > 0xFFFF && !m_layout.zip64)
        throw std::runtime_error("cannot write zip: more than 65535 entries needs zip64");
    if (comment.size() > 0xFFFF)
        throw std::runtime_error("cannot write zip: comment longer than 65535 bytes");
    if (m_layout.zip64) write_zip64_end(directory_offset);
    const std::uint32_t count = m_layout.zip64 ? 0xFFFF : static_cast<std::uint32_t>(m_entries.size());
    Bytes end;
    end.u32(0x06054b50).u16(0).u16(0).u16(count).u16(count);
    end.u32(field32(directory_size, "directory size")).u32(field32(directory_offset, "offset"));
    end.u16(static_cast<std::uint32_t>(comment.size())).text(comment);
    write(end.data().data(), end.data().size());
    m_out.close();
    if (!m_out) throw std::runtime_error("cannot write " + m_path.string() + ": " + std::strerror(errno));
}

}  // namespace depsync::testing
