#include "support/zip_corpus.hpp"

#include <fstream>
#include <iterator>
#include <stdexcept>

#include "support/process.hpp"
#include "support/random_util.hpp"
#include "support/zip_writer.hpp"

namespace depsync::testing {
namespace {

namespace stdfs = std::filesystem;
using Bytes = std::string;

Bytes read_bytes(const stdfs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const stdfs::path& path, const Bytes& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::uint64_t get(const Bytes& b, std::size_t at, int width) {
    std::uint64_t value = 0;
    for (int i = width; i-- > 0;)
        value = (value << 8) | static_cast<unsigned char>(b.at(at + static_cast<std::size_t>(i)));
    return value;
}

void put(Bytes& b, std::size_t at, std::uint64_t value, int width) {
    for (int i = 0; i < width; ++i)
        b.at(at + static_cast<std::size_t>(i)) = static_cast<char>(value >> (8 * i));
}

// A small CApp: its descriptor, one folder per artifact, stored jars of random bytes.
void add_capp(ZipWriter& zip, std::uint64_t seed) {
    Rng rng(seed);
    zip.add_file("artifacts.xml",
                 "<artifacts><artifact name=\"OrdersCApp\" version=\"1.0.0\"/></artifacts>\n");
    for (const char* artifact : {"OrdersAPI_1.0.0/", "OrdersEndpoint_1.0.0/"}) {
        zip.add_directory(artifact);
        zip.add_file(std::string(artifact) + "artifact.xml",
                     "<artifact name=\"" + std::string(artifact) + "\"/>\n");
        zip.add_random_file(std::string(artifact) + "lib/connector.jar", 3000 + seed % 500, rng);
    }
}

stdfs::path capp(const stdfs::path& path, ZipLayout layout = {}, std::uint64_t seed = 1,
                 std::string_view comment = {}) {
    ZipWriter zip(path, std::move(layout));
    add_capp(zip, seed);
    zip.finish(comment);
    return path;
}

// The content of a CApp as files, for the real tools to pack.
stdfs::path capp_folder(const stdfs::path& dir) {
    const stdfs::path content = dir / "capp-content";
    stdfs::create_directories(content / "OrdersAPI_1.0.0" / "lib");
    std::ofstream(content / "artifacts.xml") << "<artifacts><artifact name=\"OrdersCApp\"/></artifacts>\n";
    std::ofstream(content / "OrdersAPI_1.0.0" / "artifact.xml") << "<artifact name=\"OrdersAPI\"/>\n";
    std::string random(5000, '\0');
    Rng rng(3);
    fill_random(rng, reinterpret_cast<unsigned char*>(random.data()), random.size());
    write_bytes(content / "OrdersAPI_1.0.0" / "lib" / "connector.jar", random);
    return content;
}

void require_ok(const ProcessResult& r, const std::string& what) {
    if (r.exit_code != 0) throw std::runtime_error(what + " failed: " + r.err);
}

void add_tool_zips(const stdfs::path& dir, std::vector<ZipSample>& out) {
    const stdfs::path content = capp_folder(dir);
    const auto zip_with = [&](const std::string& name, const std::string& options) {
        const stdfs::path path = dir / name;
        require_ok(
            run({"sh", "-c", "zip -qrX " + options + " '" + path.string() + "' ."}, {}, content.string()),
            "zip " + options);
        return path;
    };
    out.push_back({"deflated by zip", zip_with("zip-deflated.car", "-9")});
    out.push_back({"forced zip64 by zip", zip_with("zip-zip64.car", "-fz")});
    const stdfs::path streamed = dir / "zip-streamed.car";
    require_ok(run({"sh", "-c", "zip -qrX - . | cat > '" + streamed.string() + "'"}, {}, content.string()),
               "zip -");
    out.push_back({"streamed through a pipe by zip (data descriptors)", streamed});
    // A self-extracting archive: a stub, then the zip, then `zip -A` adjusts the offsets.
    const stdfs::path sfx = dir / "zip-sfx.car";
    write_bytes(sfx, "#!/bin/sh\nexec unzip \"$0\"\n" + read_bytes(zip_with("zip-plain.car", "")));
    require_ok(run({"zip", "-qA", sfx.string()}), "zip -A");
    out.push_back({"self-extracting stub adjusted by zip -A", sfx});
    const stdfs::path jar = dir / "jar-written.car";
    require_ok(run({"jar", "--create", "--no-manifest", "--file", jar.string(), "-C", content.string(), "."}),
               "jar");
    out.push_back({"written by Java's jar tool", jar});
}

// Where the last archive of a file lies, read the way Java reads it (for choosing cut points).
struct Shape {
    std::size_t start = 0, directory = 0, zip64_end = 0, end_record = 0, comment = 0, record_end = 0;
};

Shape shape_of(const Bytes& b) {
    for (std::size_t i = b.size() - 22 + 1; i-- > 0;) {
        if (get(b, i, 4) != 0x06054b50 || i + 22 + get(b, i + 20, 2) > b.size()) continue;
        Shape s;
        s.end_record = i;
        s.comment = get(b, i + 20, 2);
        s.record_end = i + 22 + s.comment;
        std::uint64_t size = get(b, i + 12, 4), offset = get(b, i + 16, 4);
        std::size_t directory_end = i;
        if (i >= 20 && get(b, i - 20, 4) == 0x07064b50) {
            s.zip64_end = i - 20 - 56;
            size = get(b, s.zip64_end + 40, 8);
            offset = get(b, s.zip64_end + 48, 8);
            directory_end = s.zip64_end;
        }
        s.directory = directory_end - size;
        s.start = s.directory - offset;
        return s;
    }
    throw std::runtime_error("no end record");
}

}  // namespace

std::vector<ZipSample> write_complete_zips(const stdfs::path& dir) {
    std::vector<ZipSample> out;
    out.push_back({"plain", capp(dir / "plain.car")});
    ZipWriter(dir / "empty.zip").finish();
    out.push_back({"empty", dir / "empty.zip"});
    out.push_back({"comment at the end", capp(dir / "comment.car", {}, 2, "built by release 42")});
    out.push_back({"data descriptors", capp(dir / "descriptors.car", {"", true, false})});
    out.push_back({"zip64", capp(dir / "zip64.car", {"", false, true})});
    out.push_back({"zip64 with data descriptors", capp(dir / "zip64-descriptors.car", {"", true, true})});
    const std::string stub = "#!/bin/sh\necho self-extracting stub\nexit 0\n" + std::string(300, '#') + "\n";
    out.push_back(
        {"stub, offsets from the file's start", capp(dir / "stub-adjusted.car", {stub, false, false})});

    const Bytes plain = read_bytes(dir / "plain.car");
    const auto derived = [&](const std::string& name, const std::string& file, const Bytes& bytes,
                             std::uint64_t earlier = 0, std::uint64_t padding = 0) {
        write_bytes(dir / file, bytes);
        out.push_back({name, dir / file, earlier, padding});
    };
    derived("stub prepended as-is", "stub-prepended.car", stub + plain);
    derived("written twice back to back", "twice.car", plain + plain, plain.size());
    const Bytes zip64 = read_bytes(dir / "zip64.car");
    derived("zip64 written twice back to back", "zip64-twice.car", zip64 + zip64, zip64.size());
    derived("two archives back to back", "two.car", plain + read_bytes(dir / "comment.car"), plain.size());
    derived("zeros padded after the end", "padded.car", plain + std::string(100, '\0'), 0, 100);
    add_tool_zips(dir, out);
    return out;
}

std::vector<ZipSample> write_miscounted_zips(const stdfs::path& dir) {
    const Bytes plain = read_bytes(capp(dir / "counted.car"));
    std::vector<ZipSample> out;
    for (const std::uint64_t count : {std::uint64_t{3}, std::uint64_t{9}}) {
        Bytes bytes = plain;
        put(bytes, bytes.size() - 22 + 8, count, 2);
        put(bytes, bytes.size() - 22 + 10, count, 2);
        const stdfs::path path = dir / ("count-" + std::to_string(count) + ".car");
        write_bytes(path, bytes);
        out.push_back({"an end record that counts " + std::to_string(count) + " entries of 7", path});
    }
    return out;
}

std::vector<ZipSample> write_truncated_copies(const ZipSample& sample, const stdfs::path& dir) {
    const Bytes bytes = read_bytes(sample.path);
    const Shape s = shape_of(bytes);
    std::vector<std::pair<std::string, std::size_t>> cuts{
        {"after its entries, before the directory", s.directory},
        {"inside the directory", (s.directory + (s.zip64_end ? s.zip64_end : s.end_record)) / 2},
        {"before the end record", s.end_record},
        {"one byte short", s.record_end - 1},
    };
    if (s.directory > s.start + 40) cuts.push_back({"in the first entry", s.start + 40});
    if (s.zip64_end) cuts.push_back({"before the zip64 end record", s.zip64_end});
    if (s.zip64_end) cuts.push_back({"before the zip64 locator", s.zip64_end + 56});
    if (s.comment > 1) cuts.push_back({"inside the comment", s.end_record + 22 + s.comment / 2});
    std::vector<ZipSample> out;
    for (const auto& [where, length] : cuts) {
        if (length == 0 || length >= bytes.size()) continue;
        const stdfs::path path =
            dir / (sample.path.stem().string() + "-cut-" + std::to_string(length) + ".car");
        write_bytes(path, bytes.substr(0, length));
        out.push_back({sample.name + ", cut " + where + " (at " + std::to_string(length) + ")", path,
                       length > sample.earlier_archive ? sample.earlier_archive : 0});
    }
    return out;
}

std::vector<ZipSample> write_damaged_zips(const stdfs::path& dir) {
    const Bytes plain = read_bytes(capp(dir / "intact.car"));
    const Shape s = shape_of(plain);
    std::vector<ZipSample> out;
    const auto damaged = [&](const std::string& name, std::size_t at, std::uint64_t value, int width) {
        Bytes bytes = plain;
        put(bytes, at, value, width);
        const stdfs::path path = dir / ("damaged-" + std::to_string(out.size()) + ".car");
        write_bytes(path, bytes);
        out.push_back({name, path});
    };
    damaged("a central record's signature damaged", s.directory, 0x02014b58, 4);
    damaged("a local header's signature damaged", get(plain, s.directory + 42, 4), 0x04034b58, 4);
    damaged("a directory offset past the end of the file", s.end_record + 16, plain.size() + 1000, 4);
    return out;
}

}  // namespace depsync::testing
