#include "core/fs/command.hpp"

#include <utility>

#include "core/error.hpp"
#include "core/fs/child_process.hpp"

namespace depsync::fs {

std::string CommandResult::describe() const {
    if (timed_out) return "killed after the timeout";
    if (exit_code > 128) return "killed by signal " + std::to_string(exit_code - 128);
    return "exit " + std::to_string(exit_code);
}

std::vector<std::string> CommandResult::lines() const {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < output.size()) {
        std::size_t end = output.find('\n', start);
        if (end == std::string::npos) end = output.size();
        out.push_back(output.substr(start, end - start));
        start = end + 1;
    }
    while (!out.empty() && out.back().empty()) out.pop_back();
    return out;
}

CommandResult run_command(const std::string& command, const std::map<std::string, std::string>& env,
                          int timeout_seconds) {
    constexpr std::size_t max_output = 64 * 1024;
    ChildResult run = run_child({{"/bin/sh", "-c", command}, env, Secrets::drop}, timeout_seconds, max_output,
                                ChildOutput::merged);
    if (!run.error.empty()) throw Error(run.error);
    CommandResult result;
    result.exit_code = run.exit.exit_code;
    result.timed_out = run.exit.timed_out;
    result.output = std::move(run.out);
    return result;
}

}  // namespace depsync::fs
