#pragma once
// What a path in a release may look like. An upstream tree can be hostile: fetch does not validate tree
// entries, so every name is checked here before anything of a release is written.

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace depsync::fs {

// Prefix of the temp files depsync writes inside the deployment directory; reserved, never part of a release.
inline constexpr std::string_view temp_prefix = ".depsync-tmp.";

// Why a single path component is unsafe, or nullopt when it is fine: empty, "." or "..", a '/', control
// characters, ".git" in any spelling git itself rejects (case, trailing dots/spaces, the 8.3 short name, an
// NTFS stream suffix as in ".git::$INDEX_ALLOCATION"), or depsync's temp prefix.
std::optional<std::string> name_defect(std::string_view name);

// Why a symlink at `link_path` with `target` would resolve outside the tree, or nullopt when it stays inside.
// `links` maps every symlink path of the same tree to its target, so chains of links are followed.
std::optional<std::string> symlink_defect(const std::string& link_path, const std::string& target,
                                          const std::map<std::string, std::string>& links);

}  // namespace depsync::fs
