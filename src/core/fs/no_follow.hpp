#pragma once
// Opening a deployment directory and the files in it the way a process running as root must when another
// account can write there: no symlink is ever followed, no open can block, and a file is read only when it
// is still the one that was listed.

#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "core/fs/unique_fd.hpp"

namespace depsync::fs {

// Opens the folder at `path` (absolute, or relative to the working folder) without following a symlink in
// any of its components: openat2 with RESOLVE_NO_SYMLINKS, or, where the kernel lacks it, a walk that opens
// one component at a time with O_NOFOLLOW. `what` names the folder in messages ("deployment directory").
// Throws Error(usage) naming the component when one is a symlink or not a folder, and when it is missing.
UniqueFd open_dir_no_symlinks(const std::filesystem::path& path, const std::string& what);
// The walk alone (what open_dir_no_symlinks falls back to).
UniqueFd open_dir_by_walk(const std::filesystem::path& path, const std::string& what);

// Opens `name` in the folder `dir_fd` for reading, non-blocking and without following a symlink, and checks
// with fstat that it is a regular file with the device and inode of `seen` (its lstat when it was listed).
// Returns the descriptor (blocking again); an empty one with `refused` set to why when something else is
// there now (a FIFO, a device, a folder, a symlink, another file), or with errno set when the open failed
// (ENOENT: the name is gone).
UniqueFd open_listed_file(int dir_fd, const std::string& name, const struct stat& seen, std::string& refused);

}  // namespace depsync::fs
