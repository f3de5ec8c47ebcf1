#include "core/fs/real_path.hpp"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <memory>
#include <vector>

namespace depsync::fs {

std::filesystem::path resolved_path(const std::filesystem::path& path) {
    std::filesystem::path existing = std::filesystem::absolute(path);
    std::filesystem::path rest;
    for (;;) {
        std::unique_ptr<char, decltype(&std::free)> real(::realpath(existing.c_str(), nullptr), &std::free);
        if (real)
            return rest.empty() ? std::filesystem::path(real.get())
                                : (std::filesystem::path(real.get()) / rest).lexically_normal();
        if (!existing.has_relative_path()) return (existing / rest).lexically_normal();
        // The last component does not exist (or cannot be reached): resolve its parent instead.
        rest = rest.empty() ? existing.filename() : existing.filename() / rest;
        existing = existing.parent_path();
    }
}

namespace {

// The components of `path`, without the empty one a trailing separator adds.
std::vector<std::filesystem::path> components(const std::filesystem::path& path) {
    std::vector<std::filesystem::path> out;
    for (const auto& c : path)
        if (!c.empty()) out.push_back(c);
    return out;
}

}  // namespace

bool is_within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
    auto i = components(inner), o = components(outer);
    return o.size() <= i.size() && std::equal(o.begin(), o.end(), i.begin());
}

}  // namespace depsync::fs
