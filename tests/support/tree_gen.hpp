#pragma once

// Deterministic test data shaped like a WSO2 Micro Integrator deployment directory
// (<MI_HOME>/repository/deployment/server), and the changes operators make to it. Used by unit and
// end-to-end tests and by the benchmark harness.
//
// Everything is driven by a std::mt19937_64 seeded by the caller, so the same seed gives
// byte-identical files on every machine. Failures throw std::runtime_error.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/random_util.hpp"

namespace depsync::testing {

enum class Profile {
    small,    // 5 CApps of a few KB to ~200 KB, a few dozen XML files
    typical,  // 30 CApps: mostly 5-100 KB, some 1-3 MB, a few 5-50 MB
    large,    // ~10,000 files, ~400 MB, two CApps of 100-200 MB
};

std::optional<Profile> parse_profile(std::string_view name);
std::string_view profile_name(Profile profile);

struct TreeSummary {
    std::size_t files = 0;
    std::size_t folders = 0;
    std::size_t empty_folders = 0;
    std::size_t capps = 0;
    std::uint64_t bytes = 0;
};

// Every folder of the layout, relative to the root, parents before children. generate_tree
// creates all of them, whichever profile leaves them empty.
const std::vector<std::string>& layout_folders();

// Fills `root` (created if missing; must hold nothing but dot-entries) with the MI layout:
// axis2modules/*.mar, carbonapps/*.car, synapse-configs/default/... with several folders left
// empty, dataservices/*.dbs, synapse-libs/*.zip, class-mediators/*.jar (plus the executable
// class-mediators/run-check.sh), userstores/*.xml. `scale` multiplies every file size, not the
// file counts, so a test can build a tiny tree of the large profile's shape.
TreeSummary generate_tree(const std::filesystem::path& root, Profile profile, std::uint64_t seed,
                          double scale = 1.0);

// Writes a CApp: a zip of STORED entries holding artifacts.xml and one folder per artifact
// (artifact.xml plus its file), with `payload_bytes` of random bytes spread over bundled
// connector and library entries so that nothing compresses.
void write_car(const std::filesystem::path& path, std::string_view app_name, std::string_view version,
               std::uint64_t payload_bytes, Rng& rng);

// Writes a zip of random entries (for .mar, .jar and synapse-libs .zip files).
void write_binary_archive(const std::filesystem::path& path, std::uint64_t payload_bytes, Rng& rng);

// Writes a CApp and cuts it off in the middle, as a reader sees a file still being copied.
// Returns the number of bytes kept.
std::uint64_t write_partial_zip(const std::filesystem::path& path, Rng& rng);

// Mutations. Each picks its targets through `rng` from sorted listings and returns a one-line
// description of what it did.

// Replaces one CApp X_a.b.c.car by X_a.b.(c+1).car with new content (the old file is removed).
std::string bump_version(const std::filesystem::path& root, Rng& rng);
// Rewrites one CApp under the same name with new content.
std::string rebuild_in_place(const std::filesystem::path& root, Rng& rng);
// Deletes one CApp.
std::string delete_app(const std::filesystem::path& root, Rng& rng);
// Deletes everything inside `folder` (relative to root) and keeps the folder itself.
std::string empty_folder(const std::filesystem::path& root, const std::filesystem::path& folder);
// Changes the content of `count` distinct XML files (.xml and .dbs), keeping them well-formed.
std::string edit_xml(const std::filesystem::path& root, std::size_t count, Rng& rng);
// The benchmark's unit of change: 10 edited XML files, one new 256 KB CApp, one deleted XML file.
std::string standard_change(const std::filesystem::path& root, std::uint64_t seed);
// The fleet benchmark's release: 10 edited XML files, one new CApp of `capp_bytes` (random, so it does not
// compress), and the largest other CApp deleted (a release replacing its biggest app, so that the tree keeps
// its size from one release to the next).
std::string release_change(const std::filesystem::path& root, std::uint64_t seed, std::uint64_t capp_bytes);

// CApp file names split as "<app>_<version>.car"; nullopt for other names.
struct CarName {
    std::string app;
    std::string version;
};
std::optional<CarName> parse_car_name(std::string_view file_name);

}  // namespace depsync::testing
