#pragma once
// "did you mean" for a mistyped command or config key: the nearest name by edit distance.

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace depsync::cli {

// " (did you mean 'rollback'?)" for the candidate nearest to `word` when a typo explains the difference
// (at most two edits, and fewer than half the word's letters); empty otherwise.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

// The candidate nearest to `word` as did_you_mean chooses it; empty when none is near.
std::string nearest_name(const std::string& word, const std::vector<std::string>& candidates);

// When the command line names a command `app` does not have (at the top, or below a command with
// subcommands such as `cluster`): "unknown command 'rollbak'; did you mean 'rollback'?", or the list of
// commands when none is near. Options and their values are skipped as CLI11 reads them.
std::optional<std::string> unknown_command(const CLI::App& app, int argc, char** argv);

}  // namespace depsync::cli
