#include "core/fs/path_safety.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace depsync::fs {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

std::vector<std::string> components(std::string_view path) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t slash = path.find('/', start);
        if (slash == std::string_view::npos) slash = path.size();
        if (slash > start) out.emplace_back(path.substr(start, slash - start));
        start = slash + 1;
    }
    return out;
}

}  // namespace

std::optional<std::string> name_defect(std::string_view name) {
    if (name.empty()) return "empty name";
    if (name == "." || name == "..") return "'" + std::string(name) + "' component";
    for (char ch : name) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '/' || c == '\\') return "path separator inside a name";
        if (c < 0x20 || c == 0x7f) return "control character in name";
    }
    if (name.size() > max_name_bytes)
        return "name longer than " + std::to_string(max_name_bytes) + " bytes (" +
               std::to_string(name.size()) + ")";
    if (name.substr(0, temp_prefix.size()) == temp_prefix) return "reserved depsync temp name";
    // git (with core.protectNTFS, its default) rejects .git with trailing dots or spaces and its 8.3 name.
    // Only a name starting with '.' or 'g' can be one of those.
    if (name[0] != '.' && name[0] != 'g' && name[0] != 'G') return std::nullopt;
    std::string l = lower(name);
    l = l.substr(0, l.find(':'));  // NTFS alternate data streams: ".git::$INDEX_ALLOCATION"
    while (!l.empty() && (l.back() == '.' || l.back() == ' ')) l.pop_back();
    if (l == ".git" || l == "git~1") return "'.git' name";
    return std::nullopt;
}

std::optional<std::string> relative_path_defect(std::string_view path) {
    if (path.empty()) return "empty path";
    if (path.front() == '/') return "absolute path";
    if (path.size() > max_path_bytes) return "longer than " + std::to_string(max_path_bytes) + " bytes";
    for (std::size_t start = 0; start <= path.size();) {
        std::size_t end = std::min(path.find('/', start), path.size());
        if (std::optional<std::string> defect = name_defect(path.substr(start, end - start))) return defect;
        start = end + 1;
    }
    return std::nullopt;
}

std::optional<std::string> link_target_defect(std::string_view target) {
    if (target.empty()) return "empty symlink target";
    if (target.find('\0') != std::string_view::npos) return "symlink target holds a NUL byte";
    if (target.size() > max_link_bytes)
        return "symlink target longer than " + std::to_string(max_link_bytes) + " bytes (" +
               std::to_string(target.size()) + ")";
    return std::nullopt;
}

std::optional<std::string> symlink_defect(const std::string& link_path, const std::string& target,
                                          const std::map<std::string, std::string>& links,
                                          std::size_t* budget) {
    // The bytes checked are the bytes symlink() stores: nothing after a NUL is silently dropped.
    if (auto why = link_target_defect(target)) return why;
    if (target.front() == '/') return "absolute symlink target '" + target + "'";
    // Resolve lexically against the tree, substituting links met on the way; depth bounds cycles. `joined`
    // is the path so far, `marks` where each of its components starts (so a step costs no copy of it).
    std::string joined;
    std::vector<std::size_t> marks;
    auto push = [&](const std::string& part) {
        marks.push_back(joined.size());
        if (!joined.empty()) joined += '/';
        joined += part;
    };
    auto pop = [&] {
        joined.resize(marks.back());
        marks.pop_back();
    };
    std::vector<std::string> parents = components(link_path);
    parents.pop_back();
    for (const auto& p : parents) push(p);
    std::vector<std::string> pending = components(target);
    std::reverse(pending.begin(), pending.end());
    int hops = 0;
    while (!pending.empty()) {
        if (budget) {
            if (*budget == 0) return "too many symlink steps to check (symlinks too long or too many)";
            --*budget;
        }
        std::string part = std::move(pending.back());
        pending.pop_back();
        if (part == ".") continue;
        if (part == "..") {
            if (marks.empty()) return "symlink target '" + target + "' leaves the deployment directory";
            pop();
            continue;
        }
        push(part);
        auto it = links.find(joined);
        if (it != links.end()) {
            if (++hops > 40) return "symlink loop at '" + joined + "'";
            if (auto why = link_target_defect(it->second))
                return "symlink chain through '" + joined + "': " + *why;
            if (it->second.front() == '/') return "symlink chain through '" + joined + "' is absolute";
            pop();
            std::vector<std::string> more = components(it->second);
            for (auto r = more.rbegin(); r != more.rend(); ++r) pending.push_back(std::move(*r));
        }
    }
    return std::nullopt;
}

}  // namespace depsync::fs
