#pragma once
// One depsync run at a time per node: an flock(2) on a file in the state folder. The kernel drops the lock
// when the process dies, so a killed run never blocks the next one. The holder writes its pid into the file
// so that a loser can name it.

#include <filesystem>

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

}  // namespace depsync::fs
