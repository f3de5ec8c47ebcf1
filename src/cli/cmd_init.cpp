// depsync init primary|peer: create the node's folders and repository, write its config file, and check
// that a peer reaches its remote.

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <memory>

#include "cli/config_file.hpp"
#include "cli/config_keys.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "cli/service_account.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/printable.hpp"
#include "core/sync/init.hpp"
#include "core/sync/transfer.hpp"

namespace depsync::cli {
namespace {

constexpr const char* default_state = "/var/lib/depsync";

bool given(const CLI::App& app, const ConfigKey& key) {
    return app.get_option("--" + key.name)->count() > 0;
}

// Whether init writes `key`: the role, the node's places and its name, the excludes and a peer's policy
// always; every other key when it was given.
bool written(const CLI::App& app, const ConfigKey& key, const GlobalOptions& g) {
    const bool peer = g.role == "peer";
    if (key.name == "role" || key.name == "node" || key.name == "state" || key.name == "exclude") return true;
    if (key.name == "dir") return !g.dir.empty();
    if (key.name == "root") return !g.root.empty();
    if (key.name == "repo") return !peer;
    if (key.name == "remote" || key.name == "local_changes") return peer || given(app, key);
    return given(app, key);
}

// The config file's text: each key under its help line. Read back, it must give every value exactly: a
// value the format cannot carry is refused, not written changed.
std::string config_text(const CLI::App& app, const GlobalOptions& g) {
    std::string out =
        "# depsync configuration for this " + g.role + " node, written by 'depsync init " + g.role +
        "'.\n# Every key can also be given as --key on the command line; see 'depsync --help'.\n";
    std::vector<std::pair<const ConfigKey*, std::vector<std::string>>> keys;
    for (const ConfigKey& key : config_keys()) {
        if (!written(app, key, g)) continue;
        keys.emplace_back(&key, field_values(key, g));
        out += "# " + key.help + "\n" + config_line(key, keys.back().second) + "\n";
    }
    auto entries = parse_config(out, "(written by init)");
    for (std::size_t i = 0; i < keys.size(); ++i)
        if (i >= entries.size() || entries[i].key != keys[i].first || entries[i].values != keys[i].second)
            throw Error("cannot write " + keys[i].first->name +
                            " to the config file: its value would not read back as given",
                        ExitCode::usage);
    return out;
}

// The settings an existing config file holds, read as every command reads them.
GlobalOptions read_existing(const std::string& file) {
    CLI::App scratch;
    GlobalOptions existing;
    add_config_keys(scratch, existing);
    existing.config_file = file;
    std::ifstream in(file);
    ConfigReader(scratch, existing).from_config(in);
    return existing;
}

// An existing config is kept: init never rewrites what an operator may have edited. It must agree with the
// keys given (else nothing is done: exit 2, naming them), and is made private (mode 600) if it was not.
// Returns false when there is no config to keep (absent, or no key in it).
bool keep_existing(const CLI::App& app, const GlobalOptions& g) {
    struct stat st {};
    if (::stat(g.config_file.c_str(), &st) != 0) return false;
    GlobalOptions existing = read_existing(g.config_file);
    if (existing.file_lines.empty()) return false;
    std::string differ;
    for (const ConfigKey& key : config_keys()) {
        if (key.name != "role" && !given(app, key)) continue;
        if (field_values(key, existing) == field_values(key, g)) continue;
        auto line = existing.file_lines.find(key.name);
        differ += (differ.empty() ? "" : ", ") + key.name +
                  (line == existing.file_lines.end() ? " (not in it)"
                                                     : " (line " + std::to_string(line->second) + ")");
    }
    if (!differ.empty())
        throw Error("config " + g.config_file + " exists and differs from the options given: " + differ +
                        "; nothing was changed (edit the file, or move it away and run init again)",
                    ExitCode::usage);
    return true;
}

void make_private(const std::string& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
        if (::chmod(file.c_str(), 0600) != 0) throw_errno("cannot make " + file + " private (chmod 600)");
        std::cout << "config " << printable(file)
                  << ": mode set to 600 (it names keys and paths of this node)\n";
    }
}

// The options as init writes them: paths absolute, the defaults init chooses filled in.
GlobalOptions normalized(GlobalOptions g, sync::Role role) {
    g.role = sync::role_name(role);
    if (g.state.empty()) g.state = default_state;
    if (g.exclude.empty()) g.exclude = init_excludes();
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
    return g;
}

void require_places(const GlobalOptions& g, sync::Role role) {
    if (role == sync::Role::primary && g.repo.empty())
        throw Error("init primary needs --repo BARE_REPO", ExitCode::usage);
    if (role == sync::Role::peer && g.remote.empty())
        throw Error("init peer needs --remote URL", ExitCode::usage);
    if (g.dir.empty() && g.root.empty())
        throw Error("init needs --dir DIR (the deployment directory) or --root NAME=DIR entries",
                    ExitCode::usage);
}

enum class Check { remote, skip };

void run_init(const CLI::App& app, Context& ctx, sync::Role role, Check check) {
    // Re-running init on a node that is set up: say what exists and change nothing.
    if (std::filesystem::exists(ctx.global.config_file) && ctx.global.dir.empty() &&
        ctx.global.root.empty()) {
        std::cout << "config " << ctx.global.config_file << " exists (kept as it is); this node is set up\n";
        return;
    }
    require_places(ctx.global, role);
    GlobalOptions g = normalized(ctx.global, role);
    const bool keep = keep_existing(app, g);
    if (keep) make_private(g.config_file);
    sync::Settings settings = make_settings(g);
    g.node = settings.node;
    const std::string text = keep ? "" : config_text(app, g);

    for (const auto& line : sync::init_node(settings)) std::cout << printable(line) << "\n";

    std::filesystem::path config = g.config_file;
    if (keep) {
        std::cout << "config " << config.string() << " exists (kept as it is)\n";
    } else {
        fs::create_directories(config.parent_path().empty() ? "." : config.parent_path());
        fs::write_file_atomically(config, text, 0600);
        std::cout << "wrote config " << config.string() << "\n";
    }
    // Root sets a node up for the units, which run as the directory's owner: say how.
    if (::geteuid() == 0)
        for (const auto& line : service_account_lines(settings, g.config_file, g.log_file))
            std::cout << printable(line) << "\n";
    if (role != sync::Role::peer || check == Check::skip) return;
    // The config stays written when the check fails: the fix (a known_hosts line, a key, the URL) is made
    // beside it, and the next pull or `depsync init` run checks again.
    try {
        std::cout << printable(sync::check_upstream(settings)) << "\n";
    } catch (const Error& e) {
        throw Error(std::string(e.what()) + " (the config is written; fix this, then run 'depsync pull')",
                    ExitCode::failure);
    }
}

}  // namespace

void add_init(CLI::App& app, Context& ctx) {
    auto* init = app.add_subcommand("init", "Set up this node: folders, repository, config file")
                     ->require_subcommand(1);
    init->footer(
        "Writes every config key given as an option (mode 600). A peer then contacts its remote once\n"
        "(host key, authentication, repository); --no-check skips that.\n"
        "Examples:\n"
        "  depsync -c /etc/depsync/depsync.conf init primary --dir /opt/mi/repository/deployment/server \\\n"
        "          --repo /srv/depsync/releases.git\n"
        "  depsync init peer --dir /opt/mi/repository/deployment/server --remote "
        "ssh://depsync@primary/srv/depsync/releases.git");
    init->add_subcommand("primary", "Create the bare release repository and the primary's config")
        ->callback([&app, &ctx] { run_init(app, ctx, sync::Role::primary, Check::skip); });
    auto* peer =
        init->add_subcommand("peer", "Create the peer's state folder and config, and check the remote");
    auto no_check = std::make_shared<bool>(false);
    peer->add_flag("--no-check", *no_check, "Do not contact the remote");
    peer->callback([&app, &ctx, no_check] {
        run_init(app, ctx, sync::Role::peer, *no_check ? Check::skip : Check::remote);
    });
}

}  // namespace depsync::cli
