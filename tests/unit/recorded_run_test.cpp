// The one way publish, pull and watch record a run in STATE/last-run: a success, a completed run that failed
// (on_change), a thrown failure (recorded, then thrown on), and the errors that mean the run did not happen.

#include "core/sync/recorded_run.hpp"

#include <catch2/catch.hpp>

#include <string>

#include "core/error.hpp"
#include "core/sync/run_record.hpp"
#include "support/temp_dir.hpp"

using depsync::Error;
using depsync::ExitCode;
using depsync::sync::FailuresRecorded;
using depsync::sync::read_run_record;
using depsync::sync::run_recorded;
using depsync::testing::TempDir;

namespace {

depsync::sync::Settings settings_in(const TempDir& dir) {
    depsync::sync::Settings s;
    s.state = dir.path();
    return s;
}

// Runs a run that throws `code`, expecting the same error back.
void run_throwing(const depsync::sync::Settings& s, ExitCode code, FailuresRecorded failures) {
    try {
        run_recorded(
            s, []() -> std::string { throw Error("cannot publish: it broke", ExitCode::failure); }, failures);
    } catch (const Error&) {
    }
    try {
        run_recorded(
            s, [code]() -> std::string { throw Error("the run's own error", code); }, failures);
        FAIL("the run's error was not thrown on");
    } catch (const Error& e) {
        CHECK(std::string(e.what()) == "the run's own error");
        CHECK(e.code() == code);
    }
}

}  // namespace

TEST_CASE("a recorded run that succeeds is the last success and ends a series of failures",
          "[recorded_run]") {
    TempDir dir;
    auto s = settings_in(dir);
    run_throwing(s, ExitCode::failure, FailuresRecorded::node_failures);
    REQUIRE(read_run_record(s.state).consecutive_failures == 2);
    bool ran = false;
    run_recorded(s, [&] {
        ran = true;
        return std::string();
    });
    CHECK(ran);
    auto r = read_run_record(s.state);
    CHECK(r.consecutive_failures == 0);
    CHECK(r.last_error.empty());
    CHECK(r.last_success != 0);
    CHECK(r.last_success == r.last_attempt);
}

TEST_CASE("a recorded run that completes with an error counts as failed with that error", "[recorded_run]") {
    TempDir dir;
    auto s = settings_in(dir);
    run_recorded(s, [] { return std::string("on_change exited 3"); });
    auto r = read_run_record(s.state);
    CHECK(r.consecutive_failures == 1);
    CHECK(r.last_error == "on_change exited 3");
    CHECK(r.last_success == 0);
}

TEST_CASE("a thrown failure is recorded and thrown on, unless the run by hand lost the race for the lock",
          "[recorded_run]") {
    struct Case {
        ExitCode code;
        FailuresRecorded failures;
        bool recorded;
    };
    for (Case c : {Case{ExitCode::failure, FailuresRecorded::node_failures, true},
                   Case{ExitCode::locked, FailuresRecorded::node_failures, false},
                   // A usage error found once the config was read (a remote that vanished) is a failed run:
                   // monitoring's consecutive_failures alert must see it.
                   Case{ExitCode::usage, FailuresRecorded::node_failures, true},
                   // The watcher's attempts all count, a lost race for the lock included.
                   Case{ExitCode::locked, FailuresRecorded::every_failure, true},
                   Case{ExitCode::failure, FailuresRecorded::every_failure, true}}) {
        INFO("exit code " << static_cast<int>(c.code) << ", every failure "
                          << (c.failures == FailuresRecorded::every_failure));
        TempDir dir;
        auto s = settings_in(dir);
        run_throwing(s, c.code, c.failures);
        auto r = read_run_record(s.state);
        CHECK(r.consecutive_failures == (c.recorded ? 2 : 1));
        CHECK(r.last_error == (c.recorded ? "the run's own error" : "cannot publish: it broke"));
    }
}
