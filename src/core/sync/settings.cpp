#include "core/sync/settings.hpp"

namespace depsync::sync {

std::string roots_env(const Settings& settings) {
    std::string out;
    for (const Root& r : settings.roots) out += r.name + "=" + r.dir.string() + "\n";
    return out;
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
