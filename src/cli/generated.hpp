#pragma once
// Files written from the program itself, so that they cannot drift from it: the bash completion (from the
// commands, their options and the config key table) and the sample configs (from the key table). The
// committed copies, completion/depsync and examples/depsync-{primary,peer}.conf, are checked against these by
// a test; scripts/generate-from-keys writes them again.

#include <CLI/CLI.hpp>

#include <string>

#include "core/sync/settings.hpp"

namespace depsync::cli {

// The bash completion of `app` (depsync's root command).
std::string bash_completion(const CLI::App& app);

// A commented config file for a node of `role` listing every key: this role's keys with what they do, set to
// an example or their default or commented out, then the other role's keys commented out.
std::string sample_config(sync::Role role);

// Adds the hidden command `internal` that prints these: `depsync internal completion`,
// `depsync internal sample-config primary|peer`.
void add_internal(CLI::App& app);

}  // namespace depsync::cli
