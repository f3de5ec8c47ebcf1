// The sample configs, written from the config key table: every key is listed, with its default.

#include <sstream>

#include "cli/config_keys.hpp"
#include "cli/generated.hpp"

namespace depsync::cli {
namespace {

const char* const primary_header =
    "# depsync configuration of the PRIMARY node: the one MI node where deployments are made and published.\n"
    "#\n"
    "# Install as /etc/depsync/depsync.conf (the default), or point at it with `depsync -c FILE` or "
    "$DEPSYNC_CONFIG.\n"
    "# `depsync -c FILE init primary --dir DIR --repo REPO` writes a file like this one for you.\n";

const char* const peer_header =
    "# depsync configuration of a PEER node: an MI node that pulls the primary's releases.\n"
    "#\n"
    "# Install as /etc/depsync/depsync.conf (the default), or point at it with `depsync -c FILE` or "
    "$DEPSYNC_CONFIG.\n"
    "# `depsync -c FILE init peer --dir DIR --remote URL [--state DIR]` writes a file like this one for "
    "you.\n";

const char* const format_text =
    "#\n"
    "# Format: INI, `key = value`, one key per line; a line starting with '#' or ';' is a comment (comments\n"
    "# must be on their own line). Strings may be quoted. A key that takes a list is given several times, "
    "or\n"
    "# as a list: key = [\"a\", \"b\"]. Every key can also be given on the command line as --key VALUE\n"
    "# (--node-local or --node_local alike); the command line wins. An unknown key is an error, not "
    "ignored.\n"
    "# This file lists every key; it is written by 'depsync internal sample-config' from the program's "
    "table\n"
    "# of keys.\n";

bool serves(const ConfigKey& key, sync::Role role) {
    return key.nodes == Nodes::any || (key.nodes == Nodes::primary) == (role == sync::Role::primary);
}

// `key = value` as this role's sample writes it: an example or the default, quoted where it is text.
std::string setting(const ConfigKey& key, sync::Role role) {
    std::string value = key.example;
    if (role == sync::Role::peer && !key.peer_example.empty()) value = key.peer_example;
    if (key.name == "role") value = sync::role_name(role);
    if (value.empty()) value = default_text(key);
    bool text = key.value == Value::text || key.value == Value::folder || key.value == Value::file;
    if (text && !key.repeatable()) value = "\"" + value + "\"";
    return key.name + " = " + value;
}

// `text` as comment lines of at most 108 columns; a line of `text` that starts with a space (a table) is kept
// as it is.
std::string comment(const std::string& text) {
    std::string out;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || line[0] == ' ') {
            out += "# " + line + "\n";
            continue;
        }
        std::istringstream words(line);
        std::string current = "#";
        for (std::string word; words >> word;) {
            if (current.size() > 1 && current.size() + 1 + word.size() > 108) {
                out += current + "\n";
                current = "#";
            }
            current += " " + word;
        }
        out += current + "\n";
    }
    return out;
}

}  // namespace

std::string sample_config(sync::Role role) {
    const bool primary = role == sync::Role::primary;
    std::string out = std::string(primary ? primary_header : peer_header) + format_text;
    for (const ConfigKey& key : config_keys()) {
        if (!serves(key, role)) continue;
        out += "\n" + comment(key.about) + (key.set_in_samples ? "" : "# ") + setting(key, role) + "\n";
    }
    out += std::string("\n# ") + (primary ? "Peer" : "Primary") +
           "-only keys, accepted here but unused on a " + (primary ? "primary" : "peer") + ":\n";
    for (const ConfigKey& key : config_keys())
        if (!serves(key, role)) out += "# " + setting(key, role) + "\n";
    return out;
}

}  // namespace depsync::cli
