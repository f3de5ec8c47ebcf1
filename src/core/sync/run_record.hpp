#pragma once
// The facts of a node's last runs, kept in STATE/last-run for status, cluster views and metrics.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/sync/settings.hpp"

namespace depsync::sync {

struct RunRecord {
    std::int64_t last_attempt = 0;  // unix seconds
    std::int64_t last_success = 0;
    double last_duration = 0;  // seconds
    std::uint64_t consecutive_failures = 0;
    std::string last_error;       // empty after a success
    std::string on_change_error;  // the last on_change failure, empty when it succeeded
    // Primary: archives whose zip structure is incomplete that publish took as they are (path, defect), as
    // the last publish that read the directory found them.
    std::vector<std::pair<std::string, std::string>> malformed_archives;
};

RunRecord read_run_record(const std::filesystem::path& state);
// Updates the record after a run: `error` empty for success.
void record_run(const std::filesystem::path& state, double duration, const std::string& error);
// Records a failed run in last-run and the metrics file without ever throwing: the run's own error is what
// the operator must see, not a failure to record it (a full state file system fails both); that second
// failure is logged as a warning.
void record_failure(const Settings& settings, double duration, const std::string& error) noexcept;
void record_on_change(const std::filesystem::path& state, const std::string& error);
void record_malformed_archives(const std::filesystem::path& state,
                               const std::vector<std::pair<std::string, std::string>>& archives);

}  // namespace depsync::sync
