#pragma once
// The audit trail: every change of a node's content (publish, a pull that applied, rollback, pin, unpin,
// repair, a gc cut) is one info line naming the release, the commit, the counts, and who and what ran it.
// A run that changes nothing logs nothing at info, so cron or a timer every minute does not flood the log or
// the journal.
//
// The line goes through spdlog like every other line (the log file, stderr with -v, the journal). While it
// is being logged, current_audit_event() names its fields, so a sink that can carry structured fields (the
// journal's) adds them.

#include <git2.h>

#include <cstdint>
#include <optional>
#include <string>

#include "core/git/tree_io.hpp"

namespace depsync::sync {

struct AuditEvent {
    std::string action;                    // publish, pull, rollback, pin, unpin, repair, gc
    std::string what;                      // "r11 -> r12", "r14 restores r12", ...
    std::optional<std::uint64_t> release;  // the release the node runs (or the branch names) afterwards
    std::optional<git_oid> commit;         // its commit
    std::optional<git::ChangeCounts> counts;
};

// What started this process, for the audit lines: the command ("depsync pull") and, when set, the trigger
// the caller named in DEPSYNC_TRIGGER (the post-deploy hook sets it). Set once by the command line.
void set_invoker(const std::string& command);

// "<user>" or "root (sudo from <user>)": the account whose rights the run used.
std::string invoking_user();

// The audit line of `event`, as logged: "pull: r11 -> r12, commit 1a2b3c4d5e6f (+1 ~2 -0) by deploy via
// depsync pull".
std::string audit_line(const AuditEvent& event);

// Logs `event` at info.
void audit(const AuditEvent& event);

// The event being logged on this thread by audit(), else nullptr.
const AuditEvent* current_audit_event();

// The invoker set by set_invoker (with the trigger), for structured fields.
const std::string& invoker();

}  // namespace depsync::sync
