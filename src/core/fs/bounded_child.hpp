#pragma once
// Runs a piece of work in a forked child process (fs::ChildProcess::fork_call), bounded by a timeout.
//
// libgit2 1.5 has no network timeouts: a stalled server blocks a fetch forever. Running the transfer in a
// child lets the parent end it when the time is up; what the child wrote is only ever temp files and, at the
// very end, a ref, so a killed transfer leaves nothing half-visible. The child sends its result, or the Error
// it failed with (message and exit code), back through a pipe as one report.
//
// The child dies with its parent (a killed run leaves no transfer behind), does not hold the parent's file
// locks (the node lock is released when the parent dies, not when the child does), and can be bounded in
// address space, so that a hostile server cannot make it exhaust the machine's memory.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace depsync::fs {

// Calls `work` in a child process and returns what it returned. Throws the child's Error as its own, or
// Error(failure) naming `what` when the child runs longer than timeout_seconds (it is then ended), dies, or
// sends a report that cannot be read. A non-zero memory_limit bounds the child's address space (RLIMIT_AS),
// in bytes; `memory_key` names the config key that sets it.
std::string run_bounded(const std::string& what, int timeout_seconds,
                        const std::function<std::string()>& work, std::uint64_t memory_limit = 0,
                        const std::string& memory_key = {});

// The report: `code` 0 and the work's result, or an Error's exit code (1 to 4) and message. On the pipe it is
// "depsync-report CODE LENGTH\n" and LENGTH bytes of text, nothing before or after.
struct ChildReport {
    int code = 0;
    std::string text;
};
inline constexpr std::size_t max_report_text = 1 << 20;
std::string encode_report(const ChildReport& report);
// nullopt unless `bytes` is exactly one well-formed report (known code, text within max_report_text).
std::optional<ChildReport> decode_report(const std::string& bytes);

}  // namespace depsync::fs
