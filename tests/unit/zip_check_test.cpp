#include "core/fs/zip_check.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"
#include "support/zip_corpus.hpp"
#include "support/zip_writer.hpp"

namespace {

namespace stdfs = std::filesystem;
using depsync::fs::find_zip_defect;
using depsync::fs::is_archive_name;
using depsync::testing::Rng;
using depsync::testing::TempDir;
using depsync::testing::ZipWriter;
using Bytes = std::vector<unsigned char>;

std::optional<std::string> defect_of(const stdfs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + path.string());
    auto defect = find_zip_defect(fd);
    ::close(fd);
    return defect;
}

Bytes read_bytes(const stdfs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const stdfs::path& path, const Bytes& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::uint32_t get16(const Bytes& b, std::size_t at) {
    return static_cast<std::uint32_t>(b[at] | (b[at + 1] << 8));
}
std::uint32_t get32(const Bytes& b, std::size_t at) {
    return get16(b, at) | (get16(b, at + 2) << 16);
}

void put(Bytes& b, std::size_t at, std::uint64_t value, int width) {
    for (int i = 0; i < width; ++i)
        b[at + static_cast<std::size_t>(i)] = static_cast<unsigned char>(value >> (8 * i));
}

void append(Bytes& b, std::uint64_t value, int width) {
    b.resize(b.size() + static_cast<std::size_t>(width));
    put(b, b.size() - static_cast<std::size_t>(width), value, width);
}

// Offset of the central record of entry `index` (0-based) in an archive without a comment.
std::size_t central_record(const Bytes& zip, std::size_t index) {
    std::size_t pos = get32(zip, zip.size() - 22 + 16);
    for (std::size_t i = 0; i < index; ++i)
        pos += 46 + get16(zip, pos + 28) + get16(zip, pos + 30) + get16(zip, pos + 32);
    return pos;
}

int run(const std::string& command) {
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A folder like a small CApp's content, zipped by the real `zip` command.
stdfs::path zip_with_cli(const TempDir& dir, const std::string& options) {
    const stdfs::path content = dir / "content";
    stdfs::create_directories(content / "OrdersAPI_1.0.0");
    std::ofstream(content / "artifacts.xml") << "<artifacts><artifact name=\"Orders\"/></artifacts>\n";
    std::ofstream(content / "OrdersAPI_1.0.0" / "artifact.xml") << "<artifact name=\"OrdersAPI\"/>\n";
    std::ofstream(content / "empty.txt").flush();
    Rng rng(42);
    Bytes random(3000);
    depsync::testing::fill_random(rng, random.data(), random.size());
    write_bytes(content / "OrdersAPI_1.0.0" / "connector.zip", random);
    const stdfs::path archive = dir / "cli.zip";
    REQUIRE(run("cd '" + content.string() + "' && zip -qrX " + options + " '" + archive.string() + "' .") ==
            0);
    return archive;
}

stdfs::path zip_with_writer(const TempDir& dir, int entries, std::uint64_t entry_size,
                            std::string_view comment = {}) {
    Rng rng(7);
    const stdfs::path archive = dir / "writer.zip";
    ZipWriter zip(archive);
    zip.add_file("artifacts.xml", "<artifacts/>\n");
    zip.add_directory("lib/");
    for (int i = 0; i < entries; ++i)
        zip.add_random_file("lib/part-" + std::to_string(i) + ".jar", entry_size, rng);
    zip.finish(comment);
    return archive;
}

// Rewrites a plain archive's end as zip64 writers do: zip64 record, locator, then an end record
// whose fields are placeholders.
Bytes to_zip64(const Bytes& zip) {
    const std::size_t eocd = zip.size() - 22;
    Bytes out(zip.begin(), zip.begin() + static_cast<std::ptrdiff_t>(eocd));
    const std::size_t record = out.size();
    append(out, 0x06064b50, 4);
    append(out, 44, 8);
    append(out, 45, 2);
    append(out, 45, 2);
    append(out, 0, 4);
    append(out, 0, 4);
    append(out, get16(zip, eocd + 10), 8);
    append(out, get16(zip, eocd + 10), 8);
    append(out, get32(zip, eocd + 12), 8);
    append(out, get32(zip, eocd + 16), 8);
    append(out, 0x07064b50, 4);
    append(out, 0, 4);
    append(out, record, 8);
    append(out, 1, 4);
    append(out, 0x06054b50, 4);
    append(out, 0, 4);
    append(out, 0xFFFFFFFF, 4);
    append(out, 0xFFFFFFFF, 4);
    append(out, 0xFFFFFFFF, 4);
    append(out, 0, 2);
    return out;
}

// Cuts a copy of `archive` to every length below `end` (default: its size) and above `begin` that is a
// multiple of `step` or lies in the last `tail` bytes, and returns the lengths that were wrongly found
// complete.
std::vector<std::uint64_t> complete_prefixes(const stdfs::path& archive, std::uint64_t step,
                                             std::uint64_t tail, std::uint64_t begin = 0,
                                             std::uint64_t end = 0) {
    const stdfs::path copy = archive.string() + ".cut";
    stdfs::copy_file(archive, copy, stdfs::copy_options::overwrite_existing);
    const std::uint64_t size = end ? end : stdfs::file_size(archive);
    const int fd = ::open(copy.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    std::vector<std::uint64_t> wrong;
    for (std::uint64_t length = size; length-- > begin + 1;) {
        if (length % step != 0 && size - length > tail) continue;
        REQUIRE(::ftruncate(fd, static_cast<off_t>(length)) == 0);
        if (!find_zip_defect(fd)) wrong.push_back(length);
    }
    ::close(fd);
    return wrong;
}

}  // namespace

TEST_CASE("archive names are recognised by their extension in any case") {
    for (const char* name :
         {"Orders_1.0.0.car", "ORDERS.CAR", "lib.Jar", "addressing-4.0.0.mar", "x.aar", "c.zip"})
        CHECK(is_archive_name(name));
    for (const char* name :
         {"synapse.xml", "Orders.car~", "Orders.car.bk", "car", "", "run-check.sh", "x.jarx"})
        CHECK_FALSE(is_archive_name(name));
}

TEST_CASE("an empty file is not a complete archive") {
    TempDir dir;
    std::ofstream(dir / "empty.car").flush();
    CHECK(defect_of(dir / "empty.car") == "empty file");
}

TEST_CASE("an empty zip holding only its end record is complete") {
    TempDir dir;
    ZipWriter(dir / "empty.zip").finish();
    REQUIRE(stdfs::file_size(dir / "empty.zip") == 22);
    CHECK(defect_of(dir / "empty.zip") == std::nullopt);
}

TEST_CASE("archives written by the zip command are complete, stored or deflated") {
    TempDir dir;
    const auto options = GENERATE(as<std::string>{}, "", "-0", "-9", "-fz");
    CAPTURE(options);
    CHECK(defect_of(zip_with_cli(dir, options)) == std::nullopt);
}

TEST_CASE("an archive streamed through zip's standard input is complete") {
    TempDir dir;
    REQUIRE(run("printf 'streamed payload' | zip -q '" + (dir / "streamed.zip").string() + "' -") == 0);
    CHECK(defect_of(dir / "streamed.zip") == std::nullopt);
    CHECK(complete_prefixes(dir / "streamed.zip", 1, 0).empty());
}

TEST_CASE("every truncation of an archive written by the zip command is a defect") {
    TempDir dir;
    const auto options = GENERATE(as<std::string>{}, "", "-0", "-fz");
    CAPTURE(options);
    CHECK(complete_prefixes(zip_with_cli(dir, options), 1, 0).empty());
}

TEST_CASE("every truncation of an archive written by the test generator is a defect") {
    TempDir dir;
    CHECK(complete_prefixes(zip_with_writer(dir, 3, 2000), 1, 0).empty());
    // A larger one: a spread of cuts through the data, and every cut near the directory.
    CHECK(complete_prefixes(zip_with_writer(dir, 20, 16000), 4093, 3000).empty());
}

TEST_CASE("a comment after the end record is accepted, even one holding an end-record signature") {
    TempDir dir;
    // The signature followed by zeros looks like the end record of an empty archive.
    const std::string tricky = "release 42 PK\x05\x06" + std::string(18, '\0') + " tail";
    const std::string comment =
        GENERATE_COPY(as<std::string>{}, "release 42", tricky, std::string(65535, 'c'));
    const auto archive = zip_with_writer(dir, 2, 500, comment);
    CHECK(defect_of(archive) == std::nullopt);
    // Every cut for short comments; for the longest one, a spread of cuts and all near the end.
    CHECK(complete_prefixes(archive, comment.size() > 1000 ? 251 : 1, 64).empty());
}

TEST_CASE("a comment added by the zip command is accepted") {
    TempDir dir;
    const auto archive = zip_with_cli(dir, "");
    REQUIRE(run("echo 'release 42' | zip -qz '" + archive.string() + "'") == 0);
    CHECK(defect_of(archive) == std::nullopt);
}

TEST_CASE("bytes after the end record are tolerated when it points at a real central directory") {
    TempDir dir;
    auto bytes = read_bytes(zip_with_writer(dir, 2, 500));
    bytes.insert(bytes.end(), 100, 0xAB);
    write_bytes(dir / "padded.zip", bytes);
    CHECK(defect_of(dir / "padded.zip") == std::nullopt);
}

TEST_CASE("zip64 end records are followed through their locator") {
    TempDir dir;
    auto zip64 = to_zip64(read_bytes(zip_with_writer(dir, 4, 700)));
    write_bytes(dir / "zip64.zip", zip64);
    CHECK(defect_of(dir / "zip64.zip") == std::nullopt);
    CHECK(complete_prefixes(dir / "zip64.zip", 1, 0).empty());

    const std::size_t record = get32(zip64, zip64.size() - 22 - 20 + 8);
    // As in Java, a locator pointing at no zip64 record leaves the end record alone, whose fields are
    // placeholders here.
    zip64[record] = 'X';
    write_bytes(dir / "bad-zip64.zip", zip64);
    CHECK(defect_of(dir / "bad-zip64.zip") == "zip64 end records are missing");
}

TEST_CASE("a damaged central directory record is reported with its entry number") {
    TempDir dir;
    auto bytes = read_bytes(zip_with_cli(dir, "-0"));
    bytes[central_record(bytes, 1)] = 'X';
    write_bytes(dir / "damaged.zip", bytes);
    CHECK(defect_of(dir / "damaged.zip") == "entry 2: bad central directory signature");
}

TEST_CASE("a local header without its signature is reported with its entry number") {
    TempDir dir;
    auto bytes = read_bytes(zip_with_writer(dir, 3, 500));
    bytes[get32(bytes, central_record(bytes, 2) + 42)] = 'X';
    write_bytes(dir / "damaged.zip", bytes);
    CHECK(defect_of(dir / "damaged.zip") == "entry 3: bad local header signature");
}

TEST_CASE("data that would run into the central directory is reported") {
    TempDir dir;
    auto bytes = read_bytes(zip_with_writer(dir, 3, 500));
    const std::size_t last = central_record(bytes, 4);
    put(bytes, last + 20, get32(bytes, last + 20) + 1, 4);
    write_bytes(dir / "damaged.zip", bytes);
    CHECK(defect_of(dir / "damaged.zip") == "entry 5: data extends past the start of the central directory");
}

TEST_CASE("a central directory said to lie past the end of the file is reported") {
    TempDir dir;
    auto bytes = read_bytes(zip_with_writer(dir, 3, 500));
    put(bytes, bytes.size() - 22 + 16, bytes.size() + 1000, 4);
    write_bytes(dir / "damaged.zip", bytes);
    CHECK(defect_of(dir / "damaged.zip") == "central directory offset lies past the directory");
}

TEST_CASE("central records that do not fill the directory exactly are reported") {
    TempDir dir;
    auto bytes = read_bytes(zip_with_writer(dir, 3, 500));
    // Ten bytes between the last record and the end record, counted in the directory's size.
    const std::size_t eocd = bytes.size() - 22;
    bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(eocd), 10, 0);
    put(bytes, eocd + 10 + 12, get32(bytes, eocd + 10 + 12) + 10, 4);
    write_bytes(dir / "damaged.zip", bytes);
    CHECK(defect_of(dir / "damaged.zip") == "central directory size does not match its entries");
}

TEST_CASE("a central directory larger than the data before the end record is reported") {
    TempDir dir;
    auto bytes = read_bytes(zip_with_writer(dir, 3, 500));
    put(bytes, bytes.size() - 22 + 12, bytes.size(), 4);
    write_bytes(dir / "damaged.zip", bytes);
    CHECK(defect_of(dir / "damaged.zip") ==
          "central directory is larger than the data before the end record");
}

TEST_CASE("the check leaves the descriptor open and its offset where it was") {
    TempDir dir;
    const auto archive = zip_with_writer(dir, 3, 500);
    const int fd = ::open(archive.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::lseek(fd, 123, SEEK_SET) == 123);
    CHECK(find_zip_defect(fd) == std::nullopt);
    CHECK(::lseek(fd, 0, SEEK_CUR) == 123);
    CHECK(::fcntl(fd, F_GETFD) != -1);
    ::close(fd);
}

TEST_CASE("a directory of twenty thousand entries is walked window by window") {
    TempDir dir;
    const stdfs::path archive = dir / "many.zip";
    {
        ZipWriter zip(archive);
        // Long names make the directory several windows long, so records straddle window edges.
        const std::string folder = "OrdersConnector_1.0.0/" + std::string(120, 'n') + "/";
        for (int i = 0; i < 20000; ++i) zip.add_file(folder + std::to_string(i) + ".xml", "<x/>");
        zip.finish();
    }
    CHECK(defect_of(archive) == std::nullopt);
    CHECK(complete_prefixes(archive, 100003, 1).empty());

    auto bytes = read_bytes(archive);
    bytes[central_record(bytes, 14999)] = 'X';
    write_bytes(dir / "damaged.zip", bytes);
    CHECK(defect_of(dir / "damaged.zip") == "entry 15000: bad central directory signature");
}

TEST_CASE("every cut of every archive in the corpus is a defect") {
    TempDir dir;
    for (const auto& sample : depsync::testing::write_complete_zips(dir.path())) {
        CAPTURE(sample.name);
        REQUIRE(defect_of(sample.path) == std::nullopt);
        // Cuts below an earlier complete archive's end, or inside padding, leave a complete archive.
        const std::uint64_t end = stdfs::file_size(sample.path) - sample.padding;
        CHECK(complete_prefixes(sample.path, 37, 400, sample.earlier_archive, end).empty());
    }
}

TEST_CASE("an archive followed by the start of another copy is a copy still being written") {
    TempDir dir;
    const auto once = read_bytes(zip_with_writer(dir, 3, 700));
    auto twice = once;
    twice.insert(twice.end(), once.begin(), once.end());
    write_bytes(dir / "twice.zip", twice);
    REQUIRE(defect_of(dir / "twice.zip") == std::nullopt);
    // Every length between one copy and two: the first is complete, the second is not finished.
    CHECK(complete_prefixes(dir / "twice.zip", 1, 0, once.size()).empty());
    write_bytes(dir / "started.zip",
                Bytes(twice.begin(), twice.begin() + static_cast<std::ptrdiff_t>(once.size() + 2)));
    CHECK(defect_of(dir / "started.zip") ==
          "truncated: the data after the end record begins another archive");
}

TEST_CASE("an outer archive cut right after a stored inner archive is not taken for the inner one") {
    TempDir dir;
    const auto inner = read_bytes(zip_with_writer(dir, 2, 600));
    const std::string inner_text(inner.begin(), inner.end());
    const bool first = GENERATE(true, false);
    CAPTURE(first);
    {
        Rng rng(5);
        ZipWriter outer(dir / "outer.car");
        if (!first) outer.add_random_file("lib/driver.jar", 900, rng);
        outer.add_file("lib/connector.zip", inner_text);
        outer.finish();
    }
    REQUIRE(defect_of(dir / "outer.car") == std::nullopt);
    // The copy so far ends with the inner archive, a complete zip after some data.
    auto outer = read_bytes(dir / "outer.car");
    const auto cut = static_cast<std::size_t>(get32(outer, outer.size() - 22 + 16));
    write_bytes(dir / "cut.car", Bytes(outer.begin(), outer.begin() + static_cast<std::ptrdiff_t>(cut)));
    CHECK(defect_of(dir / "cut.car") == "truncated: the archive found at byte " +
                                            std::to_string(cut - inner.size()) +
                                            " lies inside zip data that is not finished");
}

TEST_CASE("data before the archive is allowed: a stub, or an earlier archive") {
    TempDir dir;
    const auto plain = read_bytes(zip_with_writer(dir, 3, 700));
    Bytes stubbed(300, '#');
    stubbed.insert(stubbed.end(), plain.begin(), plain.end());
    write_bytes(dir / "stub.zip", stubbed);
    CHECK(defect_of(dir / "stub.zip") == std::nullopt);
    // Damage to the shifted archive is still found, with the offsets read from where it starts.
    stubbed[300 + get32(plain, central_record(plain, 2) + 42)] = 'X';
    write_bytes(dir / "stub-damaged.zip", stubbed);
    CHECK(defect_of(dir / "stub-damaged.zip") == "entry 3: bad local header signature");
}
