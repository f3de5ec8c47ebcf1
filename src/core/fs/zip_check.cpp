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
    std::uint64_t entry_count = 0;
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
    std::uint64_t limit = 0;  // the first end record; the directory must stop before it
};

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

std::optional<std::string> read_zip64_end(int fd, std::uint64_t locator_offset, Directory& dir) {
    std::array<unsigned char, zip64_locator_size> locator{};
    if (auto defect = read_at(fd, locator_offset, locator.data(), locator.size())) return defect;
    const std::uint64_t record_offset = le64(&locator[8]);
    if (le32(&locator[4]) != 0 || le32(&locator[16]) > 1) return "multi-disk archives are not supported";
    if (record_offset > locator_offset || locator_offset - record_offset < zip64_eocd_size)
        return "zip64 end record is out of place";

    std::array<unsigned char, zip64_eocd_size> record{};
    if (auto defect = read_at(fd, record_offset, record.data(), record.size())) return defect;
    if (le32(&record[0]) != zip64_eocd_signature) return "bad zip64 end record signature";
    if (le32(&record[16]) != 0 || le32(&record[20]) != 0 || le64(&record[24]) != le64(&record[32]))
        return "multi-disk archives are not supported";
    dir.entry_count = le64(&record[32]);
    dir.size = le64(&record[40]);
    dir.offset = le64(&record[48]);
    dir.limit = record_offset;
    return std::nullopt;
}

// Finds the end-of-central-directory record, searching backwards over a possible comment.
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
        const std::uint64_t record_end = eocd_offset + eocd_size + le16(eocd + 20);
        if (record_end > file_size) {
            // Either payload bytes that look like a signature, or a comment cut short.
            comment_cut = true;
            continue;
        }
        dir.entry_count = le16(eocd + 10);
        dir.size = le32(eocd + 12);
        dir.offset = le32(eocd + 16);
        dir.limit = eocd_offset;
        // Bytes after the comment are tolerated (as Java's ZipFile does) only when the record
        // really points at a central directory; otherwise this is payload, keep searching.
        if (record_end < file_size) {
            std::array<unsigned char, 4> signature{};
            const bool plausible = dir.entry_count > 0 && dir.offset <= eocd_offset &&
                                   dir.size <= eocd_offset - dir.offset &&
                                   !read_at(fd, dir.offset, signature.data(), signature.size()) &&
                                   le32(signature.data()) == central_signature;
            if (!plausible) continue;
        }
        if (eocd_offset >= zip64_locator_size) {
            std::array<unsigned char, 4> signature{};
            const std::uint64_t locator_offset = eocd_offset - zip64_locator_size;
            if (auto defect = read_at(fd, locator_offset, signature.data(), signature.size())) return defect;
            if (le32(signature.data()) == zip64_locator_signature)
                return read_zip64_end(fd, locator_offset, dir);
        }
        if (le16(eocd + 4) != 0 || le16(eocd + 6) != 0 || le16(eocd + 8) != le16(eocd + 10))
            return "multi-disk archives are not supported";
        if (dir.offset == 0xFFFFFFFF || dir.size == 0xFFFFFFFF) return "zip64 end records are missing";
        return std::nullopt;
    }
    if (comment_cut) return "truncated: end-of-central-directory comment is cut short";
    return "no end-of-central-directory record";
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

std::optional<std::string> check_local_header(int fd, std::uint64_t index, const EntryPlacement& placement,
                                              std::uint64_t data_limit) {
    if (placement.local_offset > data_limit || data_limit - placement.local_offset < local_header_size)
        return entry_defect(index, "local header lies outside the archive data");
    std::array<unsigned char, local_header_size> header{};
    if (auto defect = read_at(fd, placement.local_offset, header.data(), header.size())) return defect;
    if (le32(header.data()) != local_signature) return entry_defect(index, "bad local header signature");
    const std::uint64_t data_start =
        placement.local_offset + local_header_size + le16(&header[26]) + le16(&header[28]);
    if (data_start > data_limit || placement.compressed_size > data_limit - data_start)
        return entry_defect(index, "data extends past the start of the central directory");
    return std::nullopt;
}

std::optional<std::string> check_entries(int fd, const Directory& dir) {
    if (dir.size / central_header_size < dir.entry_count)
        return "central directory is too small for " + std::to_string(dir.entry_count) + " entries";
    const std::uint64_t end = dir.offset + dir.size;
    Window window(fd);
    std::uint64_t pos = dir.offset;
    for (std::uint64_t index = 0; index < dir.entry_count; ++index) {
        if (end - pos < central_header_size) return entry_defect(index, "central directory ends early");
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
        if (placement.compressed_size == 0xFFFFFFFF || placement.local_offset == 0xFFFFFFFF ||
            uncompressed == 0xFFFFFFFF) {
            if (auto defect = window.load(pos, record_size, end, record)) return defect;
            const unsigned char* extra = record + central_header_size + name_size;
            if (!apply_zip64_extra(extra, extra_size, uncompressed, placement))
                return entry_defect(index, "zip64 extra field is missing or short");
        }
        if (disk != 0 && disk != 0xFFFF) return "multi-disk archives are not supported";
        if (auto defect = check_local_header(fd, index, placement, dir.offset)) return defect;
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
    if (dir.offset > file_size || dir.size > file_size - dir.offset)
        return "central directory extends past end of file";
    if (dir.offset > dir.limit || dir.size > dir.limit - dir.offset)
        return "central directory overlaps the end record";
    // Writers put the end record(s) right after the directory; a gap means the record is not the
    // archive's own (say, one inside a comment or a stored inner zip) or data was prepended.
    if (dir.offset + dir.size != dir.limit)
        return "central directory does not end where the end record starts";
    return check_entries(fd, dir);
}

}  // namespace depsync::fs
