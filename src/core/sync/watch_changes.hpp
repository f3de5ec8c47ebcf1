#pragma once
// What a watcher learned since the last publish it ran: the folders inotify reported changes in, or that
// it must read the whole directory. The whole directory is read by the first publish, after events were
// lost (the kernel's queue overflowed, a folder could not be watched, a root moved) and, as a safety net
// against anything inotify does not report, by every `full_scan_every`th publish and by the first one
// `full_scan_after` after the last whole read.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/sync/scan.hpp"

namespace depsync::sync {

class WatchedChanges {
  public:
    using Clock = std::chrono::steady_clock;
    static constexpr unsigned full_scan_every = 100;
    static constexpr std::chrono::minutes full_scan_after{60};

    // One inotify event (`mask`, and the entry's `name`, empty for an event on the folder itself) on the
    // watched folder `folder` (its listing path; nullptr when the watcher does not know that watch). `root`:
    // the folder is one of the roots.
    void note(const std::string* folder, std::uint32_t mask, std::string_view name, bool root);
    // Events may have been missed once (the queue overflowed): the next publish reads everything.
    void lose_track() { m_full = true; }
    // Some folder is not watched at all: every publish reads everything.
    void watch_incomplete() { m_never_incremental = true; }

    // What the next publish reads: the changed folders, or nullopt for the whole directory.
    std::optional<ChangedFolders> for_publish(Clock::time_point now) const;
    // The publish that read `for_publish`'s answer succeeded: start collecting anew. (After a failed one
    // nothing is forgotten: the retry reads at least as much.)
    void published(Clock::time_point now, bool read_everything);

  private:
    ChangedFolders m_changed;
    bool m_full = true;  // the first publish reads everything
    bool m_never_incremental = false;
    unsigned m_since_full = 0;  // publishes since the last whole read
    std::optional<Clock::time_point> m_last_full;
};

}  // namespace depsync::sync
