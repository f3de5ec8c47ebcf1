#include "core/sync/watch.hpp"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/fs/unique_fd.hpp"
#include "core/sync/recorded_run.hpp"

namespace depsync::sync {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::uint32_t watch_mask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                                     IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                     IN_DONT_FOLLOW | IN_ONLYDIR;

class Watcher {
  public:
    explicit Watcher(const std::vector<Root>& roots) : m_fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
        if (!m_fd) throw_errno("start inotify");
        for (const Root& r : roots) m_roots.push_back(r.dir);
        for (const auto& r : m_roots) add_tree(r);
    }

    int fd() const { return m_fd.get(); }

    // Reads pending events, following new folders; returns true when anything in the tree changed.
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
                if (e->mask & IN_Q_OVERFLOW) {
                    // Events were lost: watch everything again; the publish rescans the tree anyway.
                    for (const auto& r : m_roots) add_tree(r);
                } else if ((e->mask & IN_ISDIR) && (e->mask & (IN_CREATE | IN_MOVED_TO)) && e->len > 0) {
                    auto it = m_dirs.find(e->wd);
                    if (it != m_dirs.end()) add_tree(it->second / e->name);
                } else if (e->mask & IN_IGNORED) {
                    m_dirs.erase(e->wd);
                }
            }
        }
        return changed;
    }

  private:
    std::vector<std::filesystem::path> m_roots;
    fs::UniqueFd m_fd;
    std::unordered_map<int, std::filesystem::path> m_dirs;

    void add_dir(const std::filesystem::path& dir) {
        int wd = ::inotify_add_watch(m_fd.get(), dir.c_str(), watch_mask);
        if (wd >= 0) {
            m_dirs[wd] = dir;
        } else if (errno == ENOSPC) {
            spdlog::error(
                "cannot watch {}: the inotify watch limit is reached (raise fs.inotify.max_user_watches)",
                dir.string());
        }
    }

    void add_tree(const std::filesystem::path& top) {
        add_dir(top);
        std::error_code ec;
        for (auto it = std::filesystem::recursive_directory_iterator(top, ec);
             it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
            if (ec) break;
            if (it->is_directory(ec) && !it->is_symlink(ec)) add_dir(it->path());
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
    for (;;) {
        int timeout = -1;
        if (pending) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now()).count();
            timeout = static_cast<int>(std::max<long long>(left, 0));
        }
        pollfd fds[2] = {{watcher.fd(), POLLIN, 0}, {signals.fd(), POLLIN, 0}};
        int rc = ::poll(fds, 2, timeout);
        if (rc < 0 && errno != EINTR) throw_errno("wait for changes");
        if (fds[1].revents & POLLIN) {
            // Consume the signal: left pending, it would kill the process once the mask is restored.
            signalfd_siginfo info{};
            [[maybe_unused]] ssize_t n = ::read(signals.fd(), &info, sizeof info);
            spdlog::info("stopping: signal received");
            return;
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
            PublishResult result;
            run_recorded(
                settings,
                [&] {
                    result = publish(settings, {options.message});
                    return std::string();
                },
                FailuresRecorded::every_failure);
            on_publish(result);
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
