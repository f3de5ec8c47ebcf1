// A version bump renames a CApp (Orders_1.0.0.car -> Orders_1.0.1.car). The server fails to deploy two
// versions of one app side by side, so at no moment may a peer's carbonapps/ hold both. Two observers watch
// the folder while peers pull: inotify, whose ordered events give the folder's exact state after every
// change, and a thread listing the folder in a tight loop.

#include <dirent.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

bool hidden(const std::string& name) {
    return !name.empty() && name[0] == '.';
}

// Non-hidden CApp names grouped by app; returns "A and B" for the first app with two versions, or "".
std::string two_versions(const std::set<std::string>& names) {
    std::map<std::string, std::vector<std::string>> by_app;
    for (const auto& name : names)
        if (!hidden(name))
            if (auto car = dt::parse_car_name(name)) by_app[car->app].push_back(name);
    for (const auto& [app, files] : by_app)
        if (files.size() > 1) return files[0] + " and " + files[1];
    return "";
}

std::set<std::string> list_names(const stdfs::path& dir) {
    std::set<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return names;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") names.insert(name);
    }
    ::closedir(d);
    return names;
}

bool exists_now(const stdfs::path& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

class CarbonappsObserver {
  public:
    explicit CarbonappsObserver(stdfs::path dir) : m_dir(std::move(dir)) {
        m_fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (m_fd < 0) throw std::runtime_error("cannot start inotify");
        if (::inotify_add_watch(m_fd, m_dir.c_str(), IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO) < 0)
            throw std::runtime_error("cannot watch " + m_dir.string());
        // Listed after the watch exists, so no change falls between the listing and the first event.
        m_state = list_names(m_dir);
        m_inotify = std::thread([this] { watch_events(); });
        m_poller = std::thread([this] { poll_listing(); });
    }
    ~CarbonappsObserver() {
        stop();
        if (m_fd >= 0) ::close(m_fd);
    }

    void stop() {
        m_stop = true;
        if (m_inotify.joinable()) m_inotify.join();
        if (m_poller.joinable()) m_poller.join();
    }

    std::vector<std::string> violations() const {
        std::lock_guard<std::mutex> guard(m_mutex);
        return m_violations;
    }
    std::set<std::string> appeared() const {
        std::lock_guard<std::mutex> guard(m_mutex);
        return m_appeared;
    }
    std::set<std::string> state() const {
        std::lock_guard<std::mutex> guard(m_mutex);
        return m_state;
    }
    std::size_t events() const { return m_events; }
    std::size_t listings() const { return m_listings; }

  private:
    stdfs::path m_dir;
    int m_fd = -1;
    std::atomic<bool> m_stop{false};
    std::atomic<std::size_t> m_events{0}, m_listings{0};
    mutable std::mutex m_mutex;
    std::set<std::string> m_state;     // the folder as inotify reports it
    std::set<std::string> m_appeared;  // non-hidden names that appeared while watching
    std::vector<std::string> m_violations;
    std::thread m_inotify, m_poller;

    void record(const std::string& what) {
        std::lock_guard<std::mutex> guard(m_mutex);
        if (m_violations.size() < 20) m_violations.push_back(what);
    }

    void watch_events() {
        alignas(inotify_event) char buffer[64 * 1024];
        for (;;) {
            pollfd p{m_fd, POLLIN, 0};
            int ready = ::poll(&p, 1, 20);
            if (ready == 0) {
                if (m_stop) return;  // stopped and nothing left to read
                continue;
            }
            ssize_t n = ::read(m_fd, buffer, sizeof buffer);
            if (n <= 0) continue;
            for (ssize_t off = 0; off < n;) {
                auto* ev = reinterpret_cast<inotify_event*>(buffer + off);
                off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
                ++m_events;
                if (ev->mask & IN_Q_OVERFLOW) {
                    record("inotify queue overflowed: the observation is incomplete");
                    continue;
                }
                std::string name = ev->len ? ev->name : "";
                std::lock_guard<std::mutex> guard(m_mutex);
                if (ev->mask & (IN_CREATE | IN_MOVED_TO)) {
                    m_state.insert(name);
                    if (!hidden(name)) m_appeared.insert(name);
                } else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
                    m_state.erase(name);
                }
                std::string both = two_versions(m_state);
                if (!both.empty() && m_violations.size() < 20)
                    m_violations.push_back("inotify: " + both + " existed together");
            }
        }
    }

    // A listing is not atomic: it may show a file removed during the listing next to one added after it.
    // Two versions seen together are therefore confirmed by lstat in the order A, B, A: if all three see
    // their file, B existed while A did.
    void poll_listing() {
        while (!m_stop) {
            std::set<std::string> names = list_names(m_dir);
            ++m_listings;
            std::map<std::string, std::vector<std::string>> by_app;
            for (const auto& name : names)
                if (!hidden(name))
                    if (auto car = dt::parse_car_name(name)) by_app[car->app].push_back(name);
            for (const auto& [app, files] : by_app) {
                for (std::size_t i = 0; i + 1 < files.size(); ++i) {
                    const stdfs::path a = m_dir / files[i], b = m_dir / files[i + 1];
                    if (exists_now(a) && exists_now(b) && exists_now(a))
                        record("listing: " + files[i] + " and " + files[i + 1] + " existed together");
                }
            }
        }
    }
};

}  // namespace

TEST_CASE("a renamed CApp version never coexists with the old one on a pulling peer", "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    const stdfs::path carbonapps = primary / "carbonapps";
    dt::generate_tree(primary, dt::Profile::small, 31);
    dt::Rng rng(99);
    // A CApp large enough that writing it takes a while, widening any window in which both could exist.
    dt::write_car(carbonapps / "Billing_1.0.0.car", "Billing", "1.0.0", 1u << 20, rng);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));

    std::set<std::string> released_names = list_names(carbonapps);
    // One observer only: its listing thread spins, and the pulls need the other core.
    CarbonappsObserver observer(cluster.peer(0).dir / "carbonapps");

    constexpr int pulls = 6;
    std::set<std::string> expected_new;
    for (int n = 1; n <= pulls; ++n) {
        // Billing_1.0.(n-1) -> Billing_1.0.n, and Small_1.0.(n-1) -> Small_1.0.n, both with new content.
        for (const auto& [app, size] :
             {std::pair<std::string, std::uint64_t>{"Billing", 1u << 20}, {"Small", 3000}}) {
            const std::string version = "1.0." + std::to_string(n);
            stdfs::remove(carbonapps / (app + "_1.0." + std::to_string(n - 1) + ".car"));
            dt::write_car(carbonapps / (app + "_" + version + ".car"), app, version, size, rng);
            expected_new.insert(app + "_" + version + ".car");
        }
        for (const auto& name : list_names(carbonapps)) released_names.insert(name);

        ProcessResult published = cluster.publish("bump " + std::to_string(n));
        REQUIRE_SUCCESS(published);
        ProcessResult pulled = cluster.pull(0);
        REQUIRE_SUCCESS(pulled);
        auto line = parse_pulled(pulled.out);
        INFO(pulled.out);
        REQUIRE(line);
        // Small_1.0.0 did not exist in r1: the first round only adds it.
        CHECK(line->counts.added == 2);
        CHECK(line->counts.deleted == (n == 1 ? 1u : 2u));
    }
    // Give the observers a moment to read the last events, then stop them.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    observer.stop();
    INFO(observer.events() << " inotify events, " << observer.listings() << " listings");
    auto violations = observer.violations();
    for (const auto& v : violations) UNSCOPED_INFO(v);
    CHECK(violations.empty());
    // The observation is not vacuous: every new version was seen arriving, and the state inotify tracked ends
    // as the folder really is.
    auto appeared = observer.appeared();
    for (const auto& name : expected_new) CHECK(appeared.count(name) == 1);
    CHECK(observer.state() == list_names(cluster.peer(0).dir / "carbonapps"));
    CHECK(observer.listings() > 0);
    // No name other than a released CApp ever became visible to the hot-deployer.
    for (const auto& name : appeared) {
        INFO("visible name " << name);
        CHECK(released_names.count(name) == 1);
    }
}
