#include "core/sync/recorded_run.hpp"

#include <chrono>

#include "core/error.hpp"
#include "core/sync/metrics.hpp"
#include "core/sync/run_record.hpp"

namespace depsync::sync {

void run_recorded(const Settings& settings, const std::function<std::string()>& run,
                  FailuresRecorded failures) {
    const auto start = std::chrono::steady_clock::now();
    auto seconds = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    std::string error;
    try {
        error = run();
    } catch (const Error& e) {
        // A run by hand that found another run holding the lock did not run. Every other error, a usage
        // error found after the config was read included (a remote that vanished), is a failed run.
        bool did_not_run = e.code() == ExitCode::locked;
        if (failures == FailuresRecorded::every_failure || !did_not_run)
            record_failure(settings, seconds(), e.what());
        throw;
    }
    record_run(settings.state, seconds(), error);
    write_metrics(settings);
}

void run_recorded_unless_dry(const Settings& settings, bool dry_run,
                             const std::function<std::string()>& run) {
    if (dry_run)
        run();
    else
        run_recorded(settings, run);
}

}  // namespace depsync::sync
