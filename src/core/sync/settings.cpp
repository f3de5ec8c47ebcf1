#include "core/sync/settings.hpp"

#include "core/error.hpp"
#include "core/fs/real_path.hpp"

namespace depsync::sync {
namespace {

struct Place {
    std::string what;  // "dir", "root NAME", "state", ...
    std::filesystem::path configured;
    std::filesystem::path resolved;
};

std::string describe(const Place& p) {
    std::string out = p.what + " " + p.configured.string();
    if (p.resolved != p.configured.lexically_normal()) out += " (" + p.resolved.string() + ")";
    return out;
}

// A peer's remote when it is a folder on this machine (a path or a file:// URL); empty otherwise.
std::filesystem::path local_remote(const std::string& remote) {
    if (remote.rfind("file://", 0) == 0) return remote.substr(7);
    if (!remote.empty() && remote.front() == '/') return remote;
    return {};
}

}  // namespace

void require_separate_paths(const Settings& settings) {
    std::vector<Place> roots, others;
    for (const Root& r : roots_of(settings))
        roots.push_back({r.name.empty() ? "dir" : "root " + r.name, r.dir, fs::resolved_path(r.dir)});
    auto add_other = [&](const char* what, const std::filesystem::path& p) {
        if (!p.empty()) others.push_back({what, p, fs::resolved_path(p)});
    };
    add_other("state", settings.state);
    if (settings.role == Role::primary) add_other("repo", settings.repo);
    if (settings.role == Role::peer) add_other("remote", local_remote(settings.remote));

    auto refuse = [](const std::string& why) {
        throw Error("cannot use these paths: " + why +
                        " (the deployment directories, the state folder and the repository must not lie "
                        "inside one another)",
                    ExitCode::usage);
    };
    // "A is inside B" or "A is the same folder as B".
    auto overlap = [&](const Place& a, const Place& b) {
        refuse(describe(a) + (a.resolved == b.resolved ? " is the same folder as " : " is inside ") +
               describe(b));
    };
    for (std::size_t i = 0; i < roots.size(); ++i) {
        const Place& root = roots[i];
        if (root.resolved == root.resolved.root_path()) refuse(describe(root) + " is the whole file system");
        for (std::size_t j = i + 1; j < roots.size(); ++j) {
            if (fs::is_within(roots[j].resolved, root.resolved)) overlap(roots[j], root);
            if (fs::is_within(root.resolved, roots[j].resolved)) overlap(root, roots[j]);
        }
        for (const Place& other : others) {
            if (fs::is_within(other.resolved, root.resolved)) overlap(other, root);
            if (fs::is_within(root.resolved, other.resolved)) overlap(root, other);
        }
    }
}

std::string roots_env(const Settings& settings) {
    std::string out;
    for (const Root& r : settings.roots) out += r.name + "=" + r.dir.string() + "\n";
    return out;
}

std::vector<std::string> untouchable_patterns(const Settings& settings) {
    std::vector<std::string> patterns = settings.exclude;
    patterns.insert(patterns.end(), settings.node_local.begin(), settings.node_local.end());
    return patterns;
}

std::vector<Root> roots_of(const Settings& settings) {
    if (!settings.roots.empty()) return settings.roots;
    return {Root{"", settings.dir}};
}

const char* role_name(Role role) {
    return role == Role::primary ? "primary" : "peer";
}

const char* local_changes_name(LocalChanges policy) {
    switch (policy) {
        case LocalChanges::overwrite:
            return "overwrite";
        case LocalChanges::keep:
            return "keep";
        case LocalChanges::refuse:
            return "refuse";
    }
    return "?";
}

}  // namespace depsync::sync
