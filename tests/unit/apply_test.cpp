#include "core/sync/apply.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/fs/path_safety.hpp"
#include "core/git/handle.hpp"
#include "core/git/object_writer.hpp"
#include "core/git/repository.hpp"
#include "core/sync/scan.hpp"
#include "support/random_util.hpp"
#include "support/temp_dir.hpp"

namespace stdfs = std::filesystem;
using Catch::Matchers::Contains;
using depsync::git::Entry;
using depsync::git::EntryKind;
using depsync::git::hash_blob;
using depsync::git::Listing;
using depsync::sync::LocalChanges;
using depsync::sync::Plan;
using depsync::sync::StepKind;
using depsync::testing::TempDir;

namespace {

// ---------------------------------------------------------------------------------------------------------------
// plan_update on hand-made listings

Entry f(const std::string& content) {
    return Entry{EntryKind::file, hash_blob(content)};
}
Entry x(const std::string& content) {
    return Entry{EntryKind::executable, hash_blob(content)};
}
Entry l(const std::string& target) {
    return Entry{EntryKind::symlink, hash_blob(target)};
}
Entry d() {
    return Entry{EntryKind::directory, {}};
}

const char* step_name(StepKind kind) {
    switch (kind) {
        case StepKind::make_dir:
            return "make_dir";
        case StepKind::write:
            return "write";
        case StepKind::remove_file:
            return "remove_file";
        case StepKind::remove_dir:
            return "remove_dir";
        case StepKind::change_mode:
            return "change_mode";
    }
    return "?";
}

// "write p", "remove_file p +backup": one line per step, in plan order.
std::vector<std::string> steps_of(const Plan& plan) {
    std::vector<std::string> out;
    for (const auto& s : plan.steps)
        out.push_back(std::string(step_name(s.kind)) + " " + s.path + (s.backup ? " +backup" : ""));
    return out;
}

Listing one(const std::string& path, const std::optional<Entry>& e) {
    Listing listing;
    if (e) listing[path] = *e;
    return listing;
}

struct PlanCase {
    const char* what;
    std::optional<Entry> deployed, target, local;
    LocalChanges policy;
    std::vector<std::string> steps;
    bool drift;
    bool kept;
};

const char* policy_name(LocalChanges p) {
    return p == LocalChanges::overwrite ? "overwrite" : p == LocalChanges::keep ? "keep" : "refuse";
}

}  // namespace

TEST_CASE("plan_update turns each combination of deployed, target and local entry into the right steps") {
    const auto O = LocalChanges::overwrite;
    const auto K = LocalChanges::keep;
    const auto R = LocalChanges::refuse;
    const std::optional<Entry> none;
    const std::vector<std::string> nothing;
    const std::vector<PlanCase> cases{
        // The local entry is what the deployed release put there.
        {"unchanged", f("a"), f("a"), f("a"), O, nothing, false, false},
        {"unchanged folder", d(), d(), d(), O, nothing, false, false},
        {"added", none, f("a"), none, O, {"write p"}, false, false},
        {"added folder", none, d(), none, O, {"make_dir p"}, false, false},
        {"modified", f("a"), f("b"), f("a"), O, {"write p"}, false, false},
        {"modified under keep", f("a"), f("b"), f("a"), K, {"write p"}, false, false},
        {"modified under refuse", f("a"), f("b"), f("a"), R, {"write p"}, false, false},
        {"made executable", f("a"), x("a"), f("a"), O, {"change_mode p"}, false, false},
        {"no longer executable", x("a"), f("a"), x("a"), O, {"change_mode p"}, false, false},
        {"made executable and edited", f("a"), x("b"), f("a"), O, {"write p"}, false, false},
        {"exec bit changed locally", f("a"), f("a"), x("a"), O, {"change_mode p"}, true, false},
        {"file became symlink", f("a"), l("a"), f("a"), O, {"write p"}, false, false},
        {"symlink retargeted", l("x"), l("y"), l("x"), O, {"write p"}, false, false},
        {"removed", f("a"), none, f("a"), O, {"remove_file p"}, false, false},
        {"removed symlink", l("a"), none, l("a"), O, {"remove_file p"}, false, false},
        {"removed folder", d(), none, d(), O, {"remove_dir p"}, false, false},
        {"file became folder", f("a"), d(), f("a"), O, {"remove_file p", "make_dir p"}, false, false},
        {"folder became file", d(), f("a"), d(), O, {"remove_dir p", "write p"}, false, false},
        {"folder became symlink", d(), l("a"), d(), O, {"remove_dir p", "write p"}, false, false},
        // Already as the target wants it, whatever happened before.
        {"already as the target", f("a"), f("b"), f("b"), O, nothing, false, false},
        {"already removed", f("a"), none, none, O, nothing, false, false},
        {"already added", none, f("a"), f("a"), K, nothing, false, false},
        // Local changes under overwrite: saved to backup, then replaced or removed.
        {"edited, release modifies", f("a"), f("b"), f("c"), O, {"write p +backup"}, true, false},
        {"edited, release leaves it", f("a"), f("a"), f("c"), O, {"write p +backup"}, true, false},
        {"edited, release removes", f("a"), none, f("c"), O, {"remove_file p +backup"}, true, false},
        {"extra local file", none, none, f("c"), O, {"remove_file p +backup"}, true, false},
        {"local file where the release adds one", none, f("a"), f("c"), O, {"write p +backup"}, true, false},
        {"edited, release makes a folder",
         f("a"),
         d(),
         f("c"),
         O,
         {"remove_file p +backup", "make_dir p"},
         true,
         false},
        {"local file in place of a folder",
         d(),
         d(),
         f("c"),
         O,
         {"remove_file p +backup", "make_dir p"},
         true,
         false},
        {"local symlink in place of a folder",
         d(),
         d(),
         l("/tmp/outside"),
         O,
         {"remove_file p +backup", "make_dir p"},
         true,
         false},
        {"local folder in place of a file",
         f("a"),
         f("a"),
         d(),
         O,
         {"remove_dir p", "write p"},
         false,
         false},
        {"deleted locally, release keeps it", f("a"), f("a"), none, O, {"write p"}, false, false},
        {"deleted locally, release modifies it", f("a"), f("b"), none, O, {"write p"}, false, false},
        {"extra local folder", none, none, d(), O, {"remove_dir p"}, false, false},
        // Local changes under keep: left alone, no step.
        {"edited, release modifies, keep", f("a"), f("b"), f("c"), K, nothing, false, true},
        {"edited, release leaves it, keep", f("a"), f("a"), f("c"), K, nothing, false, true},
        {"edited, release removes, keep", f("a"), none, f("c"), K, nothing, false, true},
        {"extra local file, keep", none, none, f("c"), K, nothing, false, true},
        {"local file where the release adds one, keep", none, f("a"), f("c"), K, nothing, false, true},
        {"local symlink in place of a folder, keep", d(), d(), l("/tmp/outside"), K, nothing, false, true},
        // Local changes under refuse: reported as drift (pull then refuses), no step.
        {"edited, release modifies, refuse", f("a"), f("b"), f("c"), R, nothing, true, false},
        {"edited, release removes, refuse", f("a"), none, f("c"), R, nothing, true, false},
        {"local file where the release adds one, refuse", none, f("a"), f("c"), R, nothing, true, false},
        {"edited, release makes a folder, refuse", f("a"), d(), f("c"), R, nothing, true, false},
        {"extra local file, refuse", none, none, f("c"), R, nothing, false, true},
    };
    for (const PlanCase& c : cases) {
        INFO(c.what << " (" << policy_name(c.policy) << ")");
        Listing deployed = one("p", c.deployed), target = one("p", c.target), local = one("p", c.local);
        Plan plan = depsync::sync::plan_update(deployed, target, local, c.policy);
        CHECK(steps_of(plan) == c.steps);
        CHECK((std::find(plan.drift.begin(), plan.drift.end(), "p") != plan.drift.end()) == c.drift);
        CHECK((std::find(plan.kept.begin(), plan.kept.end(), "p") != plan.kept.end()) == c.kept);
        auto backups = static_cast<std::size_t>(
            std::count_if(plan.steps.begin(), plan.steps.end(), [](const auto& s) { return s.backup; }));
        CHECK(plan.backups == backups);
        auto counts = depsync::git::count_changes(deployed, target);
        CHECK(plan.counts.added == counts.added);
        CHECK(plan.counts.modified == counts.modified);
        CHECK(plan.counts.deleted == counts.deleted);
        CHECK(plan.empty() == c.steps.empty());
    }
}

TEST_CASE("files left by an interrupted apply are not local changes") {
    const auto O = LocalChanges::overwrite;
    const auto K = LocalChanges::keep;
    const auto R = LocalChanges::refuse;
    const std::optional<Entry> none;
    const std::vector<std::string> nothing;
    struct Case {
        const char* what;
        std::optional<Entry> deployed, interrupted, target, local;
        LocalChanges policy;
        std::vector<std::string> steps;
        bool drift;
    };
    const std::vector<Case> cases{
        {"written by the interrupted apply, modified again",
         f("a"),
         f("b"),
         f("c"),
         f("b"),
         O,
         {"write p"},
         false},
        {"written by the interrupted apply, under keep",
         f("a"),
         f("b"),
         f("c"),
         f("b"),
         K,
         {"write p"},
         false},
        {"written by the interrupted apply, under refuse",
         f("a"),
         f("b"),
         f("c"),
         f("b"),
         R,
         {"write p"},
         false},
        {"the same target again", f("a"), f("b"), f("b"), f("b"), R, nothing, false},
        {"added by the interrupted apply, dropped again",
         none,
         f("b"),
         none,
         f("b"),
         R,
         {"remove_file p"},
         false},
        {"added by the interrupted apply, under keep",
         none,
         f("b"),
         none,
         f("b"),
         K,
         {"remove_file p"},
         false},
        {"folder made by the interrupted apply", f("a"), d(), d(), d(), R, nothing, false},
        {"edited after the interrupted apply", f("a"), f("b"), f("c"), f("x"), O, {"write p +backup"}, true},
        {"edited after the interrupted apply, refuse", f("a"), f("b"), f("c"), f("x"), R, nothing, true},
        {"not written yet by the interrupted apply", f("a"), f("b"), f("c"), f("a"), R, {"write p"}, false},
    };
    for (const Case& c : cases) {
        INFO(c.what << " (" << policy_name(c.policy) << ")");
        Listing interrupted = one("p", c.interrupted);
        Plan plan = depsync::sync::plan_update(one("p", c.deployed), one("p", c.target), one("p", c.local),
                                               c.policy, &interrupted);
        CHECK(steps_of(plan) == c.steps);
        CHECK((std::find(plan.drift.begin(), plan.drift.end(), "p") != plan.drift.end()) == c.drift);
        CHECK(plan.kept.empty());
    }
}

TEST_CASE("describe_plan gives one line per step in the order the apply performs them and marks backups") {
    Plan plan = depsync::sync::plan_update({{"a", f("1")}, {"gone", d()}}, {{"a", f("2")}, {"new", d()}},
                                           {{"a", f("local")}, {"gone", d()}}, LocalChanges::overwrite);
    auto lines = depsync::sync::describe_plan(plan);
    REQUIRE(lines.size() == 3);
    CHECK_THAT(lines[0], Contains("create folder new/"));
    CHECK_THAT(lines[1], Contains("remove folder gone/"));
    CHECK_THAT(lines[2], Contains("write") && Contains("a") && Contains("backup"));
}

TEST_CASE(
    "steps_in_apply_order: removals before writes, deepest folder first, a folder replacing a file late") {
    Listing deployed{{"carbonapps", d()},
                     {"carbonapps/foo-1.0.car", f("1.0")},
                     {"old", d()},
                     {"old/sub", d()},
                     {"old/sub/x.xml", f("x")},
                     {"was-file", f("w")}};
    Listing target{{"carbonapps", d()}, {"carbonapps/foo-1.1.car", f("1.1")},
                   {"new", d()},        {"new/n.xml", f("n")},
                   {"was-file", d()},   {"was-file/inner", d()}};
    Plan plan = depsync::sync::plan_update(deployed, target, deployed, LocalChanges::overwrite);
    std::vector<std::string> order;
    for (const auto* s : depsync::sync::steps_in_apply_order(plan))
        order.push_back(std::string(step_name(s->kind)) + " " + s->path);
    CHECK(order == std::vector<std::string>{
                       "make_dir new", "remove_file carbonapps/foo-1.0.car", "remove_file old/sub/x.xml",
                       "remove_file was-file", "remove_dir old/sub", "remove_dir old", "make_dir was-file",
                       "make_dir was-file/inner", "write carbonapps/foo-1.1.car", "write new/n.xml"});
}

TEST_CASE("plan_update removes the files of a removed folder before the folder and creates parents first") {
    Listing deployed{{"old", d()}, {"old/a.xml", f("a")}, {"old/sub", d()}, {"old/sub/b.xml", f("b")}};
    Listing target{{"new", d()}, {"new/sub", d()}, {"new/sub/c.xml", f("c")}};
    Plan plan = depsync::sync::plan_update(deployed, target, deployed, LocalChanges::overwrite);
    auto s = steps_of(plan);
    auto pos = [&](const std::string& step) { return std::find(s.begin(), s.end(), step) - s.begin(); };
    REQUIRE(s.size() == 7);
    CHECK(pos("make_dir new") < pos("make_dir new/sub"));
    CHECK(pos("make_dir new/sub") < pos("write new/sub/c.xml"));
    CHECK(pos("remove_file old/a.xml") < static_cast<long>(s.size()));
    CHECK(pos("remove_file old/sub/b.xml") < static_cast<long>(s.size()));
    // execute_plan removes folders in reverse plan order: children before parents.
    CHECK(pos("remove_dir old") < pos("remove_dir old/sub"));
}

TEST_CASE("plan_update of identical listings is empty") {
    Listing all{{"a", d()}, {"a/b.xml", f("b")}, {"run.sh", x("r")}, {"l", l("a")}};
    for (auto policy : {LocalChanges::overwrite, LocalChanges::keep, LocalChanges::refuse}) {
        Plan plan = depsync::sync::plan_update(all, all, all, policy);
        CHECK(plan.empty());
        CHECK(plan.drift.empty());
        CHECK(plan.kept.empty());
    }
}

// Refuse stops a pull only for local changes on paths the release changes; other edits are left alone.
TEST_CASE("under refuse, a local edit on a path the release leaves alone does not count as drift") {
    Plan plan = depsync::sync::plan_update({{"p", f("a")}, {"q", f("q1")}}, {{"p", f("a")}, {"q", f("q2")}},
                                           {{"p", f("c")}, {"q", f("q1")}}, LocalChanges::refuse);
    CHECK(plan.drift.empty());
    CHECK(plan.kept == std::vector<std::string>{"p"});
    CHECK(steps_of(plan) == std::vector<std::string>{"write q"});
}

// keep: an edit on a path the release changes is a conflict (held back), apart from harmless leftovers.
TEST_CASE("under keep, kept edits on paths the release changes are held back, apart from leftovers") {
    const Listing deployed{{"changed", f("c1")}, {"deleted", f("d1")}, {"same", f("s1")}, {"old", f("o1")}};
    const Listing target{{"changed", f("c2")}, {"same", f("s1")}, {"old", f("o1")}};
    const Listing local{{"changed", f("mine")},
                        {"deleted", f("mine")},
                        {"same", f("mine")},
                        {"old", f("mine")},
                        {"extra", f("e")}};
    Plan plan = depsync::sync::plan_update(deployed, target, local, LocalChanges::keep);
    SECTION("what the release changed or deleted is held back; an edit it leaves alone is not") {
        depsync::sync::separate_held_back(plan, deployed, target, {});
        CHECK(plan.held_back == std::vector<std::string>{"changed", "deleted"});
        CHECK(plan.kept == std::vector<std::string>{"extra", "old", "same"});
    }
    SECTION("a path held back by an earlier pull and still kept stays held back") {
        depsync::sync::separate_held_back(plan, deployed, target, {"old", "gone"});
        CHECK(plan.held_back == std::vector<std::string>{"changed", "deleted", "old"});
        CHECK(plan.kept == std::vector<std::string>{"extra", "same"});
    }
    CHECK(plan.steps.empty());
}

// repair PATH: only the named paths change, plus the folders that must exist above them.
TEST_CASE("a plan restricted to named paths keeps their steps and what creating them needs") {
    const Listing release{
        {"api", d()},       {"api/a.xml", f("a")},       {"api/b.xml", f("b")},      {"conf", d()},
        {"conf/deep", d()}, {"conf/deep/c.xml", f("c")}, {"conf/deep/d.xml", f("d")}};
    // api/a.xml and api/b.xml edited, an extra file, and a file where the folder conf/deep must be.
    const Listing local{
        {"api", d()},  {"api/a.xml", f("mine")}, {"api/b.xml", f("mine")}, {"api/x.xml", f("x")},
        {"conf", d()}, {"conf/deep", f("stray")}};
    Plan full = depsync::sync::plan_update(release, release, local, LocalChanges::overwrite);
    SECTION("one file") {
        Plan plan = full;
        depsync::sync::restrict_plan(plan, {"api/a.xml"}, {"api/b.xml"});
        CHECK(steps_of(plan) == std::vector<std::string>{"write api/a.xml +backup"});
        CHECK(plan.backups == 1);
        CHECK(plan.drift == std::vector<std::string>{"api/a.xml"});
        // b was held back and is not repaired: it stays held back.
        CHECK(plan.held_back == std::vector<std::string>{"api/b.xml"});
    }
    SECTION("a file below a folder that must replace a local file") {
        Plan plan = full;
        depsync::sync::restrict_plan(plan, {"conf/deep/c.xml"}, {});
        CHECK(steps_of(plan) == std::vector<std::string>{"remove_file conf/deep +backup",
                                                         "make_dir conf/deep", "write conf/deep/c.xml"});
    }
    SECTION("a folder names everything below it") {
        Plan plan = full;
        depsync::sync::restrict_plan(plan, {"api"}, {"api/b.xml"});
        CHECK(steps_of(plan) == std::vector<std::string>{"write api/a.xml +backup", "write api/b.xml +backup",
                                                         "remove_file api/x.xml +backup"});
        CHECK(plan.held_back.empty());
    }
    SECTION("the empty name is the whole root") {
        Plan plan = full;
        depsync::sync::restrict_plan(plan, {""}, {});
        CHECK(steps_of(plan) == steps_of(full));
    }
}

TEST_CASE("a local file in place of a folder blocks what the release changes inside that folder") {
    const Listing deployed{{"p", d()}, {"p/x.xml", f("x1")}, {"p/y.xml", f("y1")}};
    const Listing local{{"p", f("local")}};
    SECTION("under refuse, it is drift, listed once") {
        Listing target{{"p", d()}, {"p/x.xml", f("x2")}, {"p/y.xml", f("y2")}, {"p/z.xml", f("z")}};
        Plan plan = depsync::sync::plan_update(deployed, target, local, LocalChanges::refuse);
        CHECK(plan.drift == std::vector<std::string>{"p"});
        CHECK(plan.steps.empty());
    }
    SECTION("under refuse, a release that leaves the folder alone is applied") {
        Plan plan = depsync::sync::plan_update(deployed, deployed, local, LocalChanges::refuse);
        CHECK(plan.drift.empty());
        CHECK(plan.steps.empty());
    }
    SECTION("under keep, the file and the folder's content it blocks are listed as kept") {
        Listing target{{"p", d()}, {"p/x.xml", f("x2")}, {"p/y.xml", f("y1")}};
        Plan plan = depsync::sync::plan_update(deployed, target, local, LocalChanges::keep);
        CHECK(plan.drift.empty());
        CHECK(plan.kept == std::vector<std::string>{"p", "p/x.xml", "p/y.xml"});
        CHECK(plan.steps.empty());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// execute_plan on a real folder with a real repository

namespace {

std::string read(const stdfs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write(const stdfs::path& path, const std::string& content) {
    stdfs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
}

unsigned mode_of(const stdfs::path& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

// Every entry below `root`, as "path" or "path -> target" for symlinks, sorted; folders end in '/'.
std::vector<std::string> tree_of(const stdfs::path& root) {
    std::vector<std::string> out;
    if (!stdfs::exists(root)) return out;
    for (auto it = stdfs::recursive_directory_iterator(root); it != stdfs::recursive_directory_iterator();
         ++it) {
        std::string rel = stdfs::relative(it->path(), root).string();
        if (it->is_symlink())
            out.push_back(rel + " -> " + stdfs::read_symlink(it->path()).string());
        else if (it->is_directory())
            out.push_back(rel + "/");
        else
            out.push_back(rel + " [" + read(it->path()) + "]");
    }
    std::sort(out.begin(), out.end());
    return out;
}

bool has_temp_files(const stdfs::path& root) {
    for (const auto& e : stdfs::recursive_directory_iterator(root))
        if (e.path().filename().string().rfind(std::string(depsync::fs::temp_prefix), 0) == 0) return true;
    return false;
}

std::string describe(const Listing& listing) {
    std::string out;
    for (const auto& [path, e] : listing)
        out += path + " " + depsync::git::kind_name(e.kind) +
               (e.kind == EntryKind::directory ? std::string() : " " + depsync::git::to_hex(e.oid)) + "\n";
    return out;
}

struct Node {
    TempDir tmp;
    stdfs::path dir = tmp / "deployment";
    stdfs::path outside = tmp / "outside";
    stdfs::path repo_path = tmp / "state/repo.git";
    stdfs::path backups = tmp / "state/backup/r2";
    depsync::git::RepositoryPtr repo = depsync::git::init_bare(repo_path, "main");
    depsync::git::ObjectWriter writer{repo_path / "objects"};
    depsync::git::OdbPtr odb;
    depsync::sync::StatCache cache;

    Node() {
        stdfs::create_directories(dir);
        write(outside / "victim.txt", "must stay as it is\n");
        git_odb* raw = nullptr;
        REQUIRE(git_repository_odb(&raw, repo.get()) == 0);
        odb.reset(raw);
    }

    Entry file(const std::string& content) { return Entry{EntryKind::file, writer.write_blob(content)}; }
    Entry exec(const std::string& content) {
        return Entry{EntryKind::executable, writer.write_blob(content)};
    }
    Entry link(const std::string& target) { return Entry{EntryKind::symlink, writer.write_blob(target)}; }

    Listing scan() {
        depsync::sync::StatCache scratch;
        return depsync::sync::scan_tree(dir, {}, scratch).listing;
    }

    Plan plan(const Listing& deployed, const Listing& target, LocalChanges policy = LocalChanges::overwrite) {
        return depsync::sync::plan_update(deployed, target, scan(), policy);
    }

    void execute(const Plan& plan) {
        depsync::sync::ApplyContext ctx;
        ctx.dir = dir;
        ctx.odb = odb.get();
        ctx.backup_dir = backups;
        ctx.cache = &cache;
        depsync::sync::execute_plan(plan, ctx);
    }

    Plan pull(const Listing& deployed, const Listing& target, LocalChanges policy = LocalChanges::overwrite) {
        Plan p = plan(deployed, target, policy);
        execute(p);
        return p;
    }
};

// Release 1 of a small MI deployment.
Listing release1(Node& n) {
    return {{"carbonapps", d()},
            {"carbonapps/Orders_1.0.0.car", n.file("orders v1")},
            {"carbonapps/Billing_1.0.0.car", n.file("billing v1")},
            {"synapse-configs", d()},
            {"synapse-configs/default", d()},
            {"synapse-configs/default/api", d()},
            {"synapse-configs/default/api/Orders.xml", n.file("<api v1/>")},
            {"synapse-configs/default/sequences", d()},
            {"synapse-configs/default/tasks", d()},
            {"synapse-configs/default/tasks/Old.xml", n.file("<task/>")},
            {"scripts", d()},
            {"scripts/reload.sh", n.exec("#!/bin/sh\n")},
            {"scripts/notes.txt", n.file("notes")},
            {"current", n.link("synapse-configs/default/api/Orders.xml")},
            {"becomes-folder", n.file("a file for now")},
            {"becomes-file", d()},
            {"becomes-file/inner.xml", n.file("inner")}};
}

// Release 2: modifies, removes, adds, retargets, changes modes and types.
Listing release2(Node& n) {
    return {{"carbonapps", d()},
            {"carbonapps/Orders_1.0.1.car", n.file("orders v2")},  // renamed archive
            {"carbonapps/Billing_1.0.0.car", n.file("billing v1")},
            {"synapse-configs", d()},
            {"synapse-configs/default", d()},
            {"synapse-configs/default/api", d()},
            {"synapse-configs/default/api/Orders.xml", n.file("<api v2/>")},
            {"synapse-configs/default/api/Payments.xml", n.file("<api payments/>")},
            {"synapse-configs/default/sequences", d()},
            {"synapse-configs/default/proxy-services", d()},  // new, empty
            {"scripts", d()},
            {"scripts/reload.sh", n.file("#!/bin/sh\n")},  // no longer executable
            {"scripts/notes.txt", n.exec("notes")},        // now executable
            {"current", n.link("synapse-configs/default/api/Payments.xml")},
            {"becomes-folder", d()},
            {"becomes-folder/now.xml", n.file("now a folder")},
            {"becomes-file", n.file("now a file")}};
}

}  // namespace

TEST_CASE("a first pull writes every file with its content and mode, symlinks and empty folders") {
    Node n;
    Listing target = release1(n);
    Plan plan = n.pull({}, target);

    CHECK(read(n.dir / "carbonapps/Orders_1.0.0.car") == "orders v1");
    CHECK(read(n.dir / "synapse-configs/default/api/Orders.xml") == "<api v1/>");
    CHECK(mode_of(n.dir / "carbonapps/Orders_1.0.0.car") == 0644);
    CHECK(mode_of(n.dir / "scripts/reload.sh") == 0755);
    CHECK(stdfs::is_symlink(n.dir / "current"));
    CHECK(stdfs::read_symlink(n.dir / "current") == "synapse-configs/default/api/Orders.xml");
    CHECK(stdfs::is_directory(n.dir / "synapse-configs/default/sequences"));
    CHECK(stdfs::is_empty(n.dir / "synapse-configs/default/sequences"));
    CHECK_FALSE(has_temp_files(n.dir));
    // What is on disk now is exactly the release.
    CHECK(describe(n.scan()) == describe(target));
    CHECK(plan.backups == 0);
    CHECK_FALSE(stdfs::exists(n.backups));
}

TEST_CASE("a pull from one release to the next leaves exactly the new release on disk") {
    Node n;
    Listing r1 = release1(n);
    Listing r2 = release2(n);
    n.pull({}, r1);
    Plan plan = n.pull(r1, r2);

    CHECK(describe(n.scan()) == describe(r2));
    CHECK(read(n.dir / "synapse-configs/default/api/Orders.xml") == "<api v2/>");
    CHECK_FALSE(stdfs::exists(n.dir / "carbonapps/Orders_1.0.0.car"));
    CHECK(read(n.dir / "carbonapps/Orders_1.0.1.car") == "orders v2");
    CHECK_FALSE(stdfs::exists(n.dir / "synapse-configs/default/tasks"));
    CHECK(mode_of(n.dir / "scripts/reload.sh") == 0644);
    CHECK(mode_of(n.dir / "scripts/notes.txt") == 0755);
    CHECK(stdfs::read_symlink(n.dir / "current") == "synapse-configs/default/api/Payments.xml");
    CHECK(read(n.dir / "becomes-folder/now.xml") == "now a folder");
    CHECK(read(n.dir / "becomes-file") == "now a file");
    CHECK(stdfs::is_directory(n.dir / "synapse-configs/default/proxy-services"));
    CHECK_FALSE(has_temp_files(n.dir));
    CHECK(plan.drift.empty());
    CHECK(plan.backups == 0);
}

TEST_CASE("a change of the exec bit alone is a chmod in place, undone with the rest when the commit fails") {
    Node n;
    Listing r1{{"scripts", d()},
               {"scripts/a.sh", n.file("a")},
               {"scripts/b.sh", n.exec("b")},
               {"scripts/c.sh", n.file("c")}};
    n.pull({}, r1);
    struct stat a_before {
    }, b_before{};
    REQUIRE(::stat((n.dir / "scripts/a.sh").c_str(), &a_before) == 0);
    REQUIRE(::stat((n.dir / "scripts/b.sh").c_str(), &b_before) == 0);

    Listing r2 = r1;
    r2["scripts/a.sh"] = n.exec("a");
    r2["scripts/b.sh"] = n.file("b");
    Plan plan = n.plan(r1, r2);
    CHECK(depsync::sync::describe_plan(plan) ==
          std::vector<std::string>{"chmod +x scripts/a.sh  (mode only: changed in place)",
                                   "chmod -x scripts/b.sh  (mode only: changed in place)"});
    n.execute(plan);
    struct stat a_after {
    }, b_after{};
    REQUIRE(::stat((n.dir / "scripts/a.sh").c_str(), &a_after) == 0);
    REQUIRE(::stat((n.dir / "scripts/b.sh").c_str(), &b_after) == 0);
    CHECK((a_after.st_mode & 07777) == 0755);
    CHECK((b_after.st_mode & 07777) == 0644);
    CHECK(a_after.st_ino == a_before.st_ino);
    CHECK(b_after.st_ino == b_before.st_ino);
    CHECK(a_after.st_mtim.tv_sec == a_before.st_mtim.tv_sec);
    CHECK(a_after.st_mtim.tv_nsec == a_before.st_mtim.tv_nsec);
    CHECK(b_after.st_mtim.tv_nsec == b_before.st_mtim.tv_nsec);
    CHECK(describe(n.scan()) == describe(r2));

    // Back to r1, but c.sh turns into a folder after the plan: its step fails, a.sh's chmod is undone.
    Listing r3 = r1;
    r3["scripts/c.sh"] = n.exec("c");
    Plan back = n.plan(r2, r3);
    REQUIRE(back.steps.size() == 3);
    stdfs::remove(n.dir / "scripts/c.sh");
    stdfs::create_directory(n.dir / "scripts/c.sh");
    CHECK_THROWS_AS(n.execute(back), depsync::Error);
    CHECK(mode_of(n.dir / "scripts/a.sh") == 0755);
    CHECK(mode_of(n.dir / "scripts/b.sh") == 0644);
    struct stat a_undone {};
    REQUIRE(::stat((n.dir / "scripts/a.sh").c_str(), &a_undone) == 0);
    CHECK(a_undone.st_ino == a_before.st_ino);
}

TEST_CASE("a pull records every file it wrote in the stat cache") {
    Node n;
    Listing r1 = release1(n);
    n.pull({}, r1);
    auto files = static_cast<std::size_t>(std::count_if(r1.begin(), r1.end(), [](const auto& kv) {
        return kv.second.kind == EntryKind::file || kv.second.kind == EntryKind::executable;
    }));
    CHECK(n.cache.size() == files);
    // Whatever the cache holds, a scan through it sees what the pull wrote.
    CHECK(describe(depsync::sync::scan_tree(n.dir, {}, n.cache).listing) == describe(r1));
}

TEST_CASE("local changes overwritten or removed by a pull are saved to the backup folder first") {
    Node n;
    Listing r1 = release1(n);
    Listing r2 = release2(n);
    n.pull({}, r1);
    write(n.dir / "synapse-configs/default/api/Orders.xml", "<api hotfix/>");  // release modifies it
    write(n.dir / "carbonapps/Billing_1.0.0.car", "patched billing");          // release leaves it
    write(n.dir / "synapse-configs/default/tasks/Old.xml", "<task edited/>");  // release removes it
    write(n.dir / "carbonapps/Extra_9.9.9.car", "dropped in by hand");         // not in any release

    Plan plan = n.pull(r1, r2, LocalChanges::overwrite);

    CHECK(plan.backups == 4);
    CHECK(read(n.backups / "synapse-configs/default/api/Orders.xml") == "<api hotfix/>");
    CHECK(read(n.backups / "carbonapps/Billing_1.0.0.car") == "patched billing");
    CHECK(read(n.backups / "synapse-configs/default/tasks/Old.xml") == "<task edited/>");
    CHECK(read(n.backups / "carbonapps/Extra_9.9.9.car") == "dropped in by hand");
    // Only local changes are saved, never files that were as the release left them.
    CHECK_FALSE(stdfs::exists(n.backups / "carbonapps/Orders_1.0.0.car"));
    CHECK_FALSE(stdfs::exists(n.backups / "scripts/reload.sh"));
    // And the tree is the release.
    CHECK(describe(n.scan()) == describe(r2));
    CHECK(read(n.dir / "carbonapps/Billing_1.0.0.car") == "billing v1");
}

TEST_CASE("under keep, local changes stay on disk and nothing is backed up") {
    Node n;
    Listing r1 = release1(n);
    Listing r2 = release2(n);
    n.pull({}, r1);
    write(n.dir / "synapse-configs/default/api/Orders.xml", "<api hotfix/>");
    write(n.dir / "synapse-configs/default/tasks/Old.xml", "<task edited/>");
    write(n.dir / "carbonapps/Extra_9.9.9.car", "dropped in by hand");

    Plan plan = n.pull(r1, r2, LocalChanges::keep);

    CHECK(read(n.dir / "synapse-configs/default/api/Orders.xml") == "<api hotfix/>");
    CHECK(read(n.dir / "synapse-configs/default/tasks/Old.xml") == "<task edited/>");
    CHECK(read(n.dir / "carbonapps/Extra_9.9.9.car") == "dropped in by hand");
    CHECK(read(n.dir / "carbonapps/Orders_1.0.1.car") == "orders v2");
    CHECK_FALSE(stdfs::exists(n.dir / "carbonapps/Orders_1.0.0.car"));
    CHECK(plan.kept.size() == 3);
    CHECK_FALSE(stdfs::exists(n.backups));
}

TEST_CASE("a symlink planted in place of a folder is never followed") {
    Node n;
    Listing r1 = release1(n);
    Listing r2 = release2(n);
    n.pull({}, r1);
    auto before_outside = tree_of(n.outside);
    // An attacker (or a careless admin) replaces the folder by a link to elsewhere.
    stdfs::remove_all(n.dir / "carbonapps");
    stdfs::create_symlink(n.outside, n.dir / "carbonapps");

    SECTION("seen by the scan, under overwrite: the link is replaced by the folder") {
        Plan plan = n.pull(r1, r2, LocalChanges::overwrite);
        CHECK(tree_of(n.outside) == before_outside);
        CHECK_FALSE(stdfs::is_symlink(n.dir / "carbonapps"));
        CHECK(read(n.dir / "carbonapps/Orders_1.0.1.car") == "orders v2");
        CHECK(read(n.dir / "carbonapps/Billing_1.0.0.car") == "billing v1");
        // The link itself is what was saved, not what it pointed at.
        CHECK(stdfs::is_symlink(n.backups / "carbonapps"));
        CHECK(describe(n.scan()) == describe(r2));
    }
    SECTION("seen by the scan, under keep or refuse: nothing is written through it") {
        auto policy = GENERATE(LocalChanges::keep, LocalChanges::refuse);
        INFO(policy_name(policy));
        Plan plan = n.plan(r1, r2, policy);
        try {
            n.execute(plan);
        } catch (const depsync::Error& e) {
            INFO(e.what());
        }
        CHECK(tree_of(n.outside) == before_outside);
        CHECK(stdfs::is_symlink(n.dir / "carbonapps"));
    }
    SECTION("planted after the scan, just before the apply: the apply fails rather than follow it") {
        // Plan against the intact tree, then plant the link.
        stdfs::remove(n.dir / "carbonapps");
        stdfs::create_directories(n.dir / "carbonapps");
        write(n.dir / "carbonapps/Orders_1.0.0.car", "orders v1");
        write(n.dir / "carbonapps/Billing_1.0.0.car", "billing v1");
        Plan plan = n.plan(r1, r2);
        stdfs::remove_all(n.dir / "carbonapps");
        stdfs::create_symlink(n.outside, n.dir / "carbonapps");
        CHECK_THROWS_AS(n.execute(plan), depsync::Error);
        CHECK(tree_of(n.outside) == before_outside);
    }
}

TEST_CASE("a symlink planted deeper, in place of a nested folder, is never followed") {
    Node n;
    Listing r1 = release1(n);
    Listing r2 = release2(n);
    n.pull({}, r1);
    auto before_outside = tree_of(n.outside);
    Plan plan = n.plan(r1, r2);
    stdfs::remove_all(n.dir / "synapse-configs/default/api");
    stdfs::create_symlink("../../../outside", n.dir / "synapse-configs/default/api");
    REQUIRE(stdfs::exists(n.dir / "synapse-configs/default/api/victim.txt"));  // the link does lead outside
    CHECK_THROWS_AS(n.execute(plan), depsync::Error);
    CHECK(tree_of(n.outside) == before_outside);
}

TEST_CASE("a symlink planted in place of a file is replaced and its target left untouched") {
    Node n;
    Listing r1 = release1(n);
    Listing r2 = release2(n);
    n.pull({}, r1);
    auto before_outside = tree_of(n.outside);
    stdfs::remove(n.dir / "synapse-configs/default/api/Orders.xml");
    stdfs::create_symlink(n.outside / "victim.txt", n.dir / "synapse-configs/default/api/Orders.xml");

    n.pull(r1, r2);

    CHECK(tree_of(n.outside) == before_outside);
    CHECK_FALSE(stdfs::is_symlink(n.dir / "synapse-configs/default/api/Orders.xml"));
    CHECK(read(n.dir / "synapse-configs/default/api/Orders.xml") == "<api v2/>");
    CHECK(stdfs::read_symlink(n.backups / "synapse-configs/default/api/Orders.xml") ==
          n.outside / "victim.txt");
}

TEST_CASE("a folder the release removes is kept while it holds a kept local file") {
    Node n;
    Listing r1 = release1(n);
    Listing r2 = release2(n);
    n.pull({}, r1);
    write(n.dir / "synapse-configs/default/tasks/Mine.xml", "<task mine/>");
    n.pull(r1, r2, LocalChanges::keep);
    CHECK_FALSE(stdfs::exists(n.dir / "synapse-configs/default/tasks/Old.xml"));
    CHECK(read(n.dir / "synapse-configs/default/tasks/Mine.xml") == "<task mine/>");
}

// The kept file stays and the folder's content is not written below it; everything else is applied.
TEST_CASE("under keep, a release turning an edited file into a folder never leaves a half-applied tree") {
    Node n;
    Listing r1{{"p", n.file("p v1")}, {"q", n.file("q v1")}};
    Listing r2{{"p", d()}, {"p/x.xml", n.file("x")}};
    n.pull({}, r1);
    write(n.dir / "p", "p edited");
    Plan plan = n.plan(r1, r2, LocalChanges::keep);
    std::optional<std::string> failure;
    try {
        n.execute(plan);
    } catch (const depsync::Error& e) {
        failure = e.what();
    }
    INFO(failure.value_or("no error"));
    if (failure) {
        // A failure must leave the tree as it was.
        CHECK(read(n.dir / "q") == "q v1");
    } else {
        CHECK(read(n.dir / "p") == "p edited");
        CHECK_FALSE(stdfs::exists(n.dir / "q"));
        CHECK(plan.kept == std::vector<std::string>{"p", "p/x.xml"});
    }
    CHECK_FALSE(has_temp_files(n.dir));
}

TEST_CASE("a release turning a folder into a file keeps the folder while it holds a kept local file") {
    Node n;
    Listing r1{{"p", d()}, {"p/a.xml", n.file("a")}, {"q", n.file("q v1")}};
    Listing r2{{"p", n.file("p is a file now")}};
    n.pull({}, r1);
    write(n.dir / "p/mine.xml", "mine");
    SECTION("under keep, the folder is listed as kept and the rest is applied") {
        Plan plan = n.plan(r1, r2, LocalChanges::keep);
        REQUIRE_NOTHROW(n.execute(plan));
        CHECK(read(n.dir / "p/mine.xml") == "mine");
        CHECK_FALSE(stdfs::exists(n.dir / "p/a.xml"));
        CHECK_FALSE(stdfs::exists(n.dir / "q"));
        CHECK(std::find(plan.kept.begin(), plan.kept.end(), "p") != plan.kept.end());
        CHECK_FALSE(has_temp_files(n.dir));
    }
    SECTION("under refuse, the folder is drift") {
        Plan plan = n.plan(r1, r2, LocalChanges::refuse);
        CHECK(plan.drift == std::vector<std::string>{"p"});
    }
}

// ---------------------------------------------------------------------------------------------------------------
// A full disk: a small tmpfs in a private mount namespace of a child process.

namespace {

// Runs `body` in a child with a tmpfs of the given options mounted on `mount_point`, visible only to the
// child. Returns the child's exit code; 77 when the namespace or the mount cannot be had (not root, no
// CAP_SYS_ADMIN).
template <typename Body>
int in_small_filesystem(const stdfs::path& mount_point, const char* options, Body&& body) {
    pid_t pid = ::fork();
    if (pid == 0) {
        int code = 77;
        if (::unshare(CLONE_NEWNS) == 0 &&
            ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
            ::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, options) == 0) {
            try {
                code = body();
            } catch (...) {
                code = 99;
            }
        }
        ::_exit(code);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace

TEST_CASE("a pull larger than the free space fails before anything visible changes") {
    Node n;
    stdfs::path report = n.tmp / "report";
    depsync::testing::Rng rng(9);
    std::string big(2u << 20, '\0');
    depsync::testing::fill_random(rng, reinterpret_cast<unsigned char*>(big.data()), big.size());
    Listing r1{{"old.xml", n.file("old")}, {"gone.xml", n.file("gone")}, {"carbonapps", d()}};
    Listing r2{{"old.xml", n.file("new")},
               {"carbonapps", d()},
               {"carbonapps/Big_1.0.0.car", n.file(big)},
               {"new-folder", d()},
               {"new-folder/a.xml", n.file("a")}};

    int code = in_small_filesystem(n.dir, "size=1m", [&]() {
        std::ofstream log(report);
        write(n.dir / "old.xml", "old");
        write(n.dir / "gone.xml", "gone");
        stdfs::create_directories(n.dir / "carbonapps");
        auto before = tree_of(n.dir);
        Plan plan = n.plan(r1, r2);
        try {
            n.execute(plan);
            log << "execute_plan succeeded on a full disk\n";
            return 1;
        } catch (const depsync::Error& e) {
            log << e.what() << "\n";
            if (std::string(e.what()).find("not enough space") == std::string::npos) return 2;
        }
        if (tree_of(n.dir) != before) {
            for (const auto& line : tree_of(n.dir)) log << "after: " << line << "\n";
            return 3;
        }
        return 0;
    });
    if (code == 77) {
        WARN("cannot mount a small tmpfs here (needs CAP_SYS_ADMIN); the full-disk case was not run");
        return;
    }
    INFO(read(report));
    CHECK(code == 0);
}

// Plenty of bytes but too few inodes: the free-space estimate passes and writing the temp files fails
// part-way.
TEST_CASE("a pull that runs out of room while staging removes its temp files and changes nothing visible") {
    Node n;
    stdfs::path report = n.tmp / "report";
    Listing r1{{"old.xml", n.file("old")}, {"gone.xml", n.file("gone")}, {"carbonapps", d()}};
    Listing r2{{"old.xml", n.file("new")}, {"carbonapps", d()}};
    for (int i = 0; i < 12; ++i)
        r2["carbonapps/App" + std::to_string(i) + ".car"] = n.file("app " + std::to_string(i));

    // The root, old.xml, gone.xml and carbonapps take 4 inodes; 8 leave room for a few temp files only.
    int code = in_small_filesystem(n.dir, "size=16m,nr_inodes=8", [&]() {
        std::ofstream log(report);
        write(n.dir / "old.xml", "old");
        write(n.dir / "gone.xml", "gone");
        stdfs::create_directories(n.dir / "carbonapps");
        auto before = tree_of(n.dir);
        Plan plan = n.plan(r1, r2);
        try {
            n.execute(plan);
            log << "execute_plan succeeded without inodes\n";
            return 1;
        } catch (const depsync::Error& e) {
            log << e.what() << "\n";
            if (std::string(e.what()).find("not enough space") == std::string::npos) return 2;
        }
        if (tree_of(n.dir) != before) {
            for (const auto& line : tree_of(n.dir)) log << "after: " << line << "\n";
            return 3;
        }
        return 0;
    });
    if (code == 77) {
        WARN("cannot mount a small tmpfs here (needs CAP_SYS_ADMIN); the full-disk case was not run");
        return;
    }
    INFO(read(report));
    CHECK(code == 0);
}

// The folders created in step 1 are removed again when staging fails: "(nothing was changed)" holds.
TEST_CASE("a pull that runs out of room while staging leaves no new folders behind") {
    Node n;
    stdfs::path report = n.tmp / "report";
    Listing r1{{"old.xml", n.file("old")}};
    Listing r2{{"old.xml", n.file("new")}, {"new-folder", d()}};
    for (int i = 0; i < 12; ++i)
        r2["new-folder/App" + std::to_string(i) + ".car"] = n.file("app " + std::to_string(i));

    int code = in_small_filesystem(n.dir, "size=16m,nr_inodes=8", [&]() {
        std::ofstream log(report);
        write(n.dir / "old.xml", "old");
        auto before = tree_of(n.dir);
        Plan plan = n.plan(r1, r2);
        try {
            n.execute(plan);
            return 1;
        } catch (const depsync::Error& e) {
            log << e.what() << "\n";
        }
        if (tree_of(n.dir) != before) {
            for (const auto& line : tree_of(n.dir)) log << "after: " << line << "\n";
            return 3;
        }
        return 0;
    });
    if (code == 77) {
        WARN("cannot mount a small tmpfs here (needs CAP_SYS_ADMIN); the full-disk case was not run");
        return;
    }
    INFO(read(report));
    CHECK(code == 0);
}
