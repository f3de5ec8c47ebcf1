#pragma once
// Log records straight to the systemd journal, when depsync's stderr is the journal (a service or timer):
// each record with its priority, and an audit line with its fields (DEPSYNC_ACTION, DEPSYNC_RELEASE,
// DEPSYNC_COMMIT, DEPSYNC_USER, DEPSYNC_INVOKER), so `journalctl -p warning` and
// `journalctl DEPSYNC_ACTION=rollback` work.

#include <spdlog/sinks/sink.h>

#include <memory>

namespace depsync::cli {

// Whether stderr is connected to the journal: $JOURNAL_STREAM names stderr's device and inode (systemd sets
// it for a service whose output goes to the journal).
bool stderr_is_journal();

// A sink that sends every record to the journal (sd_journal_sendv).
std::shared_ptr<spdlog::sinks::sink> make_journal_sink();

// The syslog priority of a record of `level` (error 3, warning 4, info 6, debug 7).
int journal_priority(int level);

}  // namespace depsync::cli
