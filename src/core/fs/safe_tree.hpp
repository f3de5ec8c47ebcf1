#pragma once
// Writes below one root folder without ever following a symlink found on disk: every folder on a path is
// opened with O_NOFOLLOW from its parent's descriptor, so a link planted in the tree cannot redirect a write
// outside it. All paths are relative, '/'-separated.

#include <filesystem>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/fs/owner.hpp"
#include "core/fs/unique_fd.hpp"

namespace depsync::fs {

class SafeTree {
  public:
    // Opens `root` without following a symlink in any component of its path.
    explicit SafeTree(const std::filesystem::path& root);
    // Works below the folder `root_fd` (already opened by the caller; `root` names it in messages).
    SafeTree(int root_fd, const std::filesystem::path& root);

    // The folder at `rel` ("" is the root). Throws Error when a component is missing, not a folder, or a
    // link.
    int dir(const std::string& rel);
    // Like dir(), but returns -1 instead of throwing when the folder does not exist (yet).
    int dir_if_exists(const std::string& rel);

    // Entries created from now on are given to `owner` (nullopt: left as created).
    void set_owner(std::optional<Owner> owner) { m_owner = owner; }
    // Creates a folder with exactly `mode` (whatever the umask) and the owner set.
    void make_dir(const std::string& rel, unsigned mode = 0755);
    // Gives a file just created (open as `fd`) the owner set and exactly `mode`.
    void adopt(int fd, const std::string& rel, unsigned mode);
    // Gives a symlink just created (`name` in the folder `dir_fd`) the owner set.
    void adopt_link(int dir_fd, const std::string& name, const std::string& rel);
    // Removes a file or symlink (never follows it). Missing is fine.
    void remove_file(const std::string& rel);
    // Removes an empty folder; returns false when it still holds something.
    bool remove_dir(const std::string& rel);
    void rename_into_place(const std::string& tmp_parent, const std::string& tmp_name,
                           const std::string& parent, const std::string& final_name);

    // Forgets cached folder descriptors (after folders were removed or replaced).
    void forget();
    // Flushes the file system holding the tree.
    void sync();

    const std::filesystem::path& root() const { return m_root; }

  private:
    std::filesystem::path m_root;
    UniqueFd m_root_fd;
    std::unordered_map<std::string, UniqueFd> m_dirs;
    std::optional<Owner> m_owner;
};

std::string parent_path_of(const std::string& rel);
std::string name_of(const std::string& rel);

}  // namespace depsync::fs
