#include "core/fs/pattern.hpp"

#include <fnmatch.h>

namespace depsync::fs {
namespace {

std::vector<std::string> split(std::string_view s) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= s.size()) {
        std::size_t slash = s.find('/', start);
        if (slash == std::string_view::npos) slash = s.size();
        parts.emplace_back(s.substr(start, slash - start));
        start = slash + 1;
    }
    return parts;
}

bool match_component(const std::string& pattern, std::string_view name) {
    // Most patterns are a name or one '*' between fixed text ("*.bk", ".*.tmp"): matched here without
    // fnmatch, which is most of the cost of excluding on a walk of ten thousand entries.
    if (pattern.find_first_of("?[\\") == std::string::npos) {
        std::size_t star = pattern.find('*');
        if (star == std::string::npos) return name == pattern;
        if (pattern.find('*', star + 1) == std::string::npos) {
            std::string_view head(pattern.data(), star);
            std::string_view tail(pattern.data() + star + 1, pattern.size() - star - 1);
            return name.size() >= head.size() + tail.size() && name.substr(0, head.size()) == head &&
                   name.substr(name.size() - tail.size()) == tail;
        }
    }
    return ::fnmatch(pattern.c_str(), std::string(name).c_str(), 0) == 0;
}

// Matches pattern parts [pi..] against path parts [ni..]; "**" stands for zero or more components.
bool match_parts(const std::vector<std::string>& pat, std::size_t pi, const std::vector<std::string>& path,
                 std::size_t ni) {
    while (pi < pat.size()) {
        if (pat[pi] == "**") {
            // A trailing "**" matches what is inside, not the folder itself ("tmp/**" is not "tmp").
            std::size_t first = pi + 1 == pat.size() ? ni + 1 : ni;
            for (std::size_t k = first; k <= path.size(); ++k)
                if (match_parts(pat, pi + 1, path, k)) return true;
            return false;
        }
        if (ni >= path.size() || !match_component(pat[pi], path[ni])) return false;
        ++pi;
        ++ni;
    }
    return ni == path.size();
}

}  // namespace

PathMatcher::PathMatcher(const std::vector<std::string>& patterns) {
    for (const auto& p : patterns) add(p);
}

void PathMatcher::add(std::string_view pattern) {
    while (!pattern.empty() && (pattern.back() == ' ' || pattern.back() == '\r')) pattern.remove_suffix(1);
    if (pattern.empty() || pattern.front() == '#') return;
    Rule rule;
    if (pattern.front() == '!') {
        rule.negated = true;
        pattern.remove_prefix(1);
    }
    if (!pattern.empty() && pattern.back() == '/') {
        rule.dir_only = true;
        pattern.remove_suffix(1);
    }
    if (!pattern.empty() && pattern.front() == '/') {
        rule.anchored = true;
        pattern.remove_prefix(1);
    }
    if (pattern.empty()) return;
    if (pattern.find('/') != std::string_view::npos) rule.anchored = true;
    rule.parts = split(pattern);
    m_rules.push_back(std::move(rule));
}

bool PathMatcher::matches(std::string_view path, bool is_dir) const {
    if (m_rules.empty()) return false;
    std::vector<std::string> parts;  // split only for an anchored rule
    auto slash = path.rfind('/');
    std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    bool matched = false;
    for (const Rule& rule : m_rules) {
        if (rule.dir_only && !is_dir) continue;
        if (rule.anchored && parts.empty()) parts = split(path);
        bool hit =
            rule.anchored ? match_parts(rule.parts, 0, parts, 0) : match_component(rule.parts.front(), name);
        if (hit) matched = !rule.negated;
    }
    return matched;
}

bool matches_path_or_parent(const PathMatcher& matcher, std::string_view path, bool is_dir) {
    if (matcher.empty()) return false;
    std::size_t pos = 0;
    while ((pos = path.find('/', pos)) != std::string_view::npos) {
        if (matcher.matches(path.substr(0, pos), true)) return true;
        ++pos;
    }
    return matcher.matches(path, is_dir);
}

}  // namespace depsync::fs
