#pragma once
// The config file: lines `key = value`, read with each key's line, so that every mistake is reported with the
// file and the line, and written (by init and `depsync config`) so that reading gives back exactly the value
// that was written.
//
// The format: `#` or `;` starts a comment line; `[default]` is accepted and means nothing (other sections are
// refused: every key applies to the whole node). A value is "double quoted" (escapes \\ \" \n \t \r \uXXXX),
// 'single quoted' (taken as it is), or bare: the rest of the line up to a comment (whitespace, then `#` or
// `;`). A repeatable key takes a list, ["a", "b"], which may span lines, and may be repeated (each line adds
// its items); any other key is given at most once.

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "cli/config_keys.hpp"
#include "cli/context.hpp"

namespace depsync::cli {

struct ConfigEntry {
    const ConfigKey* key = nullptr;
    std::vector<std::string> values;  // one value; a list's items for a repeatable key
    int line = 0;                     // where the key is (first, for a repeated list key)
};

// Reads `text`, the content of the config file `file`. Throws Error(usage) naming the file and the line for
// a line that is not a comment, `[default]` or `key = value`; an unknown key; a key that is not a list given
// twice (both lines);
// a list for a key that takes one value; a value that cannot be read (an unclosed quote, an unknown escape,
// NUL, a bare value holding `#` or `;`, a bare value of a repeatable key holding a space or a comma).
std::vector<ConfigEntry> parse_config(std::string_view text, const std::string& file);

// `value` in double quotes with '"', '\\' and control characters escaped: parse_config reads it back as it
// is, whatever its bytes (other than NUL).
std::string quoted_value(const std::string& value);

// `key = value` as a config file writes it: a list for a repeatable key; a number or a choice bare, when it
// is one; anything else quoted.
std::string config_line(const ConfigKey& key, const std::vector<std::string>& values);

// The value `options` holds for `key`, as text: the items of a list, else one value ("120", "2.5").
std::vector<std::string> field_values(const ConfigKey& key, const GlobalOptions& options);

// The reader CLI11 calls for the config file. It reads the file with parse_config, checks each value as its
// option checks a value given on the command line (a bad value is reported with its line), and sets the
// keys that were not given on the command line, noting their lines in `options.file_lines`. It hands CLI11
// no items: what CLI11's own reader would do to a value (split it on spaces and commas, cut it at '#') never
// happens.
class ConfigReader : public CLI::Config {
  public:
    ConfigReader(const CLI::App& app, GlobalOptions& options) : m_app(app), m_options(options) {}
    std::string to_config(const CLI::App*, bool, bool, std::string) const override { return {}; }
    std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

  private:
    const CLI::App& m_app;
    GlobalOptions& m_options;
};

}  // namespace depsync::cli
