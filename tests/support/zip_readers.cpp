#include "support/zip_readers.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/process.hpp"

namespace depsync::testing {
namespace {

namespace stdfs = std::filesystem;

constexpr const char* java_reader = R"(import java.io.InputStream;
import java.util.Enumeration;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipException;
import java.util.zip.ZipFile;

public class ZipVerdicts {
    public static void main(String[] args) {
        byte[] buffer = new byte[65536];
        for (String path : args) {
            try (ZipFile zip = new ZipFile(path)) {
                Enumeration<? extends ZipEntry> entries = zip.entries();
                while (entries.hasMoreElements()) {
                    ZipEntry entry = entries.nextElement();
                    CRC32 crc = new CRC32();
                    try (InputStream in = zip.getInputStream(entry)) {
                        for (int n; (n = in.read(buffer)) > 0;) crc.update(buffer, 0, n);
                    }
                    if (crc.getValue() != entry.getCrc())
                        throw new ZipException(entry.getName() + ": CRC mismatch");
                }
                System.out.println("ok");
            } catch (Exception e) {
                System.out.println("refused: " + e.toString().replace('\n', ' '));
            }
        }
    }
}
)";

constexpr const char* python_reader = R"(import sys, zipfile
for path in sys.argv[1:]:
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
        print("ok" if bad is None else "refused: bad entry " + bad)
    except Exception as e:
        print("refused: " + repr(e).replace("\n", " "))
)";

std::vector<ReaderVerdict> verdicts_of(std::vector<std::string> argv,
                                       const std::vector<stdfs::path>& archives, const std::string& reader) {
    for (const auto& a : archives) argv.push_back(a.string());
    const ProcessResult r = run(argv);
    if (r.exit_code != 0) throw std::runtime_error(reader + " did not run: " + r.err);
    std::vector<ReaderVerdict> verdicts;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
        verdicts.push_back(line == "ok" ? ReaderVerdict{} : ReaderVerdict{line});
    if (verdicts.size() != archives.size())
        throw std::runtime_error(reader + " gave " + std::to_string(verdicts.size()) + " verdicts for " +
                                 std::to_string(archives.size()) + " archives: " + r.out + r.err);
    return verdicts;
}

stdfs::path write_source(const stdfs::path& path, const char* source) {
    std::ofstream(path) << source;
    return path;
}

}  // namespace

std::vector<ReaderVerdict> java_zipfile_verdicts(const std::vector<stdfs::path>& archives,
                                                 const stdfs::path& work) {
    return verdicts_of({"java", write_source(work / "ZipVerdicts.java", java_reader).string()}, archives,
                       "java");
}

std::vector<ReaderVerdict> python_zipfile_verdicts(const std::vector<stdfs::path>& archives,
                                                   const stdfs::path& work) {
    return verdicts_of({"python3", write_source(work / "zip_verdicts.py", python_reader).string()}, archives,
                       "python3");
}

ReaderVerdict unzip_test_verdict(const stdfs::path& archive) {
    const ProcessResult r = run({"unzip", "-tq", archive.string()});
    if (r.exit_code == 0 || r.exit_code == 1) return std::nullopt;
    return "exit " + std::to_string(r.exit_code) + ": " + r.out + r.err;
}

}  // namespace depsync::testing
