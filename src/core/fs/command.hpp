#pragma once
// Runs an operator's command (validate, on_change, ssh-keygen) through /bin/sh with extra environment
// variables and without the secrets (see child_env.hpp), bounded by a timeout: on expiry its whole process
// group is ended (fs::run_child). Output (stdout and stderr together) is captured, up to a limit, so it can
// be shown with the error.

#include <map>
#include <string>
#include <vector>

namespace depsync::fs {

struct CommandResult {
    int exit_code = 0;  // the command's exit status; 128+N when killed by signal N
    bool timed_out = false;
    std::string output;  // first 64 KiB of stdout and stderr
    bool ok() const { return exit_code == 0 && !timed_out; }
    std::string describe() const;  // "exit 3", "killed after the timeout", ...
    // The output's lines, without their ends and without empty trailing lines: logged one record each, so
    // every line is escaped on its own (a log record is one line).
    std::vector<std::string> lines() const;
};

// Throws Error when /bin/sh cannot be started.
CommandResult run_command(const std::string& command, const std::map<std::string, std::string>& env,
                          int timeout_seconds);

}  // namespace depsync::fs
