#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/git/object_writer.hpp"
#include "core/git/repository.hpp"
#include "core/git/tree_ids.hpp"
#include "core/sync/scan.hpp"
#include "support/temp_dir.hpp"

// A watcher's publish: a partial scan of the changed folders merged into the last listing, and only the
// trees above the changes written. Checked against a full scan of the same directory after every round of
// random edits.

namespace stdfs = std::filesystem;
using depsync::git::EntryKind;
using depsync::git::Listing;
using depsync::sync::ChangedFolders;
using depsync::sync::IncrementalScan;
using depsync::sync::ScanOptions;
using depsync::sync::ScanResult;
using depsync::sync::StatCache;
using depsync::testing::TempDir;

namespace {

void write(const stdfs::path& path, const std::string& content) {
    stdfs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

std::string rel(const stdfs::path& root, const stdfs::path& path) {
    std::string r = path.lexically_relative(root).generic_string();
    return r == "." ? std::string() : r;
}

std::string parent(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::vector<std::string> keys(const Listing& listing) {
    std::vector<std::string> out;
    for (const auto& kv : listing) out.push_back(kv.first);
    return out;
}

std::vector<std::string> shown(const std::vector<depsync::git::PathChange>& diff) {
    std::vector<std::string> out;
    for (const auto& c : diff) out.push_back(std::string(1, c.status) + " " + c.path);
    return out;
}

// Random edits to a directory, with the folders a watcher would report for them.
struct Editor {
    stdfs::path root;
    std::mt19937 rng;
    ChangedFolders changed;
    int serial = 0;

    std::vector<stdfs::path> entries(bool folders) {
        std::vector<stdfs::path> out;
        for (auto it = stdfs::recursive_directory_iterator(root); it != stdfs::recursive_directory_iterator();
             ++it)
            if (it->is_directory() == folders && !it->is_symlink()) out.push_back(it->path());
        return out;
    }
    template <typename T>
    const T& pick(const std::vector<T>& v) {
        return v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)];
    }
    std::string name() { return "n" + std::to_string(++serial); }
    void touched(const stdfs::path& path) { changed.folders.insert(parent(rel(root, path))); }

    void edit_once() {
        std::vector<stdfs::path> files = entries(false);
        std::vector<stdfs::path> folders = entries(true);
        folders.push_back(root);
        switch (std::uniform_int_distribution<int>(0, 8)(rng)) {
            case 0:  // a file's content
                if (files.empty()) break;
                {
                    const stdfs::path& f = pick(files);
                    std::ofstream(f, std::ios::app) << "more " << ++serial << "\n";
                    touched(f);
                }
                break;
            case 1: {  // a new file
                stdfs::path f = pick(folders) / (name() + ".xml");
                write(f, "<new/>\n");
                touched(f);
                break;
            }
            case 2:  // a file removed
                if (files.empty()) break;
                {
                    const stdfs::path f = pick(files);
                    stdfs::remove(f);
                    touched(f);
                }
                break;
            case 3: {  // a folder removed with everything below it
                if (folders.size() < 2) break;
                const stdfs::path d =
                    folders[std::uniform_int_distribution<std::size_t>(0, folders.size() - 2)(rng)];
                stdfs::remove_all(d);
                touched(d);
                break;
            }
            case 4: {  // a new subtree, one folder of it empty
                stdfs::path d = pick(folders) / name();
                write(d / "a/b/x.xml", "<x/>\n");
                stdfs::create_directories(d / "empty");
                touched(d);
                changed.subtrees.insert(rel(root, d));
                break;
            }
            case 5:  // a file replaced by a folder
                if (files.empty()) break;
                {
                    const stdfs::path f = pick(files);
                    stdfs::remove(f);
                    write(f / "inside.xml", "<in/>\n");
                    touched(f);
                    changed.subtrees.insert(rel(root, f));
                }
                break;
            case 6: {  // a folder replaced by a file
                if (folders.size() < 2) break;
                const stdfs::path d =
                    folders[std::uniform_int_distribution<std::size_t>(0, folders.size() - 2)(rng)];
                stdfs::remove_all(d);
                write(d, "was a folder\n");
                touched(d);
                break;
            }
            case 7:  // a file made executable
                if (files.empty()) break;
                {
                    const stdfs::path& f = pick(files);
                    ::chmod(f.c_str(), 0755);
                    touched(f);
                }
                break;
            case 8: {  // a symlink
                stdfs::path l = pick(folders) / name();
                stdfs::create_symlink("target-" + std::to_string(serial), l);
                touched(l);
                break;
            }
        }
    }
};

ScanResult full_scan(const stdfs::path& dir) {
    StatCache cache;
    return depsync::sync::scan_tree(dir, ScanOptions{}, cache);
}

}  // namespace

TEST_CASE(
    "a partial scan merged into the last listing equals a full scan, with the changes and trees a full "
    "comparison gives") {
    TempDir tmp;
    const stdfs::path dir = tmp / "deployment";
    for (int i = 0; i < 6; ++i)
        write(dir / ("f" + std::to_string(i)) / "a/b" / ("F" + std::to_string(i) + ".xml"), "<f/>\n");
    write(dir / "top.xml", "<top/>\n");
    stdfs::create_directories(dir / "empty/nested");
    const stdfs::path repo_dir = tmp / "repo.git";
    depsync::git::RepositoryPtr repo = depsync::git::init_bare(repo_dir, "main");
    depsync::git::ObjectWriter writer(repo_dir / "objects");
    const depsync::sync::OpenRoots roots = depsync::sync::open_roots({{"", dir}});

    StatCache cache;
    ScanOptions options;
    options.writer = &writer;
    Listing live = depsync::sync::scan_roots(roots, options, cache).listing;
    depsync::git::TreeIds ids;
    depsync::git::write_tree(repo.get(), live, nullptr, &writer, &ids);
    REQUIRE(ids.size() > 10);

    const auto seed = GENERATE(1u, 2u, 3u);
    Editor editor{dir, std::mt19937(seed), {}, 0};
    for (int round = 0; round < 25; ++round) {
        INFO("seed " << seed << ", round " << round);
        editor.changed = {};
        const int edits = std::uniform_int_distribution<int>(1, 4)(editor.rng);
        for (int e = 0; e < edits; ++e) editor.edit_once();
        const Listing before = live;

        IncrementalScan incremental{&live, &editor.changed, true};
        options.incremental = &incremental;
        ScanResult partial = depsync::sync::scan_roots(roots, options, cache);
        std::vector<depsync::git::EntryChange> changes = depsync::sync::merge_scan(live, partial, cache);

        const ScanResult full = full_scan(dir);
        REQUIRE(keys(live) == keys(full.listing));
        for (const auto& [path, entry] : full.listing) {
            INFO(path);
            CHECK(live.at(path).same_as(entry));
        }
        // The cache holds exactly the listed paths: nothing of what is gone lingers.
        CHECK(keys(cache.listing()) == keys(live));
        CHECK(shown(depsync::git::diff_changes(changes)) == shown(depsync::git::diff_listings(before, live)));
        const depsync::git::ChangeCounts a = depsync::git::count_changes(changes),
                                         b = depsync::git::count_changes(before, live);
        CHECK(a.added == b.added);
        CHECK(a.modified == b.modified);
        CHECK(a.deleted == b.deleted);

        ids.forget(changes);
        git_oid written = ids.write(repo.get(), live, changes, &writer);
        git_oid expected = depsync::git::tree_id(full.listing);
        REQUIRE(git_oid_equal(&written, &expected));
        // What was written is the tree itself, readable as the full listing.
        Listing read = depsync::git::read_tree(repo.get(), written);
        CHECK(keys(read) == keys(full.listing));
    }
}

TEST_CASE("the changed-folder tree writer refuses a tree naming a blob the repository does not hold") {
    TempDir tmp;
    depsync::git::RepositoryPtr repo = depsync::git::init_bare(tmp / "repo.git", "main");
    depsync::git::ObjectWriter writer(tmp / "repo.git/objects");
    Listing listing{{"a", {EntryKind::directory, {}}},
                    {"a/x.xml", {EntryKind::file, writer.write_blob("x")}}};
    depsync::git::TreeIds ids;
    depsync::git::write_tree(repo.get(), listing, nullptr, &writer, &ids);
    const depsync::git::Entry missing{EntryKind::file, depsync::git::hash_blob(std::string("never stored"))};
    std::vector<depsync::git::EntryChange> changes{{"a/y.xml", std::nullopt, missing}};
    listing["a/y.xml"] = missing;
    ids.forget(changes);
    CHECK_THROWS_AS(ids.write(repo.get(), listing, changes, &writer), depsync::git::ObjectError);
}

TEST_CASE("validate_changes refuses an unsafe changed entry, and checks every symlink when one changes") {
    TempDir tmp;
    depsync::git::RepositoryPtr repo = depsync::git::init_bare(tmp / "repo.git", "main");
    depsync::git::ObjectWriter writer(tmp / "repo.git/objects");
    const depsync::git::Entry file{EntryKind::file, writer.write_blob("x")};
    Listing listing{{"a", {EntryKind::directory, {}}}, {"a/x.xml", file}};
    CHECK_NOTHROW(depsync::git::validate_changes(repo.get(), listing, {{"a/x.xml", std::nullopt, file}}));

    listing[".git"] = file;
    CHECK_THROWS_AS(depsync::git::validate_changes(repo.get(), listing, {{".git", std::nullopt, file}}),
                    depsync::git::UnsafeTree);
    listing.erase(".git");

    const depsync::git::Entry out{EntryKind::symlink, writer.write_blob("../../etc")};
    listing["a/out"] = out;
    CHECK_THROWS_AS(depsync::git::validate_changes(repo.get(), listing, {{"a/out", std::nullopt, out}}),
                    depsync::git::UnsafeTree);
    // A link already in the listing is checked again when another link changes.
    const depsync::git::Entry in{EntryKind::symlink, writer.write_blob("x.xml")};
    listing["a/in"] = in;
    CHECK_THROWS_AS(depsync::git::validate_changes(repo.get(), listing, {{"a/in", std::nullopt, in}}),
                    depsync::git::UnsafeTree);

    depsync::git::TreeLimits small;
    small.max_entries = 2;
    listing.erase("a/out");
    listing.erase("a/in");
    listing["b.xml"] = file;
    CHECK_THROWS_AS(
        depsync::git::validate_changes(repo.get(), listing, {{"b.xml", std::nullopt, file}}, small),
        depsync::git::UnsafeTree);
}
