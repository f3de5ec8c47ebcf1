#include "core/sync/watch.hpp"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/fs/unique_fd.hpp"
#include "core/sync/recorded_run.hpp"
#include "core/sync/watch_changes.hpp"

namespace depsync::sync {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint32_t watch_mask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                                     IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                     IN_DONT_FOLLOW | IN_ONLYDIR;

// A watched folder: where it is, and its path in a listing.
struct WatchedFolder {
    std::filesystem::path dir;
    std::string path;
    bool root = false;
};

class Watcher {
  public:
    explicit Watcher(const std::vector<Root>& roots) : m_fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
        if (!m_fd) throw_errno("start inotify");
        m_roots = roots;
        for (const Root& r : m_roots) add_tree({r.dir, r.name, true});
    }

    int fd() const { return m_fd.get(); }
    WatchedChanges changes;

    // Reads pending events into `changes`, following new folders; returns true when anything in the tree
    // changed.
    bool drain() {
        bool changed = false;
        alignas(inotify_event) char buf[64 * 1024];
        for (;;) {
            ssize_t n = ::read(m_fd.get(), buf, sizeof buf);
            if (n <= 0) break;
            for (char* p = buf; p < buf + n;) {
                auto* e = reinterpret_cast<inotify_event*>(p);
                p += sizeof(inotify_event) + e->len;
                changed = true;
                auto it = m_dirs.find(e->wd);
                const WatchedFolder* folder = it == m_dirs.end() ? nullptr : &it->second;
                std::string_view name = e->len > 0 ? std::string_view(e->name) : std::string_view();
                changes.note(folder ? &folder->path : nullptr, e->mask, name, folder && folder->root);
                if (e->mask & IN_Q_OVERFLOW) {
                    // Events were lost: watch everything again; the next publish reads the whole tree.
                    for (const Root& r : m_roots) add_tree({r.dir, r.name, true});
                } else if (folder && (e->mask & IN_ISDIR) && (e->mask & (IN_CREATE | IN_MOVED_TO)) &&
                           !name.empty()) {
                    WatchedFolder below{
                        folder->dir / std::string(name),
                        folder->path.empty() ? std::string(name) : folder->path + "/" + std::string(name)};
                    add_tree(below);
                } else if (e->mask & IN_IGNORED) {
                    m_dirs.erase(e->wd);
                }
            }
        }
        return changed;
    }

  private:
    std::vector<Root> m_roots;
    fs::UniqueFd m_fd;
    std::unordered_map<int, WatchedFolder> m_dirs;

    void add_dir(const WatchedFolder& folder) {
        int wd = ::inotify_add_watch(m_fd.get(), folder.dir.c_str(), watch_mask);
        if (wd >= 0) {
            // A folder moved within the tree keeps its watch: its path is updated here.
            m_dirs[wd] = folder;
            return;
        }
        if (errno == ENOENT) return;  // removed meanwhile: its parent reports it
        // Changes in a folder nobody watches are seen only by reading the whole tree.
        changes.watch_incomplete();
        if (errno == ENOSPC)
            spdlog::error(
                "cannot watch {}: the inotify watch limit is reached (raise fs.inotify.max_user_watches)",
                folder.dir.string());
    }

    void add_tree(const WatchedFolder& top) {
        add_dir(top);
        std::error_code ec;
        for (auto it = std::filesystem::recursive_directory_iterator(top.dir, ec);
             it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
            if (ec) break;
            if (it->is_directory(ec) && !it->is_symlink(ec)) {
                std::string rel = it->path().lexically_relative(top.dir).string();
                add_dir({it->path(), top.path.empty() ? rel : top.path + "/" + rel});
            }
        }
    }
};

// SIGTERM and SIGINT are blocked and read from a descriptor, so a signal never interrupts a publish.
class StopSignals {
  public:
    StopSignals() {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        ::sigprocmask(SIG_BLOCK, &set, &m_old);
        m_fd = fs::UniqueFd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
        if (!m_fd) throw_errno("watch for signals");
    }
    ~StopSignals() { ::sigprocmask(SIG_SETMASK, &m_old, nullptr); }
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;
    int fd() const { return m_fd.get(); }

  private:
    sigset_t m_old{};
    fs::UniqueFd m_fd;
};

// One publish of what the watcher collected: only the changed folders are read, unless the whole tree is due.
void publish_changes(const Settings& settings, const WatchOptions& options, WatchedChanges& changes,
                     PublishMemory& memory, const std::function<void(const PublishResult&)>& on_publish) {
    const Clock::time_point start = Clock::now();
    const std::optional<ChangedFolders> changed = changes.for_publish(start);
    PublishResult result;
    run_recorded(
        settings,
        [&] {
            result = publish(settings, {options.message, changed ? &*changed : nullptr, &memory});
            return std::string();
        },
        FailuresRecorded::every_failure);
    changes.published(start, !changed);
    spdlog::info(
        "publish took {:.3f} s ({})", std::chrono::duration<double>(Clock::now() - start).count(),
        changed ? std::to_string(changed->folders.size() + changed->subtrees.size()) + " changed folders read"
                : std::string("the whole directory read"));
    on_publish(result);
}

// The stat cache a watcher keeps in memory goes to the state folder once the watcher has been idle this long,
// or after a publish when the last save is older than the second bound (a tree that never rests), and when
// it stops. Until then the copy there is older but truthful (PublishMemory::save).
constexpr std::chrono::milliseconds save_when_idle{2000};
constexpr std::chrono::seconds save_at_least_every{60};

void save_memory(const Settings& settings, PublishMemory& memory, Clock::time_point& saved_at) {
    try {
        memory.save(settings);
    } catch (const std::exception& e) {
        spdlog::warn("cannot save the stat cache: {} (the next publish run by hand reads more files)",
                     e.what());
    }
    saved_at = Clock::now();
}

}  // namespace

void watch(const Settings& settings, const WatchOptions& options,
           const std::function<void(const PublishResult&)>& on_publish) {
    if (settings.role != Role::primary)
        throw Error("cannot watch: this node is a peer (watch runs on the primary)", ExitCode::usage);
    StopSignals signals;
    Watcher watcher(roots_of(settings));
    auto settle = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(settings.settle));
    spdlog::info("watching {} (settle {} s)", settings.dir.string(), settings.settle);

    // Changes made while nobody watched are published first.
    bool pending = true;
    Clock::time_point due = Clock::now();
    PublishMemory memory;
    Clock::time_point saved_at = Clock::now();
    for (;;) {
        int timeout = -1;
        if (pending) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now()).count();
            timeout = static_cast<int>(std::max<long long>(left, 0));
        } else if (memory.unsaved) {
            timeout = static_cast<int>(save_when_idle.count());
        }
        pollfd fds[2] = {{watcher.fd(), POLLIN, 0}, {signals.fd(), POLLIN, 0}};
        int rc = ::poll(fds, 2, timeout);
        if (rc < 0 && errno != EINTR) throw_errno("wait for changes");
        if (fds[1].revents & POLLIN) {
            // Consume the signal: left pending, it would kill the process once the mask is restored.
            signalfd_siginfo info{};
            [[maybe_unused]] ssize_t n = ::read(signals.fd(), &info, sizeof info);
            spdlog::info("stopping: signal received");
            save_memory(settings, memory, saved_at);
            return;
        }
        if (rc == 0 && !pending) {
            save_memory(settings, memory, saved_at);
            continue;
        }
        if ((fds[0].revents & POLLIN) && watcher.drain()) {
            pending = true;
            due = Clock::now() + settle;
            continue;
        }
        if (!pending || Clock::now() < due) continue;
        pending = false;
        // Every attempt is recorded like a publish run by hand: status, cluster views and metrics see it.
        try {
            publish_changes(settings, options, watcher.changes, memory, on_publish);
            if (Clock::now() - saved_at >= save_at_least_every) save_memory(settings, memory, saved_at);
        } catch (const Error& e) {
            // Keep watching: a half-copied archive or a busy lock is retried after the next quiet period.
            spdlog::error("{}", e.what());
            pending = true;
            due = Clock::now() + settle;
        }
        // Our own publish wrote nothing into the tree, but drain what arrived meanwhile before waiting again.
        if (watcher.drain()) {
            pending = true;
            due = Clock::now() + settle;
        }
    }
}

}  // namespace depsync::sync
