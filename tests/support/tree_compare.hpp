#pragma once
// Describing a directory tree as data, to assert that two trees are identical: every folder (empty ones
// included), every file with its bytes and exec bit, every symlink with its target. Symlinks are never
// followed.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace depsync::testing {

enum class NodeType { file, directory, symlink, other };

const char* node_type_name(NodeType type);

struct NodeInfo {
    NodeType type = NodeType::other;
    mode_t mode = 0;            // permission bits (st_mode & 07777)
    std::uint64_t size = 0;     // file size in bytes (0 for folders)
    std::string content;        // file: hex digest of the bytes; symlink: its target; otherwise empty
    std::uint64_t inode = 0;    // for tests that check a file was not rewritten
    std::int64_t mtime_ns = 0;  // likewise
};

// Relative path (with '/') -> what is there. The root itself is not listed.
using TreeListing = std::map<std::string, NodeInfo>;

// Decides, from a relative path, whether it is left out (a left-out folder is not descended into).
using PathFilter = std::function<bool(const std::string& relative_path)>;

// Lists `root` with lstat; throws std::runtime_error if it cannot be read.
TreeListing describe_tree(const std::filesystem::path& root, const PathFilter& skip = {});

// How file modes are compared. `exec_bit` is what git (and so depsync) carries: whether the owner may execute
// a file; folder and symlink modes are then ignored. `exact` compares all permission bits of everything.
enum class ModeCheck { exec_bit, exact };

// One readable line per difference ("only in A: x", "x: content differs", ...); empty when the trees are the
// same. Paths for which `ignore` returns true are not compared.
std::vector<std::string> diff_trees(const TreeListing& a, const TreeListing& b, const PathFilter& ignore = {},
                                    ModeCheck modes = ModeCheck::exec_bit);
std::vector<std::string> diff_trees(const std::filesystem::path& a, const std::filesystem::path& b,
                                    const PathFilter& ignore = {}, ModeCheck modes = ModeCheck::exec_bit);

// The lines of diff_trees joined for a failure message ("(same)" when there are none).
std::string format_differences(const std::vector<std::string>& lines);

}  // namespace depsync::testing
