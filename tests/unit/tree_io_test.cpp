#include "core/git/tree_io.hpp"

#include <sys/wait.h>
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/git/handle.hpp"
#include "core/git/object_writer.hpp"
#include "core/git/repository.hpp"
#include "support/temp_dir.hpp"

namespace stdfs = std::filesystem;
using Catch::Matchers::Contains;
using depsync::git::Entry;
using depsync::git::EntryKind;
using depsync::git::Listing;
using depsync::git::to_hex;
using depsync::testing::TempDir;

namespace {

struct Run {
    int rc;
    std::string output;
};

Run run(const std::string& command) {
    Run r{-1, {}};
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    int status = ::pclose(p);
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

constexpr const char* empty_tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";

struct Repo {
    TempDir tmp;
    stdfs::path path = tmp / "repo.git";
    depsync::git::RepositoryPtr repo = depsync::git::init_bare(path, "main");
    depsync::git::ObjectWriter writer{path / "objects"};

    Entry blob(EntryKind kind, const std::string& content) { return Entry{kind, writer.write_blob(content)}; }
    Entry file(const std::string& content) { return blob(EntryKind::file, content); }
    Entry exec(const std::string& content) { return blob(EntryKind::executable, content); }
    Entry link(const std::string& target) { return blob(EntryKind::symlink, target); }
    static Entry folder() { return Entry{EntryKind::directory, {}}; }

    std::string git(const std::string& args) const {
        Run r = run("git -C " + path.string() + " " + args);
        INFO("git " << args << "\n" << r.output);
        REQUIRE(r.rc == 0);
        return r.output;
    }

    struct Raw {
        std::string mode;  // "100644", "100755", "120000", "040000", "160000"
        std::string name;
        git_oid id;
    };

    // A tree written by `git mktree -z`, which checks neither names nor symlink targets.
    git_oid mktree(const std::vector<Raw>& entries) const {
        stdfs::path input = tmp / "mktree.in";
        {
            std::ofstream out(input, std::ios::binary | std::ios::trunc);
            for (const Raw& e : entries) {
                std::string type = e.mode == "040000" ? "tree" : e.mode == "160000" ? "commit" : "blob";
                out << e.mode << ' ' << type << ' ' << to_hex(e.id) << '\t' << e.name << '\0';
            }
        }
        std::string hex = trimmed(git("mktree -z --missing < " + input.string()));
        return depsync::git::oid_from_hex(hex);
    }

    std::string fsck() const {
        Run r = run("git -C " + path.string() + " fsck --strict --no-dangling --no-progress");
        std::string complaints;
        std::size_t start = 0;
        while (start < r.output.size()) {
            std::size_t end = r.output.find('\n', start);
            if (end == std::string::npos) end = r.output.size();
            std::string line = r.output.substr(start, end - start);
            if (!line.empty() && line.rfind("notice:", 0) != 0) complaints += line + "\n";
            start = end + 1;
        }
        if (r.rc != 0) complaints += "exit code " + std::to_string(r.rc);
        return complaints;
    }
};

std::string describe(const Listing& listing) {
    std::string out;
    for (const auto& [path, entry] : listing)
        out += path + " " + depsync::git::kind_name(entry.kind) +
               (entry.kind == EntryKind::directory ? std::string() : " " + to_hex(entry.oid)) + "\n";
    return out;
}

Listing sample_listing(Repo& r) {
    Listing l;
    l["carbonapps"] = Repo::folder();
    l["carbonapps/App_1.0.0.car"] = r.file(std::string(10000, 'z'));
    l["synapse-configs"] = Repo::folder();
    l["synapse-configs/default"] = Repo::folder();
    l["synapse-configs/default/api"] = Repo::folder();
    l["synapse-configs/default/api/Orders.xml"] = r.file("<api name=\"Orders\"/>\n");
    l["synapse-configs/default/sequences"] = Repo::folder();  // empty
    l["synapse-configs/default/tasks"] = Repo::folder();      // empty
    l["synapse-configs/default/api/current.xml"] = r.link("Orders.xml");
    l["scripts"] = Repo::folder();
    l["scripts/reload.sh"] = r.exec("#!/bin/sh\nexit 0\n");
    l["empty"] = Repo::folder();
    l["deep"] = Repo::folder();
    l["deep/er"] = Repo::folder();
    l["deep/er/still"] = Repo::folder();  // empty, below folders holding only folders
    l["top.xml"] = r.file("top\n");
    l["link-to-folder"] = r.link("synapse-configs/default");
    return l;
}

}  // namespace

TEST_CASE("a listing written as trees reads back identically, empty folders included") {
    Repo r;
    Listing listing = sample_listing(r);
    git_oid root = depsync::git::write_tree(r.repo.get(), listing);
    Listing back = depsync::git::read_tree(r.repo.get(), root);
    CHECK(describe(back) == describe(listing));
    for (const auto& [path, entry] : listing) {
        INFO(path);
        REQUIRE(back.count(path) == 1);
        CHECK(back.at(path).same_as(entry));
    }
}

TEST_CASE("writing the same listing twice gives the same tree") {
    Repo r;
    Listing listing = sample_listing(r);
    git_oid a = depsync::git::write_tree(r.repo.get(), listing);
    git_oid b = depsync::git::write_tree(r.repo.get(), listing);
    CHECK(git_oid_equal(&a, &b));
}

TEST_CASE("an empty listing is the empty tree") {
    Repo r;
    git_oid root = depsync::git::write_tree(r.repo.get(), {});
    CHECK(to_hex(root) == empty_tree);
    CHECK(depsync::git::read_tree(r.repo.get(), root).empty());
}

TEST_CASE("git sees the empty folders as empty trees, with the right modes, and fsck is clean") {
    Repo r;
    Listing listing = sample_listing(r);
    std::string root = to_hex(depsync::git::write_tree(r.repo.get(), listing));
    std::string ls = r.git("ls-tree -r -t " + root);
    INFO(ls);
    CHECK_THAT(ls, Contains(std::string("040000 tree ") + empty_tree + "\tempty\n"));
    CHECK_THAT(ls, Contains(std::string("040000 tree ") + empty_tree + "\tdeep/er/still\n"));
    CHECK_THAT(ls,
               Contains(std::string("040000 tree ") + empty_tree + "\tsynapse-configs/default/sequences\n"));
    CHECK_THAT(ls, Contains(std::string("040000 tree ") + empty_tree + "\tsynapse-configs/default/tasks\n"));
    CHECK_THAT(ls, Contains("\tdeep/er\n"));
    CHECK_THAT(
        ls, Contains("100755 blob " + to_hex(listing.at("scripts/reload.sh").oid) + "\tscripts/reload.sh\n"));
    CHECK_THAT(ls,
               Contains("120000 blob " + to_hex(listing.at("link-to-folder").oid) + "\tlink-to-folder\n"));
    CHECK_THAT(ls, Contains("100644 blob " + to_hex(listing.at("top.xml").oid) + "\ttop.xml\n"));
    // One line per listed path: nothing more, nothing less.
    CHECK(static_cast<std::size_t>(std::count(ls.begin(), ls.end(), '\n')) == listing.size());
    CHECK(r.git("cat-file -p " + to_hex(listing.at("link-to-folder").oid)) == "synapse-configs/default");
    CHECK(r.fsck().empty());
}

TEST_CASE("git checks out a written tree with its empty-folder trees intact") {
    Repo r;
    Listing listing = sample_listing(r);
    std::string root = to_hex(depsync::git::write_tree(r.repo.get(), listing));
    stdfs::path work = r.tmp / "work";
    stdfs::create_directories(work);
    r.git("--work-tree=" + work.string() + " read-tree " + root);
    r.git("--work-tree=" + work.string() + " checkout-index -a");
    CHECK(stdfs::is_symlink(work / "link-to-folder"));
    CHECK(stdfs::read_symlink(work / "link-to-folder") == "synapse-configs/default");
    CHECK((stdfs::status(work / "scripts/reload.sh").permissions() & stdfs::perms::owner_exec) !=
          stdfs::perms::none);
    std::ifstream in(work / "synapse-configs/default/api/Orders.xml");
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(content == "<api name=\"Orders\"/>\n");
}

TEST_CASE("count_changes counts files added, modified and deleted, never folders") {
    Repo r;
    Listing from;
    from["same.xml"] = r.file("same");
    from["changed.xml"] = r.file("old");
    from["gone.xml"] = r.file("gone");
    from["mode.sh"] = r.file("#!/bin/sh\n");
    from["became-folder"] = r.file("file");
    from["became-file"] = Repo::folder();
    from["old-folder"] = Repo::folder();
    from["link"] = r.link("same.xml");

    Listing to;
    to["same.xml"] = r.file("same");
    to["changed.xml"] = r.file("new");
    to["new.xml"] = r.file("new");
    to["mode.sh"] = r.exec("#!/bin/sh\n");
    to["became-folder"] = Repo::folder();
    to["became-file"] = r.file("file");
    to["new-folder"] = Repo::folder();
    to["link"] = r.file("same.xml");  // a symlink turned into a file with the target as its content

    auto counts = depsync::git::count_changes(from, to);
    CHECK(counts.added == 2);     // new.xml, became-file
    CHECK(counts.modified == 3);  // changed.xml, mode.sh, link
    CHECK(counts.deleted == 2);   // gone.xml, became-folder

    auto none = depsync::git::count_changes(from, from);
    CHECK(none.added == 0);
    CHECK(none.modified == 0);
    CHECK(none.deleted == 0);

    auto all_new = depsync::git::count_changes({}, to);
    CHECK(all_new.added == 6);
    CHECK(all_new.deleted == 0);
}

namespace {

// read_tree must refuse the whole release, naming the offending path.
void check_refused(Repo& r, const git_oid& root, const std::string& path_in_message) {
    try {
        depsync::git::read_tree(r.repo.get(), root);
        FAIL("read_tree accepted a hostile tree; it should name '" << path_in_message << "'");
    } catch (const depsync::Error& e) {
        // The message names the path as it is; printing escapes it (depsync::printable, tested there).
        CHECK_THAT(e.what(), Contains(path_in_message));
    }
}

}  // namespace

TEST_CASE("read_tree rejects trees with names that must never be written") {
    Repo r;
    git_oid payload = r.writer.write_blob("[core]\n\thooksPath = /tmp\n");
    git_oid inner = r.mktree({{"100644", "config", payload}});
    struct Case {
        const char* what;
        std::string name;
    };
    auto c = GENERATE(
        Case{"a dot-dot folder", ".."}, Case{"a dot folder", "."}, Case{"a .git folder", ".git"},
        Case{"an upper-case .GIT folder", ".GIT"}, Case{"a .git folder with a trailing dot", ".git."},
        Case{"a .git folder with a trailing space", ".git "}, Case{"the 8.3 name of .git", "GIT~1"},
        Case{"a control character",
             "a\x01"
             "b"},
        Case{"a newline", "evil\nname"}, Case{"an escape sequence", "\x1b[2Jx"},
        Case{"a backslash", "..\\..\\etc"}, Case{"the depsync temp prefix", ".depsync-tmp.99.0"});
    INFO(c.what);

    SECTION("as a folder at the root") {
        git_oid root = r.mktree({{"040000", c.name, inner}, {"100644", "ok.xml", payload}});
        check_refused(r, root, c.name);
    }
    SECTION("as a file deep below") {
        git_oid leaf = r.mktree({{"100644", c.name, payload}});
        git_oid mid = r.mktree({{"040000", "default", leaf}});
        git_oid root = r.mktree({{"040000", "synapse-configs", mid}});
        check_refused(r, root, "synapse-configs/default/" + c.name);
    }
}

TEST_CASE("read_tree rejects symlinks that resolve outside the tree") {
    Repo r;
    git_oid file = r.writer.write_blob("x");
    struct Case {
        const char* what;
        std::string target;
    };
    auto c = GENERATE(Case{"climbing to /etc", "../../etc"}, Case{"absolute", "/etc/passwd"},
                      Case{"absolute root", "/"}, Case{"one level above the root", "../../outside"},
                      Case{"a detour", "a/../../../x"}, Case{"empty", ""});
    INFO(c.what);
    git_oid target = r.writer.write_blob(c.target);
    // The link sits one folder deep, so "../x" would still be inside.
    git_oid sub = r.mktree({{"120000", "evil", target}, {"100644", "fine.xml", file}});
    git_oid root = r.mktree({{"040000", "carbonapps", sub}});
    check_refused(r, root, "carbonapps/evil");
}

TEST_CASE("read_tree rejects a chain of symlinks that leaves the tree") {
    Repo r;
    git_oid to_l2 = r.writer.write_blob("../l2/x");
    git_oid up = r.writer.write_blob("..");
    git_oid sub = r.mktree({{"120000", "l1", to_l2}});
    git_oid root = r.mktree({{"040000", "a", sub}, {"120000", "l2", up}});
    check_refused(r, root, "a/l1");
}

TEST_CASE("read_tree rejects a symlink loop") {
    Repo r;
    git_oid to_a = r.writer.write_blob("a");
    git_oid to_b = r.writer.write_blob("b");
    git_oid root = r.mktree({{"120000", "a", to_b}, {"120000", "b", to_a}});
    CHECK_THROWS_AS(depsync::git::read_tree(r.repo.get(), root), depsync::Error);
}

TEST_CASE("read_tree accepts symlinks that stay inside the tree") {
    Repo r;
    git_oid file = r.writer.write_blob("x");
    git_oid up_one = r.writer.write_blob("../conf/x.xml");
    git_oid sub = r.mktree({{"120000", "l", up_one}});
    git_oid conf = r.mktree({{"100644", "x.xml", file}});
    git_oid root = r.mktree({{"040000", "a", sub}, {"040000", "conf", conf}});
    Listing l = depsync::git::read_tree(r.repo.get(), root);
    CHECK(l.at("a/l").kind == EntryKind::symlink);
    CHECK(l.at("conf/x.xml").kind == EntryKind::file);
}

TEST_CASE("read_tree rejects a submodule entry") {
    Repo r;
    // A submodule names a commit of another repository, which this one does not hold.
    git_oid commit = depsync::git::oid_from_hex("0123456789abcdef0123456789abcdef01234567");
    git_oid root = r.mktree({{"160000", "vendor", commit}});
    check_refused(r, root, "vendor");
}

TEST_CASE("read_tree rejects a name listed twice, as a symlink and as a folder") {
    Repo r;
    git_oid file = r.writer.write_blob("payload");
    git_oid target = r.writer.write_blob("elsewhere");
    git_oid sub = r.mktree({{"100644", "app.car", file}});
    // git mktree sorts and would keep both; write the raw tree so the duplicate is certain.
    std::string raw;
    auto add = [&](const char* mode, const std::string& name, const git_oid& id) {
        raw += std::string(mode) + " " + name + '\0';
        raw.append(reinterpret_cast<const char*>(id.id), GIT_OID_RAWSZ);
    };
    add("120000", "carbonapps", target);
    add("40000", "carbonapps", sub);
    git_odb* odb = nullptr;
    REQUIRE(git_repository_odb(&odb, r.repo.get()) == 0);
    depsync::git::OdbPtr owned(odb);
    git_oid root;
    REQUIRE(git_odb_write(&root, odb, raw.data(), raw.size(), GIT_OBJECT_TREE) == 0);
    check_refused(r, root, "carbonapps");
}

namespace {

// A tree object with exactly these entries, in this order, written without any check.
git_oid raw_tree(Repo& r, const std::vector<Repo::Raw>& entries) {
    std::string raw;
    for (const auto& e : entries) {
        raw += e.mode + " " + e.name + '\0';
        raw.append(reinterpret_cast<const char*>(e.id.id), GIT_OID_RAWSZ);
    }
    git_odb* odb = nullptr;
    REQUIRE(git_repository_odb(&odb, r.repo.get()) == 0);
    depsync::git::OdbPtr owned(odb);
    git_oid id;
    REQUIRE(git_odb_write(&id, odb, raw.data(), raw.size(), GIT_OBJECT_TREE) == 0);
    return id;
}

// The reason read_tree refuses `root` for, requiring that it is an UnsafeTree (a hostile release), never an
// ObjectError (which would have a peer set its copy aside and fetch everything again).
std::string refusal(Repo& r, const git_oid& root, const depsync::git::TreeLimits& limits = {}) {
    try {
        depsync::git::read_tree(r.repo.get(), root, limits);
    } catch (const depsync::git::ObjectError& e) {
        FAIL("a hostile tree was blamed on the repository: " << e.what());
    } catch (const depsync::git::UnsafeTree& e) {
        return e.what();
    }
    FAIL("read_tree accepted a hostile tree");
    return {};
}

}  // namespace

TEST_CASE("read_tree refuses a symlink whose target holds a NUL byte") {
    Repo r;
    git_oid target = r.writer.write_blob(std::string("..\0x", 4));
    git_oid root = raw_tree(r, {{"120000", "up", target}});
    CHECK_THAT(refusal(r, root), Contains("'up'") && Contains("NUL"));
}

TEST_CASE("read_tree refuses entries whose mode disagrees with the object they name, as hostile") {
    Repo r;
    git_oid blob = r.writer.write_blob("x");
    git_oid tree = raw_tree(r, {{"100644", "f", blob}});
    CHECK_THAT(refusal(r, raw_tree(r, {{"120000", "l", tree}})), Contains("a symlink entry names a tree"));
    CHECK_THAT(refusal(r, raw_tree(r, {{"40000", "d", blob}})), Contains("a folder entry names a blob"));
}

TEST_CASE("read_tree blames the repository only for an object that is missing") {
    Repo r;
    git_oid missing = depsync::git::oid_from_hex("0123456789abcdef0123456789abcdef01234567");
    CHECK_THROWS_AS(depsync::git::read_tree(r.repo.get(), raw_tree(r, {{"40000", "d", missing}})),
                    depsync::git::ObjectError);
    CHECK_THROWS_AS(depsync::git::read_tree(r.repo.get(), raw_tree(r, {{"120000", "l", missing}})),
                    depsync::git::ObjectError);
}

TEST_CASE("read_tree refuses a tree libgit2 cannot parse as malformed, not damaged") {
    Repo r;
    git_oid blob = r.writer.write_blob("x");
    // An entry with an empty name: the object is intact, its content is not a tree git can read.
    git_oid bad = raw_tree(r, {{"100644", "", blob}});
    CHECK_THAT(refusal(r, raw_tree(r, {{"40000", "d", bad}})), Contains("malformed tree"));
}

TEST_CASE("read_tree accepts only the modes git writes, and 100664 as a plain file") {
    Repo r;
    git_oid blob = r.writer.write_blob("x");
    Listing l = depsync::git::read_tree(r.repo.get(), raw_tree(r, {{"100664", "old.xml", blob}}));
    CHECK(l.at("old.xml").kind == EntryKind::file);
    for (const char* mode : {"100600", "100666", "120755", "160644", "0"}) {
        INFO(mode);
        CHECK_THAT(refusal(r, raw_tree(r, {{mode, "odd", blob}})), Contains("unsupported entry mode"));
    }
    git_oid sub = raw_tree(r, {{"100644", "f", blob}});
    CHECK_THAT(refusal(r, raw_tree(r, {{"40755", "d", sub}})), Contains("unsupported entry mode 40755"));
}

TEST_CASE("read_tree refuses an unsorted tree") {
    Repo r;
    git_oid blob = r.writer.write_blob("x");
    CHECK_THAT(refusal(r, raw_tree(r, {{"100644", "b", blob}, {"100644", "a", blob}})),
               Contains("out of order"));
}

TEST_CASE("read_tree stops at max_entries: a small repository of shared subtrees is refused") {
    Repo r;
    git_oid blob = r.writer.write_blob("x");
    // Ten names for the same subtree, five levels deep: 211,110 entries from six small trees.
    git_oid t = raw_tree(r, {{"100644", "f", blob}});
    for (int level = 0; level < 5; ++level) {
        std::vector<Repo::Raw> entries;
        for (int i = 0; i < 10; ++i) entries.push_back({"40000", "d" + std::to_string(i), t});
        t = raw_tree(r, entries);
    }
    depsync::git::TreeLimits limits;
    limits.max_entries = 100000;
    CHECK_THAT(refusal(r, t, limits), Contains("more than 100000 entries"));
    limits.max_entries = 211110;
    CHECK(depsync::git::read_tree(r.repo.get(), t, limits).size() == 211110);
    // inspect_tree reports the same without throwing, with what it read up to the limit.
    limits.max_entries = 1000;
    depsync::git::InspectedTree read = depsync::git::inspect_tree(r.repo.get(), t, limits);
    REQUIRE(read.defect.has_value());
    CHECK(read.listing.size() == 1000);
}

TEST_CASE("read_tree refuses folders nested deeper than max_depth") {
    Repo r;
    git_oid blob = r.writer.write_blob("x");
    git_oid t = raw_tree(r, {{"100644", "f", blob}});
    for (int i = 0; i < 20; ++i) t = raw_tree(r, {{"40000", "d", t}});
    depsync::git::TreeLimits limits;
    CHECK(depsync::git::read_tree(r.repo.get(), t, limits).size() == 21);
    limits.max_depth = 10;
    CHECK_THAT(refusal(r, t, limits), Contains("nested deeper than 10"));
}

TEST_CASE("validate_listing refuses what read_tree would: NUL in a link, too many entries") {
    Repo r;
    Listing nul{{"l", r.link(std::string("..\0", 3))}};
    CHECK_THROWS_AS(depsync::git::validate_listing(r.repo.get(), nul), depsync::git::UnsafeTree);
    Listing many;
    for (int i = 0; i < 11; ++i) many["f" + std::to_string(i)] = r.file("x");
    depsync::git::TreeLimits limits;
    limits.max_entries = 10;
    CHECK_THROWS_AS(depsync::git::validate_listing(r.repo.get(), many, limits), depsync::git::UnsafeTree);
    limits.max_entries = 11;
    CHECK_NOTHROW(depsync::git::validate_listing(r.repo.get(), many, limits));
}
