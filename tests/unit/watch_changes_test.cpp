// How the watcher turns inotify events into the folders the next publish reads.

#include <sys/inotify.h>

#include <catch2/catch.hpp>
#include <string>

#include "core/sync/watch_changes.hpp"

namespace {

using depsync::sync::WatchedChanges;
using Clock = WatchedChanges::Clock;

// A watcher whose first (whole) publish is done.
WatchedChanges after_first_publish(Clock::time_point now) {
    WatchedChanges changes;
    REQUIRE_FALSE(changes.for_publish(now));
    changes.published(now, true);
    return changes;
}

}  // namespace

TEST_CASE("watch reads the whole directory first, then the folders events named", "[watch]") {
    const Clock::time_point t0 = Clock::now();
    WatchedChanges changes = after_first_publish(t0);
    const std::string deep = "a/b/c", top = "";
    changes.note(&deep, IN_CLOSE_WRITE, "x.xml", false);
    changes.note(&top, IN_CREATE | IN_ISDIR, "new", true);
    changes.note(&deep, IN_DELETE | IN_ISDIR, "gone", false);
    changes.note(&deep, IN_ATTRIB, "", false);  // the folder itself: not part of a release
    auto read = changes.for_publish(t0);
    REQUIRE(read);
    CHECK(read->folders == std::set<std::string>{"", "a/b/c"});
    CHECK(read->subtrees == std::set<std::string>{"new"});
    changes.published(t0, false);
    REQUIRE(changes.for_publish(t0));
    CHECK(changes.for_publish(t0)->empty());
}

TEST_CASE("watch reads the whole directory after lost events or a lost folder", "[watch]") {
    const Clock::time_point t0 = Clock::now();
    const std::string folder = "api";
    SECTION("the kernel's queue overflowed") {
        WatchedChanges changes = after_first_publish(t0);
        changes.note(&folder, IN_MODIFY, "a.xml", false);
        changes.note(nullptr, IN_Q_OVERFLOW, "", false);
        CHECK_FALSE(changes.for_publish(t0));
        // Once read, the next publish is incremental again.
        changes.published(t0, true);
        CHECK(changes.for_publish(t0));
    }
    SECTION("an event on a folder the watcher does not know") {
        WatchedChanges changes = after_first_publish(t0);
        changes.note(nullptr, IN_CREATE, "a.xml", false);
        CHECK_FALSE(changes.for_publish(t0));
    }
    SECTION("a root moved away") {
        WatchedChanges changes = after_first_publish(t0);
        changes.note(&folder, IN_MOVE_SELF, "", true);
        CHECK_FALSE(changes.for_publish(t0));
    }
    SECTION("a folder that could not be watched: every publish reads everything") {
        WatchedChanges changes = after_first_publish(t0);
        changes.watch_incomplete();
        CHECK_FALSE(changes.for_publish(t0));
        changes.published(t0, true);
        CHECK_FALSE(changes.for_publish(t0));
    }
    SECTION("a failed publish forgets nothing") {
        WatchedChanges changes = after_first_publish(t0);
        changes.note(&folder, IN_MODIFY, "a.xml", false);
        REQUIRE(changes.for_publish(t0));
        changes.note(&folder, IN_MODIFY, "b.xml", false);
        CHECK(changes.for_publish(t0)->folders == std::set<std::string>{"api"});
    }
}

TEST_CASE("watch reads the whole directory every 100th publish and after an hour", "[watch]") {
    const Clock::time_point t0 = Clock::now();
    WatchedChanges changes = after_first_publish(t0);
    for (unsigned i = 1; i < WatchedChanges::full_scan_every; ++i) {
        REQUIRE(changes.for_publish(t0));
        changes.published(t0, false);
    }
    CHECK_FALSE(changes.for_publish(t0));
    changes.published(t0, true);
    CHECK(changes.for_publish(t0 + std::chrono::minutes(59)));
    CHECK_FALSE(changes.for_publish(t0 + WatchedChanges::full_scan_after));
}
