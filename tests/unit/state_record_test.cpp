#include "core/sync/state_record.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/fs/atomic_file.hpp"
#include "core/git/handle.hpp"
#include "core/sync/node_state.hpp"
#include "core/sync/run_record.hpp"
#include "core/sync/settings.hpp"
#include "support/temp_dir.hpp"

namespace stdfs = std::filesystem;
using depsync::sync::RecordDamaged;
using depsync::sync::StateRecord;
using depsync::testing::TempDir;

namespace {

const std::string commit_hex = "0123456789abcdef0123456789abcdef01234567";

void put(const stdfs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
}

std::string damage_of(const std::string& text) {
    try {
        StateRecord::parse(text);
    } catch (const RecordDamaged& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("a state record reads back every field it was written with, in the order they were set") {
    git_oid id = depsync::git::oid_from_hex(commit_hex);
    StateRecord record;
    record.set("commit", id)
        .set("release", std::uint64_t{42})
        .set("applied_at", std::int64_t{-5})
        .set("duration", 0.0125)
        .set("why", "a=b; c");
    CHECK(record.text() ==
          "commit=" + commit_hex + "\nrelease=42\napplied_at=-5\nduration=0.0125\nwhy=a=b; c\n");
    StateRecord back = StateRecord::parse(record.text());
    std::optional<git_oid> commit = back.get_oid("commit");
    REQUIRE(commit);
    CHECK(git_oid_equal(&*commit, &id));
    CHECK(back.get_unsigned("release") == 42u);
    CHECK(back.get_signed("applied_at") == -5);
    CHECK(back.get_real("duration") == 0.0125);
    CHECK(back.get("why") == "a=b; c");
    CHECK_FALSE(back.get("absent"));
    CHECK(StateRecord::parse("").text().empty());
}

TEST_CASE("a state record that is not whole is damaged: cut, a line without '=', a field given twice") {
    const std::string whole = "commit=" + commit_hex + "\nrelease=3\n";
    REQUIRE(damage_of(whole).empty());
    CHECK(damage_of(whole.substr(0, whole.size() - 3)) == "its last line is cut off");
    CHECK(damage_of("commit=" + commit_hex.substr(0, 12)) == "its last line is cut off");
    CHECK(damage_of(whole + "garbage\n") == "line 3 is no key=value field");
    CHECK(damage_of("=3\n") == "line 1 is no key=value field");
    CHECK(damage_of(whole + "release=4\n") == "line 3 repeats a field");
    CHECK(damage_of(whole + "newer_field=kept for a newer version\n").empty());
}

TEST_CASE("a field in another form than the one asked for makes the record damaged") {
    StateRecord r = StateRecord::parse("commit=xyz\nrelease=+3\nat= 7\nn=12abc\nneg=-1\nd=1e-05\n");
    CHECK_THROWS_AS(r.get_oid("commit"), RecordDamaged);
    CHECK_THROWS_AS(r.get_unsigned("release"), RecordDamaged);
    CHECK_THROWS_AS(r.get_signed("at"), RecordDamaged);
    CHECK_THROWS_AS(r.get_unsigned("n"), RecordDamaged);
    CHECK_THROWS_AS(r.get_unsigned("neg"), RecordDamaged);
    CHECK(r.get_signed("neg") == -1);
    CHECK(r.get_real("d") == 1e-05);  // how std::ostream writes a short duration
}

TEST_CASE("a value with a newline is written on one line and cannot add a field") {
    TempDir tmp;
    StateRecord record;
    record.set("reason", "held\ncommit=" + commit_hex + "\r\nrelease=9").set("release", std::uint64_t{1});
    depsync::sync::write_state_record(tmp / "rec", record);
    std::optional<StateRecord> back = depsync::sync::read_state_record(tmp / "rec");
    REQUIRE(back);
    CHECK(back->get("reason") == "held commit=" + commit_hex + "  release=9");
    CHECK_FALSE(back->get("commit"));
    CHECK(back->get_unsigned("release") == 1u);
    CHECK((stdfs::status(tmp / "rec").permissions() & stdfs::perms::all) ==
          (stdfs::perms::owner_read | stdfs::perms::owner_write));
    CHECK_FALSE(depsync::sync::read_state_record(tmp / "missing"));
}

TEST_CASE("the deployed record is written byte for byte as documented, and a damaged one stops the run") {
    TempDir tmp;
    const stdfs::path file = tmp / "deployed";
    depsync::sync::DeployedRecord r;
    r.commit = depsync::git::oid_from_hex(commit_hex);
    r.release = 7;
    r.applied_at = 1700000000;
    depsync::sync::write_record(file, r);
    CHECK(depsync::fs::read_file(file) == "commit=" + commit_hex + "\nrelease=7\napplied_at=1700000000\n");
    r.reason = "on_change failed for r8 (exit 1); reverted to r7";
    depsync::sync::write_record(file, r);
    CHECK(depsync::fs::read_file(file) ==
          "commit=" + commit_hex + "\nrelease=7\napplied_at=1700000000\nreason=" + r.reason + "\n");
    auto back = depsync::sync::read_record(file);
    REQUIRE(back);
    CHECK(back->release == 7);
    CHECK(back->applied_at == 1700000000);
    CHECK(back->reason == r.reason);

    SECTION("cut") {
        put(file, "commit=" + commit_hex + "\nrelease=7\napplied_at=17");
    }
    SECTION("no commit") {
        put(file, "release=7\n");
    }
    SECTION("a release that is no number") {
        put(file, "commit=" + commit_hex + "\nrelease=seven\n");
    }
    try {
        depsync::sync::read_record(file);
        FAIL("a damaged record was read");
    } catch (const depsync::Error& e) {
        CHECK_THAT(e.what(), Catch::StartsWith("state file " + file.string() + " is damaged ("));
        CHECK_THAT(e.what(), Catch::EndsWith("; remove it to redeploy"));
    }
}

TEST_CASE("the last-run record is written byte for byte as documented, and a damaged one starts afresh") {
    TempDir tmp;
    const depsync::sync::StatePaths state(tmp.path());
    put(state.last_run(),
        "last_attempt=100\nlast_success=90\nlast_duration=0.25\nconsecutive_failures=2\nlast_error=x\n"
        "on_change_error=\n");
    depsync::sync::record_on_change(tmp.path(), "on_change failed\nfor r3");
    CHECK(depsync::fs::read_file(state.last_run()) ==
          "last_attempt=100\nlast_success=90\nlast_duration=0.25\nconsecutive_failures=2\nlast_error=x\n"
          "on_change_error=on_change failed for r3\nmalformed_archives=0\nmalformed_archive_list=\n");
    CHECK(depsync::sync::read_run_record(tmp.path()).consecutive_failures == 2);
    put(state.last_run(), "last_attempt=100\nconsecutive_failures=2\nconsecutive_failures=3\n");
    depsync::sync::RunRecord fresh = depsync::sync::read_run_record(tmp.path());
    CHECK(fresh.last_attempt == 0);
    CHECK(fresh.consecutive_failures == 0);
}

TEST_CASE("a state record's numbers are whole and in range: overflow, junk and other spellings are damage") {
    StateRecord r = StateRecord::parse(
        "max=18446744073709551615\nover=18446744073709551616\nbig=99999999999999999999999\n"
        "smin=-9223372036854775808\nsunder=-9223372036854775809\nhex=0x10\nlead=007\nspace=7 \n"
        "nul=7\x01\nempty=\nhuge=1e999\nword=one\n");
    CHECK(r.get_unsigned("max") == std::uint64_t{18446744073709551615u});
    CHECK(r.get_signed("smin") == INT64_MIN);
    CHECK(r.get_unsigned("lead") == 7u);  // leading zeros are decimal still
    for (const char* key : {"over", "big", "hex", "space", "nul", "empty", "word"}) {
        INFO(key);
        CHECK_THROWS_AS(r.get_unsigned(key), RecordDamaged);
        CHECK_THROWS_AS(r.get_signed(key), RecordDamaged);
    }
    CHECK_THROWS_AS(r.get_signed("sunder"), RecordDamaged);
    CHECK_THROWS_AS(r.get_signed("max"), RecordDamaged);
    CHECK_THROWS_AS(r.get_real("huge"), RecordDamaged);
    CHECK_THROWS_AS(r.get_real("word"), RecordDamaged);
    CHECK_THROWS_AS(r.get_oid("max"), RecordDamaged);
    // An object id is exactly 40 hex digits.
    StateRecord ids =
        StateRecord::parse("short=" + commit_hex.substr(1) + "\nlong=" + commit_hex +
                           "0\nnot_hex=" + std::string(39, '0') + "g\ntrail=" + commit_hex + " \n");
    for (const char* key : {"short", "long", "not_hex", "trail"}) {
        INFO(key);
        CHECK_THROWS_AS(ids.get_oid(key), RecordDamaged);
    }
}

TEST_CASE("a state record keeps control characters other than line breaks in values, and its keys as given") {
    const std::string value = std::string("a\x1b[31m\tb\x7f") + std::string(1, '\0') + "c";
    StateRecord record;
    record.set("reason", value);
    StateRecord back = StateRecord::parse(record.text());
    CHECK(back.get("reason") == value);
    // Keys are compared exactly; a key with a space or in another case is another key.
    StateRecord r = StateRecord::parse("Release=1\n release=2\nrelease =3\n");
    CHECK_FALSE(r.get("release"));
    CHECK(r.get("Release") == "1");
    CHECK(r.get(" release") == "2");
    CHECK(r.get("release ") == "3");
}

TEST_CASE(
    "the deployed record keeps the held-back paths in one field, and one no release can hold is damage") {
    TempDir tmp;
    const stdfs::path file = tmp / "deployed";
    depsync::sync::DeployedRecord r;
    r.commit = depsync::git::oid_from_hex(commit_hex);
    r.release = 9;
    r.applied_at = 1700000000;
    r.held_back = {"api/orders.xml", "carbonapps/Orders 1.0.car"};
    depsync::sync::write_record(file, r);
    CHECK(depsync::fs::read_file(file) == "commit=" + commit_hex +
                                              "\nrelease=9\napplied_at=1700000000\nheld_back=api/orders.xml\t"
                                              "carbonapps/Orders 1.0.car\n");
    auto back = depsync::sync::read_record(file);
    REQUIRE(back);
    CHECK(back->held_back == r.held_back);

    for (const char* bad : {"../etc/passwd", "/etc/passwd", "api//x.xml", "api/x.xml\t", "a/./b"}) {
        INFO(bad);
        put(file, "commit=" + commit_hex + "\nrelease=9\nheld_back=" + std::string(bad) + "\n");
        CHECK_THROWS_WITH(depsync::sync::read_record(file),
                          Catch::Contains("is damaged ('held_back' names a path no release can hold)"));
    }
}
