// The changes operators make to a deployment tree between releases (see tree_gen.hpp).

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <stdexcept>

#include "support/synapse_xml.hpp"
#include "support/tree_gen.hpp"

namespace depsync::testing {
namespace {

namespace stdfs = std::filesystem;

std::string shown_path(const stdfs::path& path, const stdfs::path& root) {
    return path.lexically_relative(root).generic_string();
}

bool is_hidden(const stdfs::path& path) {
    return path.filename().string().rfind('.', 0) == 0;
}

// CApps in carbonapps, sorted so that the same seed picks the same file everywhere.
std::vector<stdfs::path> list_capps(const stdfs::path& root) {
    std::vector<stdfs::path> capps;
    const stdfs::path dir = root / "carbonapps";
    if (!stdfs::is_directory(dir)) return capps;
    for (const auto& entry : stdfs::directory_iterator(dir))
        if (entry.is_regular_file() && parse_car_name(entry.path().filename().string()))
            capps.push_back(entry.path());
    std::sort(capps.begin(), capps.end());
    return capps;
}

const stdfs::path& pick_capp(const std::vector<stdfs::path>& capps, Rng& rng, const char* verb) {
    if (capps.empty()) throw std::runtime_error(std::string("cannot ") + verb + ": no CApp in carbonapps");
    return capps[rng() % capps.size()];
}

// XML artifacts anywhere in the tree, skipping dot-folders (such as a .git inside the tree).
std::vector<stdfs::path> list_xml(const stdfs::path& root) {
    std::vector<stdfs::path> files;
    for (auto it = stdfs::recursive_directory_iterator(root); it != stdfs::recursive_directory_iterator();
         ++it) {
        if (is_hidden(it->path())) {
            if (it->is_directory()) it.disable_recursion_pending();
            continue;
        }
        const auto extension = it->path().extension();
        if (it->is_regular_file() && (extension == ".xml" || extension == ".dbs"))
            files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

// `count` distinct elements, chosen by a partial Fisher-Yates shuffle.
std::vector<stdfs::path> pick_distinct(std::vector<stdfs::path> pool, std::size_t count, Rng& rng) {
    if (pool.size() < count)
        throw std::runtime_error("cannot pick " + std::to_string(count) + " files: only " +
                                 std::to_string(pool.size()) + " available");
    for (std::size_t i = 0; i < count; ++i) std::swap(pool[i], pool[i + rng() % (pool.size() - i)]);
    pool.resize(count);
    return pool;
}

std::string read_file(const stdfs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

// Inserts a revision comment before the closing root tag, so the file stays well-formed.
void edit_one(const stdfs::path& path, Rng& rng) {
    std::string xml = read_file(path);
    const auto closing = xml.rfind("</");
    const std::string note = "    <!-- revision " + random_token(rng, 16) + " -->\n";
    xml.insert(closing == std::string::npos ? xml.size() : closing, note);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << xml;
    out.close();
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string next_version(const std::string& version) {
    const auto dot = version.rfind('.');
    const std::string last = version.substr(dot == std::string::npos ? 0 : dot + 1);
    if (last.empty() || !std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return version + ".1";
    return version.substr(0, version.size() - last.size()) + std::to_string(std::stoull(last) + 1);
}

std::uint64_t payload_like(const stdfs::path& capp) {
    return std::max<std::uint64_t>(1024, stdfs::file_size(capp));
}

}  // namespace

std::string bump_version(const stdfs::path& root, Rng& rng) {
    const stdfs::path old_path = pick_capp(list_capps(root), rng, "bump a version");
    const CarName name = *parse_car_name(old_path.filename().string());
    std::string version = next_version(name.version);
    while (stdfs::exists(old_path.parent_path() / (name.app + "_" + version + ".car")))
        version = next_version(version);
    const stdfs::path new_path = old_path.parent_path() / (name.app + "_" + version + ".car");
    write_car(new_path, name.app, version, payload_like(old_path), rng);
    stdfs::remove(old_path);
    return "bumped " + shown_path(old_path, root) + " -> " + shown_path(new_path, root);
}

std::string rebuild_in_place(const stdfs::path& root, Rng& rng) {
    const stdfs::path path = pick_capp(list_capps(root), rng, "rebuild a CApp");
    const CarName name = *parse_car_name(path.filename().string());
    write_car(path, name.app, name.version, payload_like(path), rng);
    return "rebuilt " + shown_path(path, root) + " in place (" + std::to_string(stdfs::file_size(path)) +
           " bytes)";
}

std::string delete_app(const stdfs::path& root, Rng& rng) {
    const stdfs::path path = pick_capp(list_capps(root), rng, "delete a CApp");
    stdfs::remove(path);
    return "deleted " + shown_path(path, root);
}

std::string empty_folder(const stdfs::path& root, const stdfs::path& folder) {
    const stdfs::path dir = root / folder;
    if (!stdfs::is_directory(dir))
        throw std::runtime_error("cannot empty " + dir.string() + ": not a folder");
    std::vector<stdfs::path> entries;
    for (const auto& entry : stdfs::directory_iterator(dir)) entries.push_back(entry.path());
    for (const auto& entry : entries) stdfs::remove_all(entry);
    return "emptied " + folder.generic_string() + " (" + std::to_string(entries.size()) + " entries removed)";
}

std::string edit_xml(const stdfs::path& root, std::size_t count, Rng& rng) {
    for (const auto& path : pick_distinct(list_xml(root), count, rng)) edit_one(path, rng);
    return "edited " + std::to_string(count) + " XML files";
}

std::string standard_change(const stdfs::path& root, std::uint64_t seed) {
    constexpr std::size_t edits = 10;
    constexpr std::uint64_t capp_bytes = 256 * 1024;
    Rng rng(seed);
    const std::vector<stdfs::path> all_xml = list_xml(root);
    const std::vector<stdfs::path> edited = pick_distinct(all_xml, edits, rng);
    for (const auto& path : edited) edit_one(path, rng);

    // The server's own files are never deleted by a release; any other untouched artifact may be.
    static const std::set<std::string> kept{"synapse.xml", "registry.xml", "main.xml", "fault.xml"};
    std::vector<stdfs::path> deletable;
    std::copy_if(all_xml.begin(), all_xml.end(), std::back_inserter(deletable), [&](const stdfs::path& path) {
        return kept.count(path.filename().string()) == 0 &&
               std::find(edited.begin(), edited.end(), path) == edited.end();
    });
    const stdfs::path deleted = pick_distinct(deletable, 1, rng).front();
    stdfs::remove(deleted);

    const std::string noun(business_noun(static_cast<std::size_t>(rng() % business_noun_count())));
    stdfs::path capp;
    for (std::size_t n = 1; capp.empty() || stdfs::exists(capp); ++n)
        capp = root / "carbonapps" / (noun + "Change" + std::to_string(n) + "_1.0.0.car");
    write_car(capp, capp.filename().string().substr(0, capp.filename().string().rfind('_')), "1.0.0",
              capp_bytes, rng);

    return "edited " + std::to_string(edits) + " XML files, added " + shown_path(capp, root) + " (" +
           std::to_string(stdfs::file_size(capp)) + " bytes), deleted " + shown_path(deleted, root);
}

std::string release_change(const stdfs::path& root, std::uint64_t seed, std::uint64_t capp_bytes) {
    Rng rng(seed);
    const std::string edited = edit_xml(root, 10, rng);
    const std::vector<stdfs::path> capps = list_capps(root);
    if (capps.empty()) throw std::runtime_error("cannot make a release change: no CApp in carbonapps");
    const stdfs::path deleted = *std::max_element(
        capps.begin(), capps.end(),
        [](const auto& a, const auto& b) { return stdfs::file_size(a) < stdfs::file_size(b); });
    const std::string noun(business_noun(static_cast<std::size_t>(rng() % business_noun_count())));
    stdfs::path capp;
    for (std::size_t n = 1; capp.empty() || stdfs::exists(capp); ++n)
        capp = root / "carbonapps" / (noun + "Release" + std::to_string(n) + "_1.0.0.car");
    write_car(capp, capp.filename().string().substr(0, capp.filename().string().rfind('_')), "1.0.0",
              capp_bytes, rng);
    stdfs::remove(deleted);
    return edited + ", added " + shown_path(capp, root) + " (" + std::to_string(stdfs::file_size(capp)) +
           " bytes), deleted " + shown_path(deleted, root);
}

}  // namespace depsync::testing
