// Like the hot-deployer, a reader keeps opening every archive in a peer's tree (names starting with '.' are
// invisible to it) while the peer pulls release after release. It must never find an incomplete zip.

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <thread>

#include "cluster.hpp"
#include "core/fs/zip_check.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

class ArchiveReader {
  public:
    explicit ArchiveReader(stdfs::path root) : m_root(std::move(root)), m_thread([this] { loop(); }) {}
    ~ArchiveReader() { stop(); }

    void stop() {
        m_stop = true;
        if (m_thread.joinable()) m_thread.join();
    }
    std::size_t checked() const { return m_checked; }
    std::size_t passes() const { return m_passes; }
    std::vector<std::string> defects() const {
        std::lock_guard<std::mutex> guard(m_mutex);
        return m_defects;
    }

    // Waits until the reader has started and finished a whole pass after this call.
    void wait_for_full_pass() const {
        std::size_t start = m_passes;
        while (m_passes < start + 2 && !m_stop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }

  private:
    stdfs::path m_root;
    std::atomic<bool> m_stop{false};
    std::atomic<std::size_t> m_checked{0}, m_passes{0};
    mutable std::mutex m_mutex;
    std::vector<std::string> m_defects;
    std::thread m_thread;

    void loop() {
        while (!m_stop) {
            visit("");
            ++m_passes;
        }
    }

    void visit(const std::string& prefix) {
        DIR* d = ::opendir((m_root / prefix).c_str());
        if (!d) return;  // removed by the release while we walked
        std::vector<std::pair<std::string, unsigned char>> entries;
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') entries.emplace_back(e->d_name, e->d_type);
        ::closedir(d);
        for (const auto& [name, type] : entries) {
            std::string rel = prefix.empty() ? name : prefix + "/" + name;
            if (type == DT_DIR) {
                visit(rel);
            } else if (type == DT_REG && depsync::fs::is_archive_name(name)) {
                check(rel);
            }
        }
    }

    void check(const std::string& rel) {
        int fd = ::open((m_root / rel).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) return;  // removed between the listing and the open: the server would not see it either
        auto defect = depsync::fs::find_zip_defect(fd);
        ::close(fd);
        ++m_checked;
        if (defect) {
            std::lock_guard<std::mutex> guard(m_mutex);
            if (m_defects.size() < 20) m_defects.push_back(rel + ": " + *defect);
        }
    }
};

// One release-like change to the primary's CApps, chosen by the cycle number.
std::string change_capps(const stdfs::path& primary, int cycle, dt::Rng& rng) {
    const stdfs::path carbonapps = primary / "carbonapps";
    std::size_t apps = 0;
    for (const auto& e : stdfs::directory_iterator(carbonapps))
        if (dt::parse_car_name(e.path().filename().string())) ++apps;
    switch (cycle % 4) {
        case 0: {
            // The large app is rebuilt in place every fourth cycle, so some pulls write a big file.
            dt::write_car(carbonapps / "Ledger_3.1.0.car", "Ledger", "3.1.0", 768u << 10, rng);
            return "rebuilt Ledger_3.1.0.car";
        }
        case 1:
            return dt::rebuild_in_place(primary, rng);
        case 2:
            return dt::bump_version(primary, rng);
        default:
            if (apps > 4) return dt::delete_app(primary, rng);
            const std::string name = "Extra" + std::to_string(cycle);
            dt::write_car(carbonapps / (name + "_1.0.0.car"), name, "1.0.0", 50000, rng);
            return "added " + name;
    }
}

}  // namespace

TEST_CASE("a hot-deployer-like reader never sees an incomplete archive during 32 pulls", "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    const stdfs::path peer = cluster.peer(0).dir;
    dt::generate_tree(primary, dt::Profile::small, 41);
    dt::Rng rng(4242);
    dt::write_car(primary / "carbonapps/Ledger_3.1.0.car", "Ledger", "3.1.0", 768u << 10, rng);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));

    ArchiveReader reader(peer);
    constexpr int cycles = 32;
    for (int cycle = 0; cycle < cycles; ++cycle) {
        std::string change = change_capps(primary, cycle, rng);
        INFO("cycle " << cycle << ": " << change);
        ProcessResult published = cluster.publish(change);
        REQUIRE_SUCCESS(published);
        REQUIRE(parse_published(published.out));

        const std::size_t before = reader.checked();
        ProcessResult pulled = cluster.pull(0);
        REQUIRE_SUCCESS(pulled);
        REQUIRE(parse_pulled(pulled.out));
        reader.wait_for_full_pass();
        CHECK(reader.checked() > before);
    }
    reader.stop();

    auto defects = reader.defects();
    INFO("the reader checked " << reader.checked() << " archives in " << reader.passes() << " passes");
    for (const auto& d : defects) UNSCOPED_INFO(d);
    CHECK(defects.empty());
    CHECK(reader.checked() > static_cast<std::size_t>(cycles) * 5);

    auto diff = differences(primary, peer);
    INFO(dt::format_differences(diff));
    CHECK(diff.empty());
}
