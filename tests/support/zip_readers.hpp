#pragma once

// Real zip readers as the reference for depsync's archive check: Java's java.util.zip.ZipFile (what the
// receiving server deploys with), Python's zipfile and Info-ZIP's `unzip -t`. Each verdict is std::nullopt
// when the reader opened the archive and read every entry to its end with a matching CRC, or the reader's
// reason for refusing it.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace depsync::testing {

using ReaderVerdict = std::optional<std::string>;

// One JVM for all archives (the source launcher compiles the reader once). `work` holds the reader's source.
std::vector<ReaderVerdict> java_zipfile_verdicts(const std::vector<std::filesystem::path>& archives,
                                                 const std::filesystem::path& work);

// zipfile.ZipFile(...).testzip() on each archive, in one interpreter.
std::vector<ReaderVerdict> python_zipfile_verdicts(const std::vector<std::filesystem::path>& archives,
                                                   const std::filesystem::path& work);

// `unzip -tq`: exit 0, or 1 for warnings only (such as data before the archive), reads it.
ReaderVerdict unzip_test_verdict(const std::filesystem::path& archive);

}  // namespace depsync::testing
