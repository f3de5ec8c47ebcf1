#pragma once
// What a path in a release may look like. An upstream tree can be hostile: fetch does not validate tree
// entries, so every name is checked here before anything of a release is written.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace depsync::fs {

// Prefix of the temp files depsync writes inside the deployment directory; reserved, never part of a release.
inline constexpr std::string_view temp_prefix = ".depsync-tmp.";

// What Linux file systems store: a name of at most NAME_MAX bytes, a path (as passed to a system call) and a
// symlink target of at most PATH_MAX - 1 bytes.
inline constexpr std::size_t max_name_bytes = 255;
inline constexpr std::size_t max_path_bytes = 4095;
inline constexpr std::size_t max_link_bytes = 4095;

// Why a single path component is unsafe, or nullopt when it is fine: empty, "." or "..", a '/', control
// characters (NUL included), longer than max_name_bytes, ".git" in any spelling git itself rejects (case,
// trailing dots/spaces, the 8.3 short name, an NTFS stream suffix as in ".git::$INDEX_ALLOCATION"), or
// depsync's temp prefix.
std::optional<std::string> name_defect(std::string_view name);

// Why `path` cannot name an entry of a release, or nullopt: it is empty or absolute, longer than
// max_path_bytes, or one of its '/'-separated components has a name_defect ("a/../b", "a//b", "./a").
std::optional<std::string> relative_path_defect(std::string_view path);

// Why a symlink target cannot be stored exactly as written, or nullopt: empty, holding a NUL byte (symlink()
// would store only the bytes before it, a different target than the one checked), or longer than
// max_link_bytes.
std::optional<std::string> link_target_defect(std::string_view target);

// Why a symlink at `link_path` with `target` would resolve outside the tree (or cannot be stored, see
// link_target_defect), or nullopt when it stays inside. `links` maps every symlink path of the same tree to
// its target, so chains of links are followed. `budget`, when given, bounds the resolution steps spent over
// many calls: when it runs out, the link counts as unsafe (a tree of many long links cannot make the check
// run for hours).
std::optional<std::string> symlink_defect(const std::string& link_path, const std::string& target,
                                          const std::map<std::string, std::string>& links,
                                          std::size_t* budget = nullptr);

}  // namespace depsync::fs
