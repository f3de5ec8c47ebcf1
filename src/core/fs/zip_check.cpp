#include "core/fs/zip_check.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <system_error>
#include <vector>

namespace depsync::fs {
namespace {

// Record layouts from PKWARE's APPNOTE.TXT (sections 4.3.7, 4.3.12, 4.3.14-16).
constexpr std::uint32_t local_signature = 0x04034b50;
constexpr std::uint32_t central_signature = 0x02014b50;
constexpr std::uint32_t eocd_signature = 0x06054b50;
constexpr std::uint32_t zip64_eocd_signature = 0x06064b50;
constexpr std::uint32_t zip64_locator_signature = 0x07064b50;
constexpr std::uint64_t local_header_size = 30;
constexpr std::uint64_t central_header_size = 46;
constexpr std::uint64_t eocd_size = 22;
constexpr std::uint64_t zip64_eocd_size = 56;
constexpr std::uint64_t zip64_locator_size = 20;
constexpr std::uint64_t max_comment_size = 0xFFFF;
constexpr std::uint16_t zip64_extra_id = 0x0001;
constexpr std::uint32_t descriptor_signature = 0x08074b50;
// A 32-bit field whose value lives in a zip64 record.
constexpr std::uint64_t placeholder = 0xFFFFFFFF;

// Larger than the biggest possible central record (46 + 3 * 65535 bytes), so one record always
// fits, and small enough that memory stays bounded whatever the archive claims.
constexpr std::size_t window_capacity = 512 * 1024;

std::uint16_t le16(const unsigned char* p) {
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

std::uint32_t le32(const unsigned char* p) {
    return static_cast<std::uint32_t>(le16(p)) | (static_cast<std::uint32_t>(le16(p + 2)) << 16);
}

std::uint64_t le64(const unsigned char* p) {
    return static_cast<std::uint64_t>(le32(p)) | (static_cast<std::uint64_t>(le32(p + 4)) << 32);
}

// Reads exactly `size` bytes at `offset`; a short read means the file shrank under us.
std::optional<std::string> read_at(int fd, std::uint64_t offset, unsigned char* out, std::size_t size) {
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return "cannot read archive: " + std::system_category().message(errno);
        if (n == 0) return std::string("truncated while being checked");
        done += static_cast<std::size_t>(n);
    }
    return std::nullopt;
}

std::string entry_defect(std::uint64_t index, const char* what) {
    return "entry " + std::to_string(index + 1) + ": " + what;
}

// Where the central directory is, as stated by the end record(s).
struct Directory {
    std::uint64_t offset = 0;  // as stated: relative to where the archive starts
    std::uint64_t size = 0;
    std::uint64_t end = 0;         // where the end record(s) begin: the directory ends here
    std::uint64_t record_end = 0;  // the end of the end record and its comment
};

bool is_signature_at(int fd, std::uint64_t offset, std::uint32_t signature) {
    std::array<unsigned char, 4> bytes{};
    return !read_at(fd, offset, bytes.data(), bytes.size()) && le32(bytes.data()) == signature;
}

// Java's check for an end record that is not at the very end of the file: it must point at a central
// directory right before it, which points back at a local header.
bool points_at_directory(int fd, std::uint64_t eocd_offset, std::uint64_t size, std::uint64_t offset) {
    if (size > eocd_offset || offset > eocd_offset - size) return false;
    const std::uint64_t directory = eocd_offset - size;
    return is_signature_at(fd, directory, central_signature) &&
           is_signature_at(fd, directory - offset, local_signature);
}
// A sliding read buffer over the central directory, so a directory of any length is walked in
// bounded memory with few system calls.
class Window {
  public:
    explicit Window(int fd) : m_fd(fd) { m_buffer.reserve(window_capacity); }

    // Points `out` at `size` bytes starting at `offset`, reading ahead up to `end`. The caller
    // guarantees offset + size <= end and size <= window_capacity.
    std::optional<std::string> load(std::uint64_t offset, std::size_t size, std::uint64_t end,
                                    const unsigned char*& out) {
        if (offset < m_start || offset + size > m_start + m_buffer.size()) {
            const auto wanted = std::min<std::uint64_t>(window_capacity, end - offset);
            m_buffer.resize(static_cast<std::size_t>(wanted));
            m_start = offset;
            if (auto defect = read_at(m_fd, offset, m_buffer.data(), m_buffer.size())) return defect;
        }
        out = m_buffer.data() + (offset - m_start);
        return std::nullopt;
    }

  private:
    int m_fd;
    std::uint64_t m_start = 0;
    std::vector<unsigned char> m_buffer;
};

// Java's rule: the zip64 end record is read where the locator says; it replaces the end record's values
// only when it agrees with them (or they are placeholders). Otherwise the end record stands alone.
std::optional<std::string> read_zip64_end(int fd, std::uint64_t locator_offset, Directory& dir) {
    std::array<unsigned char, zip64_locator_size> locator{};
    if (auto defect = read_at(fd, locator_offset, locator.data(), locator.size())) return defect;
    if (le32(&locator[4]) != 0 || le32(&locator[16]) > 1) return "multi-disk archives are not supported";
    const std::uint64_t record_offset = le64(&locator[8]);
    if (record_offset > locator_offset || locator_offset - record_offset < zip64_eocd_size)
        return std::nullopt;
    std::array<unsigned char, zip64_eocd_size> record{};
    if (auto defect = read_at(fd, record_offset, record.data(), record.size())) return defect;
    if (le32(&record[0]) != zip64_eocd_signature) return std::nullopt;
    const std::uint64_t size = le64(&record[40]), offset = le64(&record[48]);
    if ((size != dir.size && dir.size != placeholder) || (offset != dir.offset && dir.offset != placeholder))
        return std::nullopt;
    if (le32(&record[16]) != 0 || le32(&record[20]) != 0) return "multi-disk archives are not supported";
    dir.size = size;
    dir.offset = offset;
    dir.end = record_offset;
    return std::nullopt;
}

// Java's search for the end record: backwards from the end of the file over at most a full comment. A
// record whose comment does not end the file counts only when it points at a real central directory
// (bytes padded after an archive); then a comment running past the end is a copy cut short.
std::optional<std::string> read_end_records(int fd, std::uint64_t file_size, Directory& dir) {
    if (file_size == 0) return "empty file";
    if (file_size < eocd_size) return "truncated: too short for a zip archive";

    const auto tail_size = static_cast<std::size_t>(std::min(file_size, eocd_size + max_comment_size));
    const std::uint64_t tail_offset = file_size - tail_size;
    std::vector<unsigned char> tail(tail_size);
    if (auto defect = read_at(fd, tail_offset, tail.data(), tail.size())) return defect;

    bool comment_cut = false;
    for (std::size_t i = tail_size - eocd_size + 1; i-- > 0;) {
        const unsigned char* eocd = tail.data() + i;
        if (le32(eocd) != eocd_signature) continue;
        const std::uint64_t eocd_offset = tail_offset + i;
        dir = Directory{le32(eocd + 16), le32(eocd + 12), eocd_offset,
                        eocd_offset + eocd_size + le16(eocd + 20)};
        if (dir.record_end != file_size) {
            // Either payload bytes that look like a signature, or a record with data after it.
            comment_cut = comment_cut || dir.record_end > file_size;
            if (!points_at_directory(fd, eocd_offset, dir.size, dir.offset)) continue;
            if (dir.record_end > file_size) return "truncated: end-of-central-directory comment is cut short";
        }
        if (le16(eocd + 4) != 0 || le16(eocd + 6) != 0) return "multi-disk archives are not supported";
        if (eocd_offset >= zip64_locator_size &&
            is_signature_at(fd, eocd_offset - zip64_locator_size, zip64_locator_signature))
            if (auto defect = read_zip64_end(fd, eocd_offset - zip64_locator_size, dir)) return defect;
        if (dir.offset == placeholder || dir.size == placeholder) return "zip64 end records are missing";
        return std::nullopt;
    }
    if (comment_cut) return "truncated: end-of-central-directory comment is cut short";
    return "no end-of-central-directory record";
}

// Bytes after the end record (and its comment) are padding to Java; when they begin another zip record,
// they are a second copy of the archive still being written.
std::optional<std::string> check_after_end(int fd, std::uint64_t record_end, std::uint64_t file_size) {
    if (record_end >= file_size) return std::nullopt;
    std::array<unsigned char, 4> bytes{};
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), file_size - record_end));
    if (auto defect = read_at(fd, record_end, bytes.data(), n)) return defect;
    for (const std::uint32_t signature :
         {local_signature, central_signature, eocd_signature, descriptor_signature, zip64_eocd_signature,
          zip64_locator_signature}) {
        std::array<unsigned char, 4> expected{};
        for (std::size_t k = 0; k < expected.size(); ++k)
            expected[k] = static_cast<unsigned char>(signature >> (8 * k));
        if (std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n), expected.begin()))
            return std::string("truncated: the data after the end record begins another archive");
    }
    return std::nullopt;
}

// Data before the archive is a stub (Java skips it), or an earlier archive that ends right where this one
// starts. Zip data that does not end so is an outer archive cut right after a stored inner zip.
std::optional<std::string> check_before_start(int fd, std::uint64_t start) {
    if (start < 4 || !is_signature_at(fd, 0, local_signature)) return std::nullopt;
    if (start >= eocd_size) {
        const auto window_size = static_cast<std::size_t>(std::min(start, eocd_size + max_comment_size));
        const std::uint64_t window_offset = start - window_size;
        std::vector<unsigned char> window(window_size);
        if (auto defect = read_at(fd, window_offset, window.data(), window.size())) return defect;
        for (std::size_t i = window_size - eocd_size + 1; i-- > 0;) {
            const unsigned char* eocd = window.data() + i;
            if (le32(eocd) == eocd_signature && window_offset + i + eocd_size + le16(eocd + 20) == start)
                return std::nullopt;
        }
    }
    return "truncated: the archive found at byte " + std::to_string(start) +
           " lies inside zip data that is not finished";
}

struct EntryPlacement {
    std::uint64_t compressed_size = 0;
    std::uint64_t local_offset = 0;
};

// Replaces 0xFFFFFFFF placeholders with the values from the zip64 extra field, which lists only
// the fields that overflowed, in a fixed order.
bool apply_zip64_extra(const unsigned char* extra, std::size_t extra_size, std::uint32_t uncompressed,
                       EntryPlacement& placement) {
    std::size_t pos = 0;
    while (pos + 4 <= extra_size) {
        const std::uint16_t id = le16(extra + pos);
        const std::size_t size = le16(extra + pos + 2);
        const unsigned char* data = extra + pos + 4;
        if (pos + 4 + size > extra_size) return false;
        if (id == zip64_extra_id) {
            std::size_t used = 0;
            auto take = [&](std::uint64_t& value) {
                if (used + 8 > size) return false;
                value = le64(data + used);
                used += 8;
                return true;
            };
            std::uint64_t ignored = 0;
            if (uncompressed == 0xFFFFFFFF && !take(ignored)) return false;
            if (placement.compressed_size == 0xFFFFFFFF && !take(placement.compressed_size)) return false;
            if (placement.local_offset == 0xFFFFFFFF && !take(placement.local_offset)) return false;
            return true;
        }
        pos += 4 + size;
    }
    return false;
}

// The directory's offsets count from `start`, where the archive begins in the file.
struct Layout {
    std::uint64_t start = 0;
    std::uint64_t directory = 0;
    std::uint64_t directory_size = 0;
};

std::optional<std::string> check_local_header(int fd, std::uint64_t index, const EntryPlacement& placement,
                                              const Layout& layout) {
    const std::uint64_t data_limit = layout.directory;
    if (placement.local_offset > data_limit - layout.start ||
        data_limit - layout.start - placement.local_offset < local_header_size)
        return entry_defect(index, "local header lies outside the archive data");
    const std::uint64_t header_offset = layout.start + placement.local_offset;
    std::array<unsigned char, local_header_size> header{};
    if (auto defect = read_at(fd, header_offset, header.data(), header.size())) return defect;
    if (le32(header.data()) != local_signature) return entry_defect(index, "bad local header signature");
    const std::uint64_t data_start =
        header_offset + local_header_size + le16(&header[26]) + le16(&header[28]);
    if (data_start > data_limit || placement.compressed_size > data_limit - data_start)
        return entry_defect(index, "data extends past the start of the central directory");
    return std::nullopt;
}

// Walks the directory's records until they fill it, as Java does: the entry count of the end record is not
// relied on (writers without zip64 let it wrap past 65,535 entries).
std::optional<std::string> check_entries(int fd, const Layout& layout) {
    const std::uint64_t end = layout.directory + layout.directory_size;
    Window window(fd);
    std::uint64_t pos = layout.directory;
    for (std::uint64_t index = 0; end - pos >= central_header_size; ++index) {
        const unsigned char* record = nullptr;
        if (auto defect = window.load(pos, central_header_size, end, record)) return defect;
        if (le32(record) != central_signature) return entry_defect(index, "bad central directory signature");
        const std::size_t name_size = le16(record + 28);
        const std::size_t extra_size = le16(record + 30);
        const std::size_t record_size = central_header_size + name_size + extra_size + le16(record + 32);
        if (end - pos < record_size) return entry_defect(index, "central directory record is cut short");

        EntryPlacement placement{le32(record + 20), le32(record + 42)};
        const std::uint32_t uncompressed = le32(record + 24);
        const std::uint16_t disk = le16(record + 34);
        if (placement.compressed_size == placeholder || placement.local_offset == placeholder ||
            uncompressed == placeholder) {
            if (auto defect = window.load(pos, record_size, end, record)) return defect;
            const unsigned char* extra = record + central_header_size + name_size;
            if (!apply_zip64_extra(extra, extra_size, uncompressed, placement))
                return entry_defect(index, "zip64 extra field is missing or short");
        }
        if (disk != 0 && disk != 0xFFFF) return "multi-disk archives are not supported";
        if (auto defect = check_local_header(fd, index, placement, layout)) return defect;
        pos += record_size;
    }
    if (pos != end) return "central directory size does not match its entries";
    return std::nullopt;
}

}  // namespace

bool is_archive_name(std::string_view file_name) {
    constexpr std::array<std::string_view, 5> extensions{".car", ".zip", ".jar", ".mar", ".aar"};
    if (file_name.size() < 4) return false;
    std::string suffix(file_name.substr(file_name.size() - 4));
    std::transform(suffix.begin(), suffix.end(), suffix.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
    return std::find(extensions.begin(), extensions.end(), suffix) != extensions.end();
}

std::optional<std::string> find_zip_defect(int fd) {
    struct stat info {};
    if (::fstat(fd, &info) != 0) return "cannot read archive: " + std::system_category().message(errno);
    const auto file_size = static_cast<std::uint64_t>(info.st_size);

    Directory dir;
    if (auto defect = read_end_records(fd, file_size, dir)) return defect;
    if (auto defect = check_after_end(fd, dir.record_end, file_size)) return defect;
    // An end record at the start of the file is an empty archive, whatever it says (Java).
    if (dir.end == 0) return std::nullopt;
    // The directory ends where the end record(s) begin; where it says it starts tells how much data
    // precedes the archive.
    if (dir.size > dir.end) return "central directory is larger than the data before the end record";
    Layout layout{0, dir.end - dir.size, dir.size};
    if (dir.offset > layout.directory) return "central directory offset lies past the directory";
    layout.start = layout.directory - dir.offset;
    if (auto defect = check_before_start(fd, layout.start)) return defect;
    return check_entries(fd, layout);
}

}  // namespace depsync::fs
