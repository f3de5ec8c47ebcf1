// Settings from options: the config keys parsed by CLI11 as depsync parses them (config_keys.hpp), then
// make_settings, which turns them into the core's Settings or refuses them with the key and the fix.

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/config_file.hpp"
#include "cli/config_keys.hpp"
#include "cli/context.hpp"
#include "core/error.hpp"
#include "core/sync/gc.hpp"
#include "core/sync/publish.hpp"
#include "support/temp_dir.hpp"

using depsync::Error;
using depsync::ExitCode;
using depsync::cli::config_keys;
using depsync::cli::ConfigKey;
using depsync::cli::default_text;
using depsync::cli::GlobalOptions;
using depsync::cli::make_settings;
using depsync::testing::TempDir;

namespace {

// The options after parsing `args` (and the config file `config`, when given) as depsync does.
GlobalOptions parsed(std::vector<std::string> args, const std::string& config = "") {
    CLI::App app;
    GlobalOptions g;
    depsync::cli::add_config_keys(app, g);
    g.config_file = config.empty() ? "/etc/depsync/test.conf" : config;
    if (!config.empty()) {
        app.set_config("-c,--config", config, "", true);
        app.config_formatter(std::make_shared<depsync::cli::ConfigReader>(app, g));
        args.insert(args.begin(), {"-c", config});
    }
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last first
    app.parse(args);
    return g;
}

// The keys a peer needs, in folders of `dir`, with `instead` in place of the same keys' values.
std::vector<std::string> peer_args(const TempDir& dir,
                                   const std::map<std::string, std::string>& instead = {}) {
    std::map<std::string, std::string> keys = {{"--role", "peer"},
                                               {"--dir", (dir.path() / "server").string()},
                                               {"--state", (dir.path() / "state").string()},
                                               {"--remote", (dir.path() / "releases.git").string()}};
    for (const auto& [key, value] : instead) keys[key] = value;
    std::vector<std::string> args;
    for (const auto& [key, value] : keys) args.insert(args.end(), {key, value});
    return args;
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

const ConfigKey& key_named(const std::string& name) {
    for (const ConfigKey& key : config_keys())
        if (key.name == name) return key;
    FAIL("no config key " << name);
    throw std::logic_error("no config key " + name);
}

}  // namespace

TEST_CASE("settings from the required keys alone carry the core's defaults", "[settings]") {
    TempDir dir;
    const depsync::sync::Settings core;
    const depsync::sync::GcOptions gc;
    GlobalOptions g = parsed(peer_args(dir));
    depsync::sync::Settings s = make_settings(g);
    CHECK(s.role == depsync::sync::Role::peer);
    CHECK(s.dir == dir.path() / "server");
    CHECK(s.remote == (dir.path() / "releases.git").string());
    CHECK(s.node == depsync::sync::host_name());
    CHECK(s.local_changes == core.local_changes);
    CHECK(s.revert_on_change_failure == core.revert_on_change_failure);
    CHECK(s.wait == core.wait);
    CHECK(s.settle == core.settle);
    CHECK(s.timeout == core.timeout);
    CHECK(s.max_fetch_bytes == core.max_fetch_bytes);
    CHECK(s.max_fetch_memory == core.max_fetch_memory);
    CHECK(s.backup_keep == core.backup_keep);
    CHECK(s.backup_max_bytes == core.backup_max_bytes);
    CHECK(s.max_entries == core.max_entries);
    CHECK(s.hook_timeout == core.hook_timeout);
    CHECK(g.gc_keep == gc.keep);
    CHECK(g.gc_keep_days == gc.keep_days);
    CHECK(s.exclude.empty());
    CHECK(s.mirrors.empty());
}

TEST_CASE("byte bounds take size suffixes, on the command line and in the config file", "[settings]") {
    TempDir dir;
    depsync::sync::Settings s =
        make_settings(parsed(with(peer_args(dir), {"--max-fetch-bytes", "2GiB", "--max_fetch_memory", "96MiB",
                                                   "--backup-max-bytes", "3kb"})));
    CHECK(s.max_fetch_bytes == (2ull << 30));
    CHECK(s.max_fetch_memory == (96ull << 20));
    CHECK(s.backup_max_bytes == 3 * 1024);

    const std::string config = (dir.path() / "depsync.conf").string();
    std::ofstream(config) << "max_fetch_bytes = 1GiB\nbackup_max_bytes = 5000\nlocal_changes = keep\n"
                             "exclude = [\"*.bk\", \"/tmp/\"]\nnode_local = a.xml\nnode_local = b/\n"
                             "on_change_failure = revert\ngc_keep = 7\n";
    GlobalOptions g = parsed(peer_args(dir), config);
    s = make_settings(g);
    CHECK(s.max_fetch_bytes == (1ull << 30));
    CHECK(s.backup_max_bytes == 5000);
    CHECK(s.local_changes == depsync::sync::LocalChanges::keep);
    CHECK(s.exclude == std::vector<std::string>{"*.bk", "/tmp/"});
    CHECK(s.node_local == std::vector<std::string>{"a.xml", "b/"});
    CHECK(s.revert_on_change_failure);
    CHECK(g.gc_keep == 7);
}

TEST_CASE("values the option parser refuses never reach the settings", "[settings]") {
    TempDir dir;
    for (const std::vector<std::string>& bad : {std::vector<std::string>{"--local-changes", "merge"},
                                                {"--on-change-failure", "ignore"},
                                                {"--max-entries", "0"},
                                                {"--gc-keep", "0"},
                                                {"--timeout", "soon"},
                                                {"--wait", "1s"},
                                                {"--max-fetch-bytes", "12XB"},
                                                {"--backup-keep", "-1"}}) {
        INFO(bad[0] << " " << bad[1]);
        CHECK_THROWS_AS(parsed(with(peer_args(dir), bad)), CLI::ParseError);
    }
}

TEST_CASE("make_settings refuses a missing or invalid key with a usage error naming it", "[settings]") {
    TempDir dir;
    const std::string d = dir.path().string();
    struct Case {
        std::vector<std::string> args;
        std::string message;
    };
    for (const Case& c : std::vector<Case>{
             {{"--dir", d + "/s", "--state", d + "/t"},
              "no 'role' configured in /etc/depsync/test.conf, which does not exist (run"},
             {{"--role", "leader"}, "invalid role 'leader' (expected primary or peer)"},
             {{"--role", "peer", "--state", d + "/t", "--remote", d + "/r"}, "no 'dir' configured in"},
             {{"--role", "peer", "--dir", d + "/s", "--remote", d + "/r"}, "no 'state' configured in"},
             {{"--role", "primary", "--dir", d + "/s", "--state", d + "/t"}, "no 'repo' configured in"},
             {{"--role", "peer", "--dir", d + "/s", "--state", d + "/t"}, "no 'remote' configured in"},
             {{"--role", "peer", "--dir", "server", "--state", d + "/t", "--remote", d + "/r"},
              "path server must be absolute"},
             {peer_args(dir, {{"--state", "state"}}), "path state must be absolute"},
             {with(peer_args(dir), {"--root", "a=" + d + "/a"}), "configure either 'dir' or 'root' entries"},
             {{"--role", "peer", "--root", "a", "--state", d + "/t", "--remote", d + "/r"},
              "invalid root 'a'"},
             {{"--role", "peer", "--root", ".a=" + d + "/a"}, "invalid root name '.a'"},
             {{"--role", "peer", "--root", "a=" + d + "/a", "a=" + d + "/b"}, "root 'a' is named twice"},
             {{"--role", "peer", "--root", "a=rel"}, "root path rel must be absolute"},
             {peer_args(dir, {{"--remote", "http://primary/releases.git"}}),
              "remote 'http://primary/releases.git' is refused"},
             {with(peer_args(dir), {"--timeout", "0"}), "timeout must be at least 1"},
             {with(peer_args(dir), {"--max-fetch-bytes", "-1"}),
              "max_fetch_bytes = 18446744073709551615 is out"},
             {with(peer_args(dir), {"--max-fetch-memory", "1MiB"}),
              "max_fetch_memory must be at least 67108864"},
             {with(peer_args(dir), {"--mirror", "http://standby/releases.git"}),
              "remote 'http://standby/releases.git' is refused"},
             {with(peer_args(dir), {"--owner", "no-such-user-here"}), "invalid owner 'no-such-user-here'"},
             // ssh splits an option's value at white space and expands % and ~ in it.
             {with(peer_args(dir), {"--known-hosts", d + "/my hosts"}),
              "known_hosts '" + d + "/my hosts': ssh"},
             {with(peer_args(dir), {"--known-hosts", d + "/h%d"}), "known_hosts '" + d + "/h%d': ssh"},
             {with(peer_args(dir), {"--ssh-config", "~/ssh_config"}), "ssh_config '~/ssh_config': ssh"},
             {with(peer_args(dir), {"--ssh-key", d + "/id\"x"}), "ssh_key '" + d + "/id\"x': ssh"}}) {
        INFO(c.message);
        GlobalOptions g = parsed(c.args);
        try {
            make_settings(g);
            FAIL("accepted");
        } catch (const Error& e) {
            CHECK(e.code() == ExitCode::usage);
            CHECK(std::string(e.what()).find(c.message) != std::string::npos);
        }
    }
}

TEST_CASE("every config key is one option named after it, bound to a field of its own", "[settings][keys]") {
    std::set<std::string> names;
    std::vector<depsync::cli::Field> fields;
    for (const ConfigKey& key : config_keys()) {
        INFO(key.name);
        CHECK(names.insert(key.name).second);
        CHECK(std::find(fields.begin(), fields.end(), key.field) == fields.end());
        fields.push_back(key.field);
        CHECK(key.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string::npos);
        CHECK_FALSE(key.help.empty());
        CHECK_FALSE(key.about.empty());
        CHECK((key.value == depsync::cli::Value::choice) == !key.choices.empty());
    }
    CHECK(depsync::cli::option_names(key_named("max_fetch_bytes")) == "--max-fetch-bytes,--max_fetch_bytes");
    CHECK(depsync::cli::option_names(key_named("timeout")) == "--timeout");
    CHECK(key_named("exclude").repeatable());
    CHECK_FALSE(key_named("dir").repeatable());
}

TEST_CASE("a key's default is shown as a config file writes it, and its help agrees", "[settings][keys]") {
    CHECK(default_text(key_named("max_fetch_bytes")) == "4GiB");
    CHECK(default_text(key_named("max_fetch_memory")) == "1GiB");
    CHECK(default_text(key_named("settle")) == "5");
    CHECK(default_text(key_named("timeout")) == std::to_string(depsync::sync::Settings{}.timeout));
    CHECK(default_text(key_named("local_changes")) == "overwrite");
    CHECK(default_text(key_named("node")).empty());
    CHECK(default_text(key_named("exclude")).empty());
    // A help line that names a default names this one.
    for (const ConfigKey& key : config_keys()) {
        const std::string shown = default_text(key);
        if (shown.empty() || key.help.find("default") == std::string::npos) continue;
        INFO(key.name << ": " << key.help);
        CHECK(key.help.find(shown) != std::string::npos);
    }
}
