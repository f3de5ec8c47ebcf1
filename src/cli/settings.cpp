#include <cstdlib>

#include "cli/context.hpp"
#include "core/sync/publish.hpp"

namespace depsync::cli {

std::string default_config_path() {
    const char* env = std::getenv("DEPSYNC_CONFIG");
    return (env && *env) ? env : "/etc/depsync/depsync.conf";
}

sync::Settings make_settings(const GlobalOptions& g) {
    sync::Settings s;
    auto need = [&](const std::string& value, const char* key, const char* fix) {
        if (value.empty())
            throw Error(std::string("no '") + key + "' configured in " + g.config_file + " (" + fix + ")",
                        ExitCode::usage);
    };
    need(g.role, "role", "run 'depsync init primary' or 'depsync init peer' first, or pass -c FILE");
    if (g.role == "primary") {
        s.role = sync::Role::primary;
    } else if (g.role == "peer") {
        s.role = sync::Role::peer;
    } else {
        throw Error("invalid role '" + g.role + "' (expected primary or peer)", ExitCode::usage);
    }
    need(g.dir, "dir", "the deployment directory");
    need(g.state, "state", "the state folder");
    s.dir = g.dir;
    s.state = g.state;
    if (s.role == sync::Role::primary) {
        need(g.repo, "repo", "the release repository");
        s.repo = g.repo;
    } else {
        need(g.remote, "remote", "the primary's repository URL or path");
        s.remote = g.remote;
    }
    for (const auto* p : {&s.dir, &s.state})
        if (!p->is_absolute()) throw Error("path " + p->string() + " must be absolute", ExitCode::usage);
    s.node = g.node.empty() ? sync::host_name() : g.node;
    s.exclude = g.exclude;
    s.node_local = g.node_local;
    if (g.local_changes.empty() || g.local_changes == "overwrite") {
        s.local_changes = sync::LocalChanges::overwrite;
    } else if (g.local_changes == "keep") {
        s.local_changes = sync::LocalChanges::keep;
    } else if (g.local_changes == "refuse") {
        s.local_changes = sync::LocalChanges::refuse;
    } else {
        throw Error("invalid local_changes '" + g.local_changes + "' (expected overwrite, keep or refuse)",
                    ExitCode::usage);
    }
    s.wait = g.wait;
    s.settle = g.settle;
    s.timeout = g.timeout;
    s.backup_keep = g.backup_keep;
    return s;
}

}  // namespace depsync::cli
