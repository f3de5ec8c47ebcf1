#pragma once
// metrics: a node's facts as a Prometheus textfile-collector file (node_exporter --collector.textfile),
// written atomically after every pull and publish when `metrics_file` is configured. A scrape sees the
// previous run's file or this one's, never a half-written one.

#include <cstdint>
#include <string>

#include "core/sync/settings.hpp"
#include "core/sync/status.hpp"

namespace depsync::sync {

struct NodeMetrics {
    std::string node;
    std::uint64_t release = 0;      // deployed (peer) or current (primary); 0: none
    std::string commit;             // its commit id (40 hex digits); empty: none
    std::int64_t last_success = 0;  // unix seconds; 0: never
    double last_duration = 0;       // seconds
    std::uint64_t drift_files = 0;  // paths that differ locally from the release
    std::uint64_t releases_behind = 0;
    std::uint64_t consecutive_failures = 0;
    bool pinned = false;
    bool held = false;                     // pinned by a failed on_change
    std::uint64_t malformed_archives = 0;  // primary: archives published as they are, malformed
};

NodeMetrics metrics_of(const NodeStatus& status);

// The file's text: a # HELP and # TYPE line per metric, every sample labelled node="...".
std::string format_metrics(const NodeMetrics& metrics);

// Writes settings.metrics_file when it is set. Never throws: monitoring must not turn a good run into a
// failed one, so a failure is logged (warn) and the previous file stays.
void write_metrics(const Settings& settings);

}  // namespace depsync::sync
