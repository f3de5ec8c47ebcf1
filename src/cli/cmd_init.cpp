// depsync init primary|peer: create the node's folders and repository, and write its config file.

#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <iostream>

#include "cli/config_keys.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/printable.hpp"
#include "core/sync/init.hpp"

namespace depsync::cli {
namespace {

constexpr const char* default_state = "/var/lib/depsync";

// A config value in double quotes, escaped as JSON strings are ('"', '\\' and control characters; other
// bytes as they are), which is how init has always written it.
std::string quoted(const std::string& s) {
    std::string out = "\"";
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

std::string config_text(const sync::Settings& s, const std::vector<std::string>& exclude) {
    std::string role = sync::role_name(s.role);
    std::string out =
        "# depsync configuration for this " + role + " node, written by 'depsync init " + role +
        "'.\n# Every key can also be given as --key on the command line; see 'depsync --help'.\n";
    out += "role = " + role + "\n";
    out += "node = " + quoted(s.node) + "\n";
    if (s.roots.empty()) {
        out += "dir = " + quoted(s.dir.string()) + "\n";
    } else {
        std::string roots;
        for (const auto& r : s.roots)
            roots += (roots.empty() ? "" : ", ") + quoted(r.name + "=" + r.dir.string());
        out += "# Directories released together: NAME=PATH (the name is the folder in the release).\n";
        out += "root = [" + roots + "]\n";
    }
    if (s.role == sync::Role::primary) {
        out += "repo = " + quoted(s.repo.string()) + "\n";
    } else {
        out += "remote = " + quoted(s.remote) + "\n";
    }
    out += "state = " + quoted(s.state.string()) + "\n";
    out +=
        "# Strays editors and tools leave behind: never published, never touched (gitignore-like, "
        "repeatable).\n";
    std::string list;
    for (const auto& e : exclude) list += (list.empty() ? "" : ", ") + quoted(e);
    out += "exclude = [" + list + "]\n";
    if (s.role == sync::Role::peer)
        out +=
            "# What pull does with local edits: overwrite (saved to backup first), keep, refuse.\n"
            "local_changes = " +
            std::string(sync::local_changes_name(s.local_changes)) + "\n";
    if (!s.node_local.empty()) {
        std::string patterns;
        for (const auto& p : s.node_local) patterns += (patterns.empty() ? "" : ", ") + quoted(p);
        out += "# Per-node files: never reported, touched or published.\nnode_local = [" + patterns + "]\n";
    }
    if (s.wait > 0) out += "wait = " + std::to_string(s.wait) + "\n";
    if (s.backup_keep != 10) out += "backup_keep = " + std::to_string(s.backup_keep) + "\n";
    if (s.max_entries != 1000000) out += "max_entries = " + std::to_string(s.max_entries) + "\n";
    return out;
}

void run_init(Context& ctx, sync::Role role) {
    GlobalOptions g = ctx.global;
    g.role = sync::role_name(role);
    if (g.state.empty()) g.state = default_state;
    if (g.exclude.empty()) g.exclude = init_excludes();
    // Re-running init on a node that is set up: say what exists and change nothing.
    if (std::filesystem::exists(g.config_file) && g.dir.empty() && g.root.empty()) {
        std::cout << "config " << g.config_file << " exists (kept as it is); this node is set up\n";
        return;
    }
    if (role == sync::Role::primary && g.repo.empty())
        throw Error("init primary needs --repo BARE_REPO", ExitCode::usage);
    if (role == sync::Role::peer && g.remote.empty())
        throw Error("init peer needs --remote URL", ExitCode::usage);
    if (g.dir.empty() && g.root.empty())
        throw Error("init needs --dir DIR (the deployment directory) or --root NAME=DIR entries",
                    ExitCode::usage);
    for (std::string& r : g.root) {
        auto eq = r.find('=');
        if (eq != std::string::npos)
            r = r.substr(0, eq + 1) + std::filesystem::absolute(r.substr(eq + 1)).lexically_normal().string();
    }
    for (std::string* p : {&g.dir, &g.state, &g.repo})
        if (!p->empty()) *p = std::filesystem::absolute(*p).lexically_normal().string();
    if (role == sync::Role::peer && g.remote.find("://") == std::string::npos && !g.remote.empty() &&
        g.remote.front() != '/' && g.remote.find(':') == std::string::npos)
        g.remote = std::filesystem::absolute(g.remote).lexically_normal().string();
    sync::Settings settings = make_settings(g);

    for (const auto& line : sync::init_node(settings)) std::cout << printable(line) << "\n";

    std::filesystem::path config = g.config_file;
    struct stat st {};
    if (::stat(config.c_str(), &st) == 0) {
        std::cout << "config " << config.string() << " exists (kept as it is)\n";
        return;
    }
    fs::create_directories(config.parent_path().empty() ? "." : config.parent_path());
    fs::write_file_atomically(config, config_text(settings, g.exclude), 0644);
    std::cout << "wrote config " << config.string() << "\n";
}

}  // namespace

void add_init(CLI::App& app, Context& ctx) {
    auto* init = app.add_subcommand("init", "Set up this node: folders, repository, config file")
                     ->require_subcommand(1);
    init->footer(
        "Examples:\n"
        "  depsync -c /etc/depsync/depsync.conf init primary --dir /opt/mi/repository/deployment/server \\\n"
        "          --repo /srv/depsync/releases.git\n"
        "  depsync init peer --dir /opt/mi/repository/deployment/server --remote "
        "ssh://depsync@primary/srv/depsync/releases.git");
    init->add_subcommand("primary", "Create the bare release repository and the primary's config")
        ->callback([&ctx] { run_init(ctx, sync::Role::primary); });
    init->add_subcommand("peer", "Create the peer's state folder and config")->callback([&ctx] {
        run_init(ctx, sync::Role::peer);
    });
}

}  // namespace depsync::cli
