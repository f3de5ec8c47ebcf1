#include "support/tree_gen.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>

#include "core/fs/zip_check.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace stdfs = std::filesystem;
namespace dt = depsync::testing;
using depsync::testing::TempDir;

std::string read_file(const stdfs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

// Relative path -> content, for every regular file under `root`.
std::map<std::string, std::string> snapshot(const stdfs::path& root) {
    std::map<std::string, std::string> files;
    for (const auto& entry : stdfs::recursive_directory_iterator(root))
        if (entry.is_regular_file())
            files[entry.path().lexically_relative(root).generic_string()] = read_file(entry.path());
    return files;
}

struct Diff {
    std::vector<std::string> added, removed, changed;
};

Diff diff(const std::map<std::string, std::string>& before, const std::map<std::string, std::string>& after) {
    Diff d;
    for (const auto& [path, content] : after) {
        const auto it = before.find(path);
        if (it == before.end())
            d.added.push_back(path);
        else if (it->second != content)
            d.changed.push_back(path);
    }
    for (const auto& [path, content] : before)
        if (after.count(path) == 0) d.removed.push_back(path);
    return d;
}

std::vector<std::string> capp_names(const stdfs::path& root) {
    std::vector<std::string> names;
    for (const auto& entry : stdfs::directory_iterator(root / "carbonapps"))
        names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

std::optional<std::string> zip_defect(const stdfs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "cannot open";
    auto defect = depsync::fs::find_zip_defect(fd);
    ::close(fd);
    return defect;
}

bool unzip_accepts(const stdfs::path& path) {
    const int status = std::system(("unzip -tq '" + path.string() + "' >/dev/null 2>&1").c_str());
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

TEST_CASE("generated CApps and other archives pass unzip's test and the zip check") {
    TempDir dir;
    dt::generate_tree(dir / "server", dt::Profile::small, 11);
    std::map<std::string, int> archives_by_extension;
    for (const auto& entry : stdfs::recursive_directory_iterator(dir / "server")) {
        if (!entry.is_regular_file() || !depsync::fs::is_archive_name(entry.path().filename().string()))
            continue;
        CAPTURE(entry.path());
        CHECK(unzip_accepts(entry.path()));
        CHECK(zip_defect(entry.path()) == std::nullopt);
        ++archives_by_extension[entry.path().extension().string()];
    }
    CHECK(archives_by_extension[".car"] == 5);
    CHECK(archives_by_extension[".mar"] > 0);
    CHECK(archives_by_extension[".jar"] > 0);
    CHECK(archives_by_extension[".zip"] > 0);
}

TEST_CASE("a CApp holds artifacts.xml and its payload in stored, incompressible entries") {
    TempDir dir;
    dt::Rng rng(3);
    const stdfs::path car = dir / "Orders_1.0.0.car";
    dt::write_car(car, "Orders", "1.0.0", 300 * 1024, rng);
    const auto size = stdfs::file_size(car);
    CHECK(size >= 300 * 1024);
    CHECK(size < 320 * 1024);
    CHECK(std::system(
              ("unzip -p '" + car.string() + "' artifacts.xml | grep -q 'name=\"Orders\" version=\"1.0.0\"'")
                  .c_str()) == 0);
    // gzip shrinks nothing that is random; allow the few KB of XML in the archive to compress.
    const std::string gz = (dir / "car.gz").string();
    REQUIRE(std::system(("gzip -c '" + car.string() + "' > '" + gz + "'").c_str()) == 0);
    CHECK(stdfs::file_size(gz) > size - 16 * 1024);
}

TEST_CASE("the same seed gives an identical tree and another seed a different one") {
    TempDir dir;
    dt::generate_tree(dir / "a", dt::Profile::small, 5);
    dt::generate_tree(dir / "b", dt::Profile::small, 5);
    dt::generate_tree(dir / "c", dt::Profile::small, 6);
    const auto a = snapshot(dir / "a");
    CHECK(a == snapshot(dir / "b"));
    CHECK(a != snapshot(dir / "c"));
}

TEST_CASE("every layout folder exists and several are left empty") {
    TempDir dir;
    const auto profile = GENERATE(dt::Profile::small, dt::Profile::typical);
    CAPTURE(dt::profile_name(profile));
    const auto summary = dt::generate_tree(dir / "server", profile, 1, 0.001);
    for (const auto& folder : dt::layout_folders()) CHECK(stdfs::is_directory(dir / "server" / folder));
    CHECK(stdfs::is_empty(dir / "server" / "synapse-configs/default/imports"));
    CHECK(stdfs::is_empty(dir / "server" / "synapse-configs/default/tasks"));
    CHECK(summary.empty_folders >= 3);
    CHECK(summary.folders == dt::layout_folders().size());
}

TEST_CASE("the large profile at a tiny scale keeps its shape of ten thousand files") {
    TempDir dir;
    const auto summary = dt::generate_tree(dir / "server", dt::Profile::large, 2, 0.0005);
    CHECK(summary.files > 9500);
    CHECK(summary.files < 10500);
    CHECK(summary.capps == 67);
    CHECK(summary.bytes < 20 * 1024 * 1024);
    CHECK(summary.folders == dt::layout_folders().size());
    CHECK(stdfs::is_empty(dir / "server" / "synapse-configs/default/imports"));
    CHECK(stdfs::is_empty(dir / "server" / "synapse-configs/default/tasks"));
}

TEST_CASE("the generated tree contains one executable script") {
    TempDir dir;
    dt::generate_tree(dir / "server", dt::Profile::small, 1);
    const auto perms = stdfs::status(dir / "server" / "class-mediators" / "run-check.sh").permissions();
    CHECK((perms & stdfs::perms::owner_exec) != stdfs::perms::none);
    CHECK((perms & stdfs::perms::others_exec) != stdfs::perms::none);
}

TEST_CASE("a tree is not generated over existing files") {
    TempDir dir;
    stdfs::create_directories(dir / "server");
    std::ofstream(dir / "server" / "stray.car").flush();
    CHECK_THROWS(dt::generate_tree(dir / "server", dt::Profile::small, 1));
}

TEST_CASE("a version bump leaves exactly one version of the app") {
    TempDir dir;
    const stdfs::path root = dir / "server";
    dt::generate_tree(root, dt::Profile::small, 8);
    const auto before = capp_names(root);
    dt::Rng rng(4);
    const std::string done = dt::bump_version(root, rng);
    const auto after = capp_names(root);
    REQUIRE(after.size() == before.size());

    std::vector<std::string> added, removed;
    std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(added));
    std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                        std::back_inserter(removed));
    REQUIRE(added.size() == 1);
    REQUIRE(removed.size() == 1);
    const auto old_name = *dt::parse_car_name(removed[0]);
    const auto new_name = *dt::parse_car_name(added[0]);
    CHECK(new_name.app == old_name.app);
    CHECK(new_name.version != old_name.version);
    CHECK(std::count_if(after.begin(), after.end(), [&](const std::string& name) {
              return dt::parse_car_name(name)->app == old_name.app;
          }) == 1);
    CHECK(done == "bumped carbonapps/" + removed[0] + " -> carbonapps/" + added[0]);
    CHECK(zip_defect(root / "carbonapps" / added[0]) == std::nullopt);
}

TEST_CASE("a rebuild keeps the CApp's name and changes its content") {
    TempDir dir;
    const stdfs::path root = dir / "server";
    dt::generate_tree(root, dt::Profile::small, 8);
    const auto before = snapshot(root);
    dt::Rng rng(4);
    dt::rebuild_in_place(root, rng);
    const Diff d = diff(before, snapshot(root));
    CHECK(d.added.empty());
    CHECK(d.removed.empty());
    REQUIRE(d.changed.size() == 1);
    CHECK(d.changed[0].rfind("carbonapps/", 0) == 0);
    CHECK(zip_defect(root / d.changed[0]) == std::nullopt);
}

TEST_CASE("deleting apps one by one and emptying carbonapps keep the folder") {
    TempDir dir;
    const stdfs::path root = dir / "server";
    dt::generate_tree(root, dt::Profile::small, 8);
    dt::Rng rng(4);
    dt::delete_app(root, rng);
    CHECK(capp_names(root).size() == 4);
    CHECK(dt::empty_folder(root, "carbonapps") == "emptied carbonapps (4 entries removed)");
    CHECK(stdfs::is_directory(root / "carbonapps"));
    CHECK(stdfs::is_empty(root / "carbonapps"));
    CHECK_THROWS(dt::delete_app(root, rng));
}

TEST_CASE("editing XML changes exactly the requested number of files and keeps their closing tag last") {
    TempDir dir;
    const stdfs::path root = dir / "server";
    dt::generate_tree(root, dt::Profile::small, 8);
    const auto before = snapshot(root);
    dt::Rng rng(9);
    CHECK(dt::edit_xml(root, 3, rng) == "edited 3 XML files");
    const auto after = snapshot(root);
    const Diff d = diff(before, after);
    CHECK(d.added.empty());
    CHECK(d.removed.empty());
    REQUIRE(d.changed.size() == 3);
    for (const auto& path : d.changed) {
        const std::string& xml = after.at(path);
        CHECK(xml.find("<!-- revision ") != std::string::npos);
        CHECK(xml.substr(xml.rfind("</")) == before.at(path).substr(before.at(path).rfind("</")));
    }
}

TEST_CASE("the standard change edits ten XML files, adds one 256 KB CApp and deletes one file") {
    TempDir dir;
    const stdfs::path root = dir / "server";
    dt::generate_tree(root, dt::Profile::small, 8);
    const auto before = snapshot(root);
    dt::standard_change(root, 77);
    const Diff d = diff(before, snapshot(root));
    CHECK(d.changed.size() == 10);
    REQUIRE(d.added.size() == 1);
    CHECK(d.removed.size() == 1);
    const stdfs::path capp = root / d.added[0];
    CHECK(capp.parent_path().filename() == "carbonapps");
    CHECK(stdfs::file_size(capp) >= 256 * 1024);
    CHECK(stdfs::file_size(capp) < 280 * 1024);
    CHECK(unzip_accepts(capp));
}

TEST_CASE("a partial zip is refused by unzip and by the zip check") {
    TempDir dir;
    dt::Rng rng(1);
    const auto kept = dt::write_partial_zip(dir / "Partial_1.0.0.car", rng);
    CHECK(stdfs::file_size(dir / "Partial_1.0.0.car") == kept);
    CHECK_FALSE(unzip_accepts(dir / "Partial_1.0.0.car"));
    CHECK(zip_defect(dir / "Partial_1.0.0.car") == "no end-of-central-directory record");
}
