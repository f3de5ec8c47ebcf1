#pragma once
// A run of a verb as the node's records see it: timed, then its outcome written to STATE/last-run and the
// metrics file, which status, the cluster view and monitoring read. publish, pull and watch record every run
// this one way.

#include <functional>
#include <string>

#include "core/sync/settings.hpp"

namespace depsync::sync {

// Which thrown errors count as a failed run of this node.
enum class FailuresRecorded {
    // A command run by hand: one that lost the race for the lock did not run; every other error is a failure.
    node_failures,
    // The watcher's attempts: every one is recorded, a lost race for the lock included.
    every_failure,
};

// Runs `run` and records its outcome. `run` returns the error of a run that completed but failed (a failed
// on_change), empty for success; an Error it throws is recorded as `failures` says, then thrown on. Recording
// a failure never throws (the run's own error is what the operator must see); recording a completed run
// does.
void run_recorded(const Settings& settings, const std::function<std::string()>& run,
                  FailuresRecorded failures = FailuresRecorded::node_failures);

// run_recorded, unless this is a dry run: a dry run changes nothing, so it is no run of this node and `run`
// only runs.
void run_recorded_unless_dry(const Settings& settings, bool dry_run, const std::function<std::string()>& run);

}  // namespace depsync::sync
