#pragma once
// One depsync run at a time per node: an flock(2) on a file in the state folder. The kernel drops the lock
// when the process dies, so a killed run never blocks the next one. The holder writes its pid into the file
// so that a loser can name it.

#include <filesystem>
#include <optional>
#include <string>

#include "core/fs/unique_fd.hpp"

namespace depsync::fs {

class NodeLock {
  public:
    // Takes the lock, waiting up to wait_seconds (0: do not wait). Throws Error with ExitCode::locked
    // naming the holder's pid when it cannot be had in time.
    NodeLock(const std::filesystem::path& lock_file, double wait_seconds);
    NodeLock(NodeLock&&) = default;
    NodeLock& operator=(NodeLock&&) = default;

  private:
    UniqueFd m_fd;
};

// Who holds the node lock, without taking it: the holder's pid ("unknown" when it cannot be named), or
// nullopt when the lock is free or the file does not exist. The file is neither created nor written, and a
// run that takes the lock meanwhile is never kept from it (the kernel's list of locks is read; only where it
// cannot be read is the lock tried once, shared and non-blocking, and let go at once).
std::optional<std::string> lock_holder(const std::filesystem::path& lock_file);

}  // namespace depsync::fs
