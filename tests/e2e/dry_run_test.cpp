// pull --dry-run lists what a pull would change and touches nothing: not the tree, not the deployed release.

#include <sys/inotify.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <sstream>
#include <thread>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

bool mentions(const std::string& output, const std::string& path) {
    return output.find(path) != std::string::npos;
}

// The step lines of a dry run ("remove PATH", "write PATH", "create folder PATH/"), in their order.
std::vector<std::string> step_lines(const std::string& output) {
    std::vector<std::string> steps;
    std::istringstream in(output);
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("  ", 0) != 0 || line.rfind("  leave", 0) == 0) continue;
        std::string step = line.substr(2);
        if (step.rfind("write  ", 0) == 0) step = "write " + step.substr(7);
        steps.push_back(step);
    }
    return steps;
}

// What a hot-deployer watching one folder sees, in order: "gone NAME" and "new NAME" for visible names.
class FolderEvents {
  public:
    explicit FolderEvents(const stdfs::path& dir) : m_fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
        REQUIRE(m_fd >= 0);
        REQUIRE(::inotify_add_watch(m_fd, dir.c_str(), IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO) >=
                0);
    }
    ~FolderEvents() { ::close(m_fd); }
    FolderEvents(const FolderEvents&) = delete;
    FolderEvents& operator=(const FolderEvents&) = delete;

    // The events queued so far.
    std::vector<std::string> read() const {
        std::vector<std::string> seen;
        alignas(inotify_event) char buffer[64 * 1024];
        for (ssize_t n; (n = ::read(m_fd, buffer, sizeof buffer)) > 0;) {
            for (ssize_t off = 0; off < n;) {
                auto* ev = reinterpret_cast<inotify_event*>(buffer + off);
                off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
                std::string name = ev->len ? ev->name : "";
                if (name.empty() || name[0] == '.') continue;
                seen.push_back(((ev->mask & (IN_CREATE | IN_MOVED_TO)) ? "new " : "gone ") + name);
            }
        }
        return seen;
    }

  private:
    int m_fd;
};

}  // namespace

TEST_CASE("pull --dry-run lists the planned changes and touches nothing", "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    const stdfs::path peer = cluster.peer(0).dir;
    dt::generate_tree(primary, dt::Profile::small, 101);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));

    dt::Rng rng(102);
    const std::string bumped = dt::bump_version(primary, rng);
    stdfs::remove(primary / "synapse-configs/default/endpoints/OrdersEP.xml");
    write_file(primary / "synapse-configs/default/api/InvoicesAPI.xml", "<api name=\"InvoicesAPI\"/>\n");
    stdfs::create_directories(primary / "synapse-configs/default/api/archive");
    REQUIRE_SUCCESS(cluster.publish("r2: " + bumped));

    const dt::TreeListing before = dt::describe_tree(peer);
    ProcessResult status_before = cluster.status_json(cluster.peer(0));
    REQUIRE_SUCCESS(status_before);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));

    ProcessResult dry = cluster.pull(0, {"--dry-run"});
    REQUIRE_SUCCESS(dry);
    INFO(dry.out);
    CHECK(dry.out.rfind("would apply r1 -> r2 (+2 ~0 -2)\n", 0) == 0);
    // Every path of the release's difference is listed.
    for (const auto& path :
         {"synapse-configs/default/endpoints/OrdersEP.xml", "synapse-configs/default/api/InvoicesAPI.xml",
          "synapse-configs/default/api/archive"})
        CHECK(mentions(dry.out, path));
    for (const auto& [path, info] : dt::describe_tree(primary))
        if (path.rfind("carbonapps/", 0) == 0 && !before.count(path)) CHECK(mentions(dry.out, path));
    for (const auto& [path, info] : before)
        if (path.rfind("carbonapps/", 0) == 0 && !stdfs::exists(primary / path))
            CHECK(mentions(dry.out, path));

    // Nothing moved: same entries, bytes, modes, inodes and mtimes; no temp files; the same release deployed.
    const dt::TreeListing after = dt::describe_tree(peer);
    auto diff = dt::diff_trees(before, after, {}, dt::ModeCheck::exact);
    INFO(dt::format_differences(diff));
    CHECK(diff.empty());
    for (const auto& [path, info] : before) {
        INFO(path);
        REQUIRE(after.count(path) == 1);
        CHECK(after.at(path).inode == info.inode);
        CHECK(after.at(path).mtime_ns == info.mtime_ns);
    }
    ProcessResult status_after = cluster.status_json(cluster.peer(0));
    REQUIRE_SUCCESS(status_after);
    CHECK(parse_flat_json(status_after.out).at("release") == "1");
    CHECK(parse_flat_json(status_after.out).at("commit") == parse_flat_json(status_before.out).at("commit"));

    // The real pull then applies exactly that, and a dry run afterwards has nothing to do.
    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    CHECK(pulled.out.rfind("r1 -> r2 (+2 ~0 -2)\n", 0) == 0);
    auto equal = differences(primary, peer);
    INFO(dt::format_differences(equal));
    CHECK(equal.empty());
    ProcessResult dry_again = cluster.pull(0, {"--dry-run"});
    REQUIRE_SUCCESS(dry_again);
    CHECK(parse_up_to_date(dry_again.out) == std::optional<std::uint64_t>(2));
}

TEST_CASE("pull --dry-run before the first pull lists the whole release and creates nothing", "[e2e]") {
    Cluster cluster(1);
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 103);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    ProcessResult dry = cluster.pull(0, {"--dry-run"});
    REQUIRE_SUCCESS(dry);
    INFO(dry.out);
    CHECK(dry.out.rfind("would apply none -> r1 (+", 0) == 0);
    CHECK(mentions(dry.out, "carbonapps/"));
    CHECK(stdfs::is_empty(cluster.peer(0).dir));
    CHECK(parse_flat_json(cluster.status_json(cluster.peer(0)).out).at("release") == "null");
}

TEST_CASE("pull --dry-run lists the steps in the order the pull performs them: an old version leaves first",
          "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    const stdfs::path peer = cluster.peer(0).dir;
    dt::generate_tree(primary, dt::Profile::small, 105);
    dt::Rng rng(106);
    dt::write_car(primary / "carbonapps/foo-1.0.car", "foo", "1.0", 3000, rng);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));

    // A version change (foo-1.0.car removed, foo-1.1.car added), a new folder with a file, a removed file.
    stdfs::remove(primary / "carbonapps/foo-1.0.car");
    dt::write_car(primary / "carbonapps/foo-1.1.car", "foo", "1.1", 3000, rng);
    write_file(primary / "synapse-configs/default/api/v2/NewAPI.xml", "<api name=\"NewAPI\"/>\n");
    stdfs::remove(primary / "synapse-configs/default/endpoints/OrdersEP.xml");
    REQUIRE_SUCCESS(cluster.publish("r2"));

    ProcessResult dry = cluster.pull(0, {"--dry-run"});
    REQUIRE_SUCCESS(dry);
    INFO(dry.out);
    const std::vector<std::string> planned = step_lines(dry.out);
    std::vector<std::string> cars;
    for (const auto& step : planned)
        if (mentions(step, "carbonapps/foo-")) cars.push_back(step);
    CHECK(cars == std::vector<std::string>{"remove carbonapps/foo-1.0.car", "write carbonapps/foo-1.1.car"});

    // The real pull: what a watcher of carbonapps/ sees, and the order on_change's list records.
    const stdfs::path recorded = cluster.root() / "changed-files.copy";
    const stdfs::path script = cluster.root() / "on_change.sh";
    write_file(script, "#!/bin/sh\ncp \"$DEPSYNC_CHANGED_FILES\" '" + recorded.string() + "'\n");
    stdfs::permissions(script, stdfs::perms::owner_all);
    write_file(cluster.peer(0).config,
               read_file(cluster.peer(0).config) + "on_change = \"" + script.string() + "\"\n");
    FolderEvents events(peer / "carbonapps");
    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    CHECK(events.read() == std::vector<std::string>{"gone foo-1.0.car", "new foo-1.1.car"});
    std::vector<std::string> applied;
    std::istringstream in(read_file(recorded));
    for (std::string line; std::getline(in, line);) {
        const std::string path = line.substr(2);
        // Nothing in this update removes a folder.
        applied.push_back(line[0] == 'W'   ? "write " + path
                          : line[0] == 'A' ? "create folder " + path + "/"
                                           : "remove " + path);
    }
    CHECK(applied == planned);
    CHECK(differences(primary, peer).empty());
}
