#pragma once
// Runs a piece of work in a forked child process, bounded by a timeout.
//
// libgit2 1.5 has no network timeouts: a stalled server blocks a fetch forever. Running the transfer in a
// child lets the parent kill it with SIGKILL when the time is up; what the child wrote is only ever temp
// files and, at the very end, a ref, so a killed transfer leaves nothing half-visible. The child reports an
// Error (message and exit code) back through a pipe.
//
// The child dies with its parent (a killed run leaves no transfer behind), does not hold the parent's file
// locks (the node lock is released when the parent dies, not when the child does), and can be bounded in
// address space, so that a hostile server cannot make it exhaust the machine's memory.

#include <cstdint>
#include <functional>
#include <string>

namespace depsync::fs {

// Calls `work` in a child process. Throws the child's Error as its own, or Error(failure) naming `what` when
// the child runs longer than timeout_seconds (the child is then killed) or dies. A non-zero memory_limit
// bounds the child's address space (RLIMIT_AS), in bytes; `memory_key` names the config key that sets it.
void run_bounded(const std::string& what, int timeout_seconds, const std::function<void()>& work,
                 std::uint64_t memory_limit = 0, const std::string& memory_key = {});

}  // namespace depsync::fs
