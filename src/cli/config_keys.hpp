#pragma once
// Every config key, declared once: its name (in the config file, and as the option --name), the
// GlobalOptions field it sets (whose initial value is its default), the nodes it serves, what its value is,
// its help line, and how the sample configs show it. The options, the input of make_settings, `depsync
// --help`, the bash completion and the sample configs all come from this table.

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "cli/context.hpp"

namespace depsync::cli {

// The nodes a key is meant for. Every node accepts every key; the sample configs list the other role's
// keys last, commented out.
enum class Nodes { any, primary, peer };

// What a key's value is: how the completion offers it and how the sample configs write it.
enum class Value {
    text,    // names, URLs, patterns, commands: quoted, no completion
    folder,  // quoted; completed as a folder
    file,    // quoted; completed as a file
    choice,  // one of `choices`, written as it is
    number,  // a count or seconds, written as it is
    bytes,   // a number of bytes with an optional suffix (KiB, MiB, GiB), written as it is
};

// The GlobalOptions field a key sets. A vector field makes the key repeatable.
using Field = std::variant<std::string GlobalOptions::*, std::vector<std::string> GlobalOptions::*,
                           int GlobalOptions::*, unsigned GlobalOptions::*, double GlobalOptions::*,
                           std::uint64_t GlobalOptions::*>;

struct ConfigKey {
    std::string name;
    Field field;
    Nodes nodes = Nodes::any;
    Value value = Value::text;
    std::string help;
    std::vector<std::string> choices;     // Value::choice: the values, in the order help lists them
    bool choices_checked = false;         // the option refuses any other value (else make_settings does)
    std::optional<CLI::Validator> range;  // a check beyond the field's type, shown in --help
    // The sample configs: the comment above the key ('\n' between lines), the value shown (empty: the
    // default; `peer_example` on a peer's when it differs), and whether the key is set or commented out.
    std::string about, example, peer_example;
    bool set_in_samples = false;

    bool repeatable() const;
};

// The keys in the order --help, the completion and the sample configs list them.
const std::vector<ConfigKey>& config_keys();

// "--max-fetch-bytes,--max_fetch_bytes"; "--role" for a name without '_'.
std::string option_names(const ConfigKey& key);

// The key's default as a config file writes it ("4GiB", "120", "overwrite"); empty when it has none (an
// empty text, no entries, or a default computed at run time such as the host name).
std::string default_text(const ConfigKey& key);

// The --help group of the config keys' options.
inline constexpr const char* key_group = "Config keys (also accepted as options)";

// Adds every key as an option of `app`, bound to its field of `options`, in the group key_group.
void add_config_keys(CLI::App& app, GlobalOptions& options);

// The patterns `depsync init` writes as `exclude` when none are given.
const std::vector<std::string>& init_excludes();

}  // namespace depsync::cli
