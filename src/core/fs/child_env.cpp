#include "core/fs/child_env.hpp"

#include <cstring>

extern char** environ;

namespace depsync::fs {
namespace {

// The name of a "NAME=VALUE" entry.
std::string name_of(const char* entry) {
    const char* eq = std::strchr(entry, '=');
    return eq ? std::string(entry, static_cast<std::size_t>(eq - entry)) : std::string(entry);
}

bool is_secret(const std::string& name) {
    for (const char* secret : secret_env_names)
        if (name == secret) return true;
    return false;
}

}  // namespace

ChildEnvironment::ChildEnvironment(const std::map<std::string, std::string>& extra, Secrets secrets) {
    for (char** e = environ; e && *e; ++e) {
        std::string name = name_of(*e);
        if (secrets == Secrets::drop && is_secret(name)) continue;
        if (extra.count(name) != 0) continue;
        m_entries.emplace_back(*e);
    }
    for (const auto& [name, value] : extra) m_entries.push_back(name + "=" + value);
    for (std::string& entry : m_entries) m_pointers.push_back(entry.data());
    m_pointers.push_back(nullptr);
}

}  // namespace depsync::fs
