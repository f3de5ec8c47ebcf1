#include "core/sync/watch_changes.hpp"

#include <sys/inotify.h>

namespace depsync::sync {

void WatchedChanges::note(const std::string* folder, std::uint32_t mask, std::string_view name, bool root) {
    if (mask & (IN_Q_OVERFLOW | IN_UNMOUNT)) return lose_track();
    // A watch removed (its folder deleted or unwatched): the folder's removal shows in its parent.
    if (mask & IN_IGNORED) return;
    if (!folder) return lose_track();
    if (name.empty()) {
        // The folder itself: a root moved or deleted changes everything; another folder's move or deletion
        // is reported to its parent with its name, and its own mode is not part of a release.
        if (root && (mask & (IN_DELETE_SELF | IN_MOVE_SELF))) lose_track();
        return;
    }
    m_changed.folders.insert(*folder);
    // A folder created or moved in: everything below it is new, and may have been written before its watch
    // was added.
    if ((mask & IN_ISDIR) && (mask & (IN_CREATE | IN_MOVED_TO)))
        m_changed.subtrees.insert(folder->empty() ? std::string(name) : *folder + "/" + std::string(name));
}

std::optional<ChangedFolders> WatchedChanges::for_publish(Clock::time_point now) const {
    if (m_full || m_never_incremental || !m_last_full || m_since_full + 1 >= full_scan_every ||
        now - *m_last_full >= full_scan_after)
        return std::nullopt;
    return m_changed;
}

void WatchedChanges::published(Clock::time_point now, bool read_everything) {
    m_changed = {};
    m_full = false;
    if (read_everything) {
        m_since_full = 0;
        m_last_full = now;
    } else {
        ++m_since_full;
    }
}

}  // namespace depsync::sync
