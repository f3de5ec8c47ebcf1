#pragma once
// Gitignore-like path patterns for the `exclude` and `node_local` config keys.
//
//   *.bk         no slash: matches the name at any depth (a file, or a folder and everything below it)
//   /tmp         leading slash: anchored at the root of the tree
//   imports/*.x  a slash inside: anchored at the root
//   cache/       trailing slash: matches folders only
//   **/x, a/**   `**` matches any number of folders; `a/**` matches what is inside a, not a itself
//   !keep.bk     a later negation re-includes a path; the last matching pattern wins
// `*` and `?` never match '/'.

#include <string>
#include <string_view>
#include <vector>

namespace depsync::fs {

class PathMatcher {
  public:
    PathMatcher() = default;
    explicit PathMatcher(const std::vector<std::string>& patterns);

    // Adds one pattern; blank lines and lines starting with '#' are ignored.
    void add(std::string_view pattern);

    // True when the relative path (components separated by '/') is matched by the last pattern that applies.
    // A path inside a matched folder must be checked by the caller walking from the top (as a walk does).
    bool matches(std::string_view path, bool is_dir) const;

    bool empty() const { return m_rules.empty(); }

  private:
    struct Rule {
        std::vector<std::string> parts;  // pattern split at '/'
        bool anchored = false;
        bool dir_only = false;
        bool negated = false;
    };
    std::vector<Rule> m_rules;
};

// True when `path` or one of its parent folders is matched (for paths that were not reached by a walk).
bool matches_path_or_parent(const PathMatcher& matcher, std::string_view path, bool is_dir);

}  // namespace depsync::fs
