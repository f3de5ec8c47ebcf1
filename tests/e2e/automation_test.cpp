// depsync running by itself: the post-deploy hook a pipeline calls, `depsync watch` publishing after a quiet
// period, `validate` before a release, `on_change` after a pull (with revert-and-hold), and `pull --jitter`.
// Every test drives the built binary and the shipped hook script against real repositories in a temp folder.

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "cluster.hpp"
#include "core/fs/zip_check.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

const std::string api = "synapse-configs/default/api";

// --- Small helpers
// ------------------------------------------------------------------------------------------

// Polls `done` until it holds or `seconds` have passed; returns whether it held.
template <typename Predicate>
bool eventually(Predicate done, double seconds = 30) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(50ms);
    }
    return true;
}

// Appends `key = "value"` to a node's config file, as an operator adds an optional key.
void configure(const Node& node, const std::string& key, const std::string& value) {
    std::ofstream out(node.config, std::ios::app);
    out << key << " = \"" << value << "\"\n";
    REQUIRE(out.flush());
}

// Writes an executable /bin/sh script and returns its path.
stdfs::path write_script(const stdfs::path& path, const std::string& body) {
    write_file(path, "#!/bin/sh\n" + body);
    stdfs::permissions(path, stdfs::perms::owner_all | stdfs::perms::group_read | stdfs::perms::group_exec);
    return path;
}

// KEY=VALUE lines (as the operator scripts below write them) as a map.
std::map<std::string, std::string> read_vars(const stdfs::path& file) {
    std::map<std::string, std::string> vars;
    for (const auto& line : lines_of(read_file(file))) {
        auto eq = line.find('=');
        if (eq != std::string::npos) vars[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return vars;
}

// The lines of a changed-files list, with a trailing '/' on folders dropped.
std::set<std::string> change_lines(const stdfs::path& file) {
    std::set<std::string> out;
    for (auto line : lines_of(read_file(file))) {
        if (!line.empty() && line.back() == '/') line.pop_back();
        out.insert(line);
    }
    return out;
}

// True when some process holds an flock on `file` (flock -n fails with 1 then).
bool lock_is_held(const stdfs::path& file) {
    return dt::run({"flock", "--nonblock", "--conflict-exit-code", "1", file.string(), "true"}).exit_code ==
           1;
}

// Starts `flock FILE sleep SECONDS` and returns once it holds the lock.
void hold_lock(dt::BackgroundProcess& holder, const stdfs::path& file, int seconds) {
    holder.start({"flock", file.string(), "sleep", std::to_string(seconds)});
    REQUIRE(eventually([&] { return lock_is_held(file); }, 10));
}

// The objects of a JSON array of flat objects, as `depsync log --json` prints it.
std::vector<std::map<std::string, std::string>> parse_object_array(const std::string& text) {
    std::vector<std::map<std::string, std::string>> out;
    bool in_string = false, escaped = false;
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{') {
            start = i;
        } else if (c == '}') {
            out.push_back(parse_flat_json(text.substr(start, i - start + 1)));
        }
    }
    return out;
}

// `depsync log --json -n 0` on a node, newest release first.
std::vector<std::map<std::string, std::string>> release_log(const Cluster& cluster, const Node& node) {
    ProcessResult log = cluster.depsync(node, {"log", "--json", "-n", "0"});
    INFO(describe(log));
    REQUIRE(log.exit_code == 0);
    return parse_object_array(log.out);
}

// Every file path of a release in the primary's repository (`rev`: a commit, branch or tag).
std::set<std::string> release_paths(const Cluster& cluster, const std::string& rev = "main") {
    ProcessResult ls = git({"-C", cluster.repo().string(), "ls-tree", "-r", "--name-only", rev});
    INFO(describe(ls));
    REQUIRE(ls.exit_code == 0);
    auto lines = lines_of(ls.out);
    return {lines.begin(), lines.end()};
}

std::size_t count_under(const std::set<std::string>& paths, const std::string& prefix) {
    std::size_t n = 0;
    for (const auto& p : paths)
        if (p.rfind(prefix, 0) == 0) ++n;
    return n;
}

// The bytes of `path` in release `rev` of the primary's repository.
std::string release_blob(const Cluster& cluster, const std::string& rev, const std::string& path) {
    ProcessResult blob = git({"-C", cluster.repo().string(), "cat-file", "blob", rev + ":" + path});
    INFO(describe(blob));
    REQUIRE(blob.exit_code == 0);
    return blob.out;
}

// "commit path: reason" for every .car in any release on the branch that is not a complete zip.
std::vector<std::string> incomplete_published_archives(const Cluster& cluster, const stdfs::path& scratch) {
    std::vector<std::string> defects;
    ProcessResult commits = git({"-C", cluster.repo().string(), "rev-list", "main"});
    REQUIRE(commits.exit_code == 0);
    for (const auto& commit : lines_of(commits.out)) {
        ProcessResult ls = git({"-C", cluster.repo().string(), "ls-tree", "-r", commit});
        REQUIRE(ls.exit_code == 0);
        for (const auto& line : lines_of(ls.out)) {
            auto tab = line.find('\t');
            std::string path = line.substr(tab + 1);
            if (path.size() < 4 || path.substr(path.size() - 4) != ".car") continue;
            std::string oid = line.substr(line.rfind(' ', tab) + 1, tab - line.rfind(' ', tab) - 1);
            write_file(scratch, git({"-C", cluster.repo().string(), "cat-file", "blob", oid}).out);
            int fd = ::open(scratch.c_str(), O_RDONLY | O_CLOEXEC);
            REQUIRE(fd >= 0);
            auto defect = depsync::fs::find_zip_defect(fd);
            ::close(fd);
            if (defect) defects.push_back(commit.substr(0, 8) + " " + path + ": " + *defect);
        }
    }
    return defects;
}

// --- The post-deploy hook ----------------------------------------------------------------------------------

std::string hook_path() {
    return dt::source_dir() + "/hooks/post-deploy";
}

std::map<std::string, std::string> hook_env(const Cluster& cluster,
                                            std::map<std::string, std::string> extra = {}) {
    extra["DEPSYNC_BIN"] = dt::depsync_bin();
    extra["DEPSYNC_CONFIG"] = cluster.primary().config.string();
    return extra;
}

ProcessResult run_hook(const Cluster& cluster, const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> argv = {hook_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return dt::run(argv, hook_env(cluster, env));
}

// --- depsync watch -----------------------------------------------------------------------------------------

// Folders below `dir`, `dir` included: what the watcher must have an inotify watch on.
std::size_t folder_count(const stdfs::path& dir) {
    std::size_t n = 1;
    for (const auto& e : stdfs::recursive_directory_iterator(dir))
        if (e.is_directory() && !e.is_symlink()) ++n;
    return n;
}

// inotify watches a process holds (the "inotify wd:" lines of its fdinfo).
std::size_t inotify_watches(pid_t pid) {
    std::size_t n = 0;
    std::error_code ec;
    const stdfs::path fdinfo = "/proc/" + std::to_string(pid) + "/fdinfo";
    for (const auto& e : stdfs::directory_iterator(fdinfo, ec)) {
        std::ifstream in(e.path());
        for (std::string line; std::getline(in, line);)
            if (line.rfind("inotify wd:", 0) == 0) ++n;
    }
    return n;
}

// Whether the process has ended (it is a zombie, or gone).
bool has_ended(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto paren = stat.rfind(')');
    return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z';
}

// `depsync -v watch --settle SETTLE` on the primary. The constructor returns once every folder is watched and
// the start-up publish has had time to run; stop() sends SIGTERM.
class Watch {
  public:
    explicit Watch(const Cluster& cluster, const std::string& settle = "1") {
        m_process.start(
            {dt::depsync_bin(), "-c", cluster.primary().config.string(), "-v", "watch", "--settle", settle});
        const std::size_t folders = folder_count(cluster.primary().dir);
        REQUIRE(eventually([&] { return inotify_watches(m_process.pid()) >= folders; }, 10));
        std::this_thread::sleep_for(500ms);
        REQUIRE_FALSE(has_ended(m_process.pid()));
    }

    pid_t pid() const { return m_process.pid(); }

    // SIGTERM; the watcher must end within 15 s (else it is killed and the test fails). The exit status is
    // checked only by the test of that alone (see there).
    ProcessResult stop() {
        m_process.kill(SIGTERM);
        bool ended = eventually([&] { return has_ended(m_process.pid()); }, 15);
        if (!ended) m_process.kill(SIGKILL);
        ProcessResult result = m_process.wait();
        INFO(describe(result));
        CHECK(ended);
        // It stopped by handling the signal, not in the middle of a publish.
        CHECK(contains(result.err, "stopping: signal received"));
        return result;
    }

    // SIGKILL: the watcher gets no chance to save anything.
    void kill() {
        m_process.kill(SIGKILL);
        m_process.wait();
    }

  private:
    dt::BackgroundProcess m_process;
};

std::vector<PublishedLine> published_lines(const std::string& out) {
    std::vector<PublishedLine> lines;
    for (const auto& line : lines_of(out))
        if (auto p = parse_published(line)) lines.push_back(*p);
    return lines;
}

// A primary with a small MI tree published as r1.
void publish_first_release(Cluster& cluster, std::uint64_t seed) {
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, seed);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE(cluster.release_commits() == 1);
}

// An operator script (for validate or on_change) that records its DEPSYNC_* variables in `out`/vars, appends
// a line to `out`/runs and copies the changed-files list to `out`/changed; fails (printing why) when
// `fail_if_present` exists in DEPSYNC_DIR.
stdfs::path recording_script(const stdfs::path& out, const std::string& fail_if_present = "") {
    std::string body = "out='" + out.string() + "'\n" +
                       "echo run >> \"$out/runs\"\n"
                       "{\n"
                       "  echo \"old_release=$DEPSYNC_OLD_RELEASE\"\n"
                       "  echo \"new_release=$DEPSYNC_NEW_RELEASE\"\n"
                       "  echo \"old_commit=$DEPSYNC_OLD_COMMIT\"\n"
                       "  echo \"new_commit=$DEPSYNC_NEW_COMMIT\"\n"
                       "  echo \"release=$DEPSYNC_RELEASE\"\n"
                       "  echo \"dir=$DEPSYNC_DIR\"\n"
                       "  echo \"node=$DEPSYNC_NODE\"\n"
                       "  if [ -e \"$DEPSYNC_DIR/" +
                       api + "/v2/New.xml\" ]; then echo new_file=present; else echo new_file=absent; fi\n" +
                       "} > \"$out/vars\"\n"
                       "cp \"$DEPSYNC_CHANGED_FILES\" \"$out/changed\"\n";
    if (!fail_if_present.empty())
        body += "if [ -e \"$DEPSYNC_DIR/" + fail_if_present +
                "\" ]; then echo \"health check failed: " + fail_if_present + " is broken\"; exit 1; fi\n";
    stdfs::create_directories(out);
    return write_script(out / "script.sh", body);
}

std::size_t runs_of(const stdfs::path& out) {
    return stdfs::exists(out / "runs") ? lines_of(read_file(out / "runs")).size() : 0;
}

// The change the validate and on_change tests publish as r2 (r1 holds Orders.xml and Old.xml).
void write_r1_apis(const stdfs::path& dir) {
    write_file(dir / api / "Orders.xml", "<api name=\"Orders\" context=\"/orders\"/>\n");
    write_file(dir / api / "Old.xml", "<api name=\"Old\" context=\"/old\"/>\n");
}
void change_apis_for_r2(const stdfs::path& dir) {
    write_file(dir / api / "Orders.xml", "<api name=\"Orders\" context=\"/orders/v2\"/>\n");
    stdfs::remove(dir / api / "Old.xml");
    write_file(dir / api / "v2/New.xml", "<api name=\"New\" context=\"/new\"/>\n");
}

std::string status_value(const Cluster& cluster, const Node& node, const std::string& key) {
    ProcessResult status = cluster.status_json(node);
    INFO(describe(status));
    REQUIRE(status.exit_code == 0);
    auto fields = parse_flat_json(status.out);
    REQUIRE(fields.count(key) == 1);
    return fields[key];
}

}  // namespace

// --- post-deploy
// ---------------------------------------------------------------------------------------------

TEST_CASE("four post-deploy runs at once all succeed and the newest release holds every file they deployed",
          "[e2e][hook]") {
    Cluster cluster(0);
    publish_first_release(cluster, 711);
    const stdfs::path dir = cluster.primary().dir;

    std::array<dt::BackgroundProcess, 4> runs;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        dt::Rng rng(720 + i);
        const std::string app = "Deploy" + std::to_string(i);
        dt::write_car(dir / "carbonapps" / (app + "_1.0.0.car"), app, "1.0.0", 256 * 1024, rng);
        runs[i].start({hook_path(), "deploy", std::to_string(i)}, hook_env(cluster));
    }
    for (auto& run : runs) {
        ProcessResult result = run.wait();
        INFO(describe(result));
        CHECK(result.exit_code == 0);
    }

    auto paths = release_paths(cluster);
    for (std::size_t i = 0; i < runs.size(); ++i)
        CHECK(paths.count("carbonapps/Deploy" + std::to_string(i) + "_1.0.0.car") == 1);
    // Each run published what it found or found it already published: between one and four new releases.
    const std::size_t commits = cluster.release_commits();
    CHECK(commits >= 2);
    CHECK(commits <= 5);
    auto log = release_log(cluster, cluster.primary());
    REQUIRE(log.size() == commits);
    for (std::size_t i = 0; i + 1 < log.size(); ++i) CHECK(log[i]["message"].rfind("deploy ", 0) == 0);
    CHECK_FALSE(lock_is_held(cluster.primary().state / "lock"));
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"verify"}));
}

TEST_CASE("post-deploy waits for a run holding the lock, and fails with the reason when told to wait less",
          "[e2e][hook]") {
    Cluster cluster(0);
    publish_first_release(cluster, 712);
    write_file(cluster.primary().dir / api / "Held.xml", "<api name=\"Held\"/>\n");
    const stdfs::path lock = cluster.primary().state / "lock";

    dt::BackgroundProcess holder;
    hold_lock(holder, lock, 4);
    ProcessResult impatient = run_hook(cluster, {"impatient"}, {{"DEPSYNC_WAIT", "1"}});
    INFO(describe(impatient));
    CHECK(impatient.exit_code == 3);
    CHECK(contains(impatient.err, "lock"));
    CHECK(contains(impatient.err, "post-deploy: depsync publish failed"));
    CHECK(cluster.release_commits() == 1);

    ProcessResult patient = run_hook(cluster, {"patient"});
    INFO(describe(patient));
    // The holder ran to its end (it was not killed); only then could the hook publish.
    CHECK(holder.wait().exit_code == 0);
    REQUIRE(patient.exit_code == 0);
    auto line = parse_published(patient.out);
    REQUIRE(line);
    CHECK(line->release == 2);
    CHECK(release_paths(cluster).count(api + "/Held.xml") == 1);
    CHECK(release_log(cluster, cluster.primary()).front()["message"] == "patient");
}

TEST_CASE("post-deploy takes the release message from its arguments, else from DEPSYNC_MESSAGE",
          "[e2e][hook]") {
    Cluster cluster(0);
    publish_first_release(cluster, 713);
    const stdfs::path dir = cluster.primary().dir;
    auto newest_message = [&] { return release_log(cluster, cluster.primary()).front()["message"]; };

    write_file(dir / api / "A.xml", "<api name=\"A\"/>\n");
    REQUIRE_SUCCESS(run_hook(cluster, {"deploy", "orders 1.2.0"}));
    CHECK(newest_message() == "deploy orders 1.2.0");

    write_file(dir / api / "B.xml", "<api name=\"B\"/>\n");
    REQUIRE_SUCCESS(run_hook(cluster, {}, {{"DEPSYNC_MESSAGE", "pipeline #42: billing"}}));
    CHECK(newest_message() == "pipeline #42: billing");

    write_file(dir / api / "C.xml", "<api name=\"C\"/>\n");
    REQUIRE_SUCCESS(run_hook(cluster, {"from arguments"}, {{"DEPSYNC_MESSAGE", "from the environment"}}));
    CHECK(newest_message() == "from arguments");

    write_file(dir / api / "D.xml", "<api name=\"D\"/>\n");
    REQUIRE_SUCCESS(run_hook(cluster, {}));
    CHECK(newest_message() == "deploy via post-deploy hook");
    CHECK(cluster.release_commits() == 5);

    // Nothing new: the hook still succeeds and makes no release.
    REQUIRE_SUCCESS(run_hook(cluster, {"again"}));
    CHECK(cluster.release_commits() == 5);
}

TEST_CASE("post-deploy exits non-zero with the reason on stderr when the publish fails", "[e2e][hook]") {
    Cluster cluster(0);
    publish_first_release(cluster, 714);
    {
        std::ofstream conf(cluster.primary().config, std::ios::app);
        conf << "validate = 'echo rejected by policy; exit 1'\n";
    }
    write_file(cluster.primary().dir / api / "Rejected.xml", "<api name=\"Rejected\"/>\n");

    ProcessResult failed = run_hook(cluster, {"blocked deploy"});
    INFO(describe(failed));
    CHECK(failed.exit_code != 0);
    CHECK(contains(failed.err, "validate failed"));
    CHECK(contains(failed.err, "rejected by policy"));
    CHECK(contains(failed.err, "post-deploy: depsync publish failed"));
    CHECK(cluster.release_commits() == 1);
}

// --- depsync watch
// -------------------------------------------------------------------------------------------

TEST_CASE("watch turns a burst of 1,000 copied files into one release holding all of them", "[e2e][watch]") {
    Cluster cluster(0);
    publish_first_release(cluster, 731);
    Watch watch(cluster);

    const stdfs::path burst = cluster.primary().dir / api / "burst";
    for (int i = 0; i < 1000; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "Api%04d.xml", i);
        write_file(burst / name, "<api name=\"Api" + std::to_string(i) + "\" context=\"/burst\"/>\n");
    }
    REQUIRE(eventually([&] { return cluster.release_commits() >= 2; }));
    // A second release would follow within a settle period or two; none does.
    std::this_thread::sleep_for(3s);
    ProcessResult stopped = watch.stop();
    CHECK(cluster.release_commits() == 2);
    CHECK(count_under(release_paths(cluster), api + "/burst/") == 1000);
    auto published = published_lines(stopped.out);
    REQUIRE(published.size() == 1);
    CHECK(published[0].release == 2);
    CHECK(published[0].counts.added == 1000);
}

TEST_CASE("watch publishes at start what changed while it was not running", "[e2e][watch]") {
    Cluster cluster(0);
    publish_first_release(cluster, 732);
    write_file(cluster.primary().dir / api / "WhileDown.xml", "<api name=\"WhileDown\"/>\n");
    Watch watch(cluster);
    REQUIRE(eventually([&] { return cluster.release_commits() == 2; }));
    ProcessResult stopped = watch.stop();
    CHECK(release_paths(cluster).count(api + "/WhileDown.xml") == 1);
}

TEST_CASE("watch records every publish attempt in status and in the metrics file", "[e2e][watch][metrics]") {
    Cluster cluster(0);
    publish_first_release(cluster, 733);
    const stdfs::path metrics = cluster.root() / "textfile/primary.prom";
    stdfs::create_directories(metrics.parent_path());
    configure(cluster.primary(), "metrics_file", metrics.string());
    Watch watch(cluster);
    write_file(cluster.primary().dir / api / "Watched.xml", "<api name=\"Watched\"/>\n");
    REQUIRE(eventually([&] { return cluster.release_commits() == 2; }));
    // The metrics file is written right after the publish; wait for it to name r2.
    const std::string expected = "depsync_release{node=\"" + cluster.primary().name + "\"} 2\n";
    CHECK(eventually([&] { return stdfs::exists(metrics) && contains(read_file(metrics), expected); }));
    ProcessResult stopped = watch.stop();
    INFO(read_file(metrics));
    CHECK(contains(read_file(metrics),
                   "depsync_consecutive_failures{node=\"" + cluster.primary().name + "\"} 0\n"));
    auto status = parse_flat_json(cluster.status_json(cluster.primary()).out);
    CHECK(status.at("last_success") != "null");
    CHECK(status.at("consecutive_failures") == "0");
}

TEST_CASE("watch publishes folder renames and file moves, in the tree and across its edge", "[e2e][watch]") {
    Cluster cluster(0);
    const stdfs::path dir = cluster.primary().dir;
    dt::generate_tree(dir, dt::Profile::small, 733);
    write_file(dir / api / "v1/A.xml", "<api name=\"A\"/>\n");
    write_file(dir / api / "v1/B.xml", "<api name=\"B\"/>\n");
    REQUIRE_SUCCESS(cluster.publish("r1"));
    const stdfs::path staging = cluster.root() / "staging";
    write_file(staging / "v3/C.xml", "<api name=\"C\"/>\n");
    write_file(staging / "Outside.xml", "<api name=\"Outside\"/>\n");
    Watch watch(cluster);
    std::size_t releases = 1;
    auto next_release = [&] {
        ++releases;
        return eventually([&] { return cluster.release_commits() == releases; });
    };

    // A folder renamed in place.
    stdfs::rename(dir / api / "v1", dir / api / "v2");
    REQUIRE(next_release());
    auto paths = release_paths(cluster);
    CHECK(count_under(paths, api + "/v1/") == 0);
    CHECK(paths.count(api + "/v2/A.xml") == 1);
    CHECK(paths.count(api + "/v2/B.xml") == 1);

    // A file moved between folders.
    stdfs::rename(dir / api / "v2/A.xml", dir / "synapse-configs/default/endpoints/A.xml");
    REQUIRE(next_release());
    paths = release_paths(cluster);
    CHECK(paths.count(api + "/v2/A.xml") == 0);
    CHECK(paths.count("synapse-configs/default/endpoints/A.xml") == 1);

    // A folder and a file moved in from outside the tree (a pipeline's atomic drop).
    stdfs::rename(staging / "v3", dir / api / "v3");
    stdfs::rename(staging / "Outside.xml", dir / api / "Outside.xml");
    REQUIRE(next_release());
    paths = release_paths(cluster);
    CHECK(paths.count(api + "/v3/C.xml") == 1);
    CHECK(paths.count(api + "/Outside.xml") == 1);

    // The moved-in and the renamed folders are watched like the others.
    write_file(dir / api / "v3/D.xml", "<api name=\"D\"/>\n");
    REQUIRE(next_release());
    CHECK(release_paths(cluster).count(api + "/v3/D.xml") == 1);
    write_file(dir / api / "v2/E.xml", "<api name=\"E\"/>\n");
    REQUIRE(next_release());
    CHECK(release_paths(cluster).count(api + "/v2/E.xml") == 1);

    // A file moved out of the tree is a deletion.
    stdfs::rename(dir / api / "Outside.xml", staging / "Outside.xml");
    REQUIRE(next_release());
    CHECK(release_paths(cluster).count(api + "/Outside.xml") == 0);

    ProcessResult stopped = watch.stop();
    CHECK(published_lines(stopped.out).size() == releases - 1);
}

TEST_CASE("watch publishes a half-copied archive only once it is complete", "[e2e][watch]") {
    Cluster cluster(0);
    publish_first_release(cluster, 734);
    dt::Rng rng(735);
    const stdfs::path source = cluster.root() / "Payments_1.0.0.car";
    dt::write_car(source, "Payments", "1.0.0", 2 << 20, rng);
    const std::string bytes = read_file(source);
    Watch watch(cluster);

    const stdfs::path target = cluster.primary().dir / "carbonapps/Payments_1.0.0.car";
    {
        std::ofstream out(target, std::ios::binary);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
        REQUIRE(out.flush());
        // The copy stalls longer than the settle period.
        std::this_thread::sleep_for(2500ms);
        CHECK(cluster.release_commits() == 1);
        out.write(bytes.data() + bytes.size() / 2,
                  static_cast<std::streamsize>(bytes.size() - bytes.size() / 2));
        REQUIRE(out.flush());
    }
    REQUIRE(eventually([&] { return cluster.release_commits() == 2; }));
    std::this_thread::sleep_for(2500ms);
    ProcessResult stopped = watch.stop();
    CHECK(cluster.release_commits() == 2);
    CHECK(release_blob(cluster, "main", "carbonapps/Payments_1.0.0.car") == bytes);
    auto defects = incomplete_published_archives(cluster, cluster.root() / "blob.car");
    INFO(dt::format_differences(defects));
    CHECK(defects.empty());
}

TEST_CASE(
    "SIGTERM stops watch between releases, also while a publish waits for a file, leaving the lock free",
    "[e2e][watch]") {
    Cluster cluster(0);
    publish_first_release(cluster, 736);
    const stdfs::path lock = cluster.primary().state / "lock";

    SECTION("while idle") {
        Watch watch(cluster);
        ProcessResult stopped = watch.stop();
        INFO(describe(stopped));
        CHECK(stopped.out.empty());
    }
    SECTION("while a publish waits for a half-written archive") {
        Watch watch(cluster, "2");
        dt::Rng rng(737);
        const stdfs::path stalled = cluster.primary().dir / "carbonapps/Stalled_1.0.0.car";
        dt::write_partial_zip(stalled, rng);
        // A copy that held still for twice the settle time would be a finished, malformed archive: this one
        // is slow but alive, a byte every 3 s (longer than the watcher's quiet time, so publishes start).
        dt::BackgroundProcess copy;
        copy.start({"sh", "-c", "while :; do sleep 3; printf x >> \"$0\"; done", stalled.string()});
        // The publish holds the node's lock while it waits for the archive to be completed.
        REQUIRE(eventually([&] { return lock_is_held(lock); }, 10));
        ProcessResult stopped = watch.stop();
        copy.kill(SIGKILL);
        copy.wait();
        INFO(describe(stopped));
        CHECK(published_lines(stopped.out).empty());
    }
    CHECK_FALSE(lock_is_held(lock));
    CHECK(cluster.release_commits() == 1);
    ProcessResult leftovers = dt::run({"find", cluster.repo().string(), "-name", "*.lock"});
    CHECK(leftovers.out.empty());
    // The next publish is not hindered by anything the watcher left.
    stdfs::remove(cluster.primary().dir / "carbonapps/Stalled_1.0.0.car");
    write_file(cluster.primary().dir / api / "After.xml", "<api name=\"After\"/>\n");
    REQUIRE_SUCCESS(cluster.publish("after the watcher"));
    CHECK(cluster.release_commits() == 2);
}

// systemd records any other status as a failure: a clean stop must not look like a death by signal.
TEST_CASE("watch exits with status 0 on SIGTERM", "[e2e][watch]") {
    Cluster cluster(0);
    publish_first_release(cluster, 739);
    Watch watch(cluster);
    ProcessResult stopped = watch.stop();
    INFO(describe(stopped));
    CHECK(stopped.exit_code == 0);
}

TEST_CASE("watch keeps running through a busy lock and a failing validate, and publishes once they clear",
          "[e2e][watch]") {
    Cluster cluster(0);
    publish_first_release(cluster, 738);
    const stdfs::path dir = cluster.primary().dir;
    configure(cluster.primary(), "validate",
              write_script(cluster.root() / "validate.sh",
                           "if [ -e \"$DEPSYNC_DIR/" + api +
                               "/Reject.xml\" ]; then echo 'Reject.xml is not allowed'; exit 1; fi\n")
                  .string());
    Watch watch(cluster);

    // The lock is busy for longer than several settle periods.
    dt::BackgroundProcess holder;
    hold_lock(holder, cluster.primary().state / "lock", 4);
    write_file(dir / api / "WhileLocked.xml", "<api name=\"WhileLocked\"/>\n");
    CHECK(holder.wait().exit_code == 0);
    REQUIRE(eventually([&] { return cluster.release_commits() == 2; }));
    CHECK(release_paths(cluster).count(api + "/WhileLocked.xml") == 1);

    // validate refuses a release: nothing is published, and the watcher goes on.
    write_file(dir / api / "Reject.xml", "<api name=\"Reject\"/>\n");
    std::this_thread::sleep_for(3s);
    CHECK(cluster.release_commits() == 2);
    stdfs::remove(dir / api / "Reject.xml");
    write_file(dir / api / "Accepted.xml", "<api name=\"Accepted\"/>\n");
    REQUIRE(eventually([&] { return cluster.release_commits() == 3; }));
    auto paths = release_paths(cluster);
    CHECK(paths.count(api + "/Accepted.xml") == 1);
    CHECK(paths.count(api + "/Reject.xml") == 0);

    ProcessResult stopped = watch.stop();
    CHECK(published_lines(stopped.out).size() == 2);
    // Both failures were logged.
    CHECK(contains(stopped.err, "holds the lock"));
    CHECK(contains(stopped.err, "Reject.xml is not allowed"));
}

// --- validate
// ------------------------------------------------------------------------------------------------

TEST_CASE("a failing validate blocks the release with exit 1 and shows its output", "[e2e][validate]") {
    Cluster cluster(1);
    publish_first_release(cluster, 741);
    configure(cluster.primary(), "validate",
              write_script(cluster.root() / "validate.sh",
                           "echo 'Orders_2.0.0.car: missing synapse-config version'\n"
                           "echo 'second line on stderr' >&2\n"
                           "exit 1\n")
                  .string());
    write_file(cluster.primary().dir / api / "Blocked.xml", "<api name=\"Blocked\"/>\n");

    ProcessResult blocked = cluster.publish("blocked");
    INFO(describe(blocked));
    CHECK(blocked.exit_code == 1);
    const std::string output = blocked.out + blocked.err;
    CHECK(contains(output, "validate failed"));
    CHECK(contains(output, "Orders_2.0.0.car: missing synapse-config version"));
    CHECK(contains(output, "second line on stderr"));
    CHECK_FALSE(parse_published(blocked.out));
    CHECK(cluster.release_commits() == 1);
    CHECK(release_log(cluster, cluster.primary()).size() == 1);
    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    CHECK_FALSE(stdfs::exists(cluster.peer(0).dir / api / "Blocked.xml"));
}

TEST_CASE("a passing validate sees the next release number and the list of changed paths",
          "[e2e][validate]") {
    Cluster cluster(0);
    const stdfs::path dir = cluster.primary().dir;
    dt::generate_tree(dir, dt::Profile::small, 742);
    write_r1_apis(dir);
    const stdfs::path out = cluster.root() / "validate";
    configure(cluster.primary(), "validate", recording_script(out).string());

    REQUIRE_SUCCESS(cluster.publish("r1"));
    CHECK(read_vars(out / "vars")["release"] == "1");

    change_apis_for_r2(dir);
    ProcessResult published = cluster.publish("r2");
    REQUIRE_SUCCESS(published);
    auto line = parse_published(published.out);
    REQUIRE(line);
    auto vars = read_vars(out / "vars");
    CHECK(vars["release"] == std::to_string(line->release));
    CHECK(vars["release"] == "2");
    CHECK(vars["dir"] == dir.string());
    CHECK(vars["node"] == "primary");
    CHECK(vars["new_file"] == "present");
    const std::set<std::string> expected = {"D " + api + "/Old.xml", "M " + api + "/Orders.xml",
                                            "A " + api + "/v2", "A " + api + "/v2/New.xml"};
    CHECK(change_lines(out / "changed") == expected);

    // Nothing to publish: validate is not run.
    CHECK(runs_of(out) == 2);
    ProcessResult again = cluster.publish("again");
    REQUIRE_SUCCESS(again);
    CHECK(parse_nothing_to_publish(again.out) == std::optional<std::uint64_t>(2));
    CHECK(runs_of(out) == 2);
}

// --- on_change
// -----------------------------------------------------------------------------------------------

TEST_CASE(
    "on_change gets the old and new release, commits, changed paths, dir and node, and runs only on change",
    "[e2e][on_change]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    const stdfs::path dir = cluster.primary().dir;
    dt::generate_tree(dir, dt::Profile::small, 751);
    write_r1_apis(dir);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    const stdfs::path out = cluster.root() / "on_change";
    configure(peer, "on_change", recording_script(out).string());

    // The first pull changes everything: no old release.
    REQUIRE_SUCCESS(cluster.pull(0));
    auto vars = read_vars(out / "vars");
    CHECK(vars["old_release"].empty());
    CHECK(vars["old_commit"].empty());
    CHECK(vars["new_release"] == "1");
    const std::string r1_commit = status_value(cluster, peer, "commit");
    CHECK(vars["new_commit"] == r1_commit);

    change_apis_for_r2(dir);
    REQUIRE_SUCCESS(cluster.publish("r2"));
    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    REQUIRE(parse_pulled(pulled.out));
    vars = read_vars(out / "vars");
    CHECK(vars["old_release"] == "1");
    CHECK(vars["new_release"] == "2");
    CHECK(vars["old_commit"] == r1_commit);
    CHECK(vars["new_commit"] == git({"-C", cluster.repo().string(), "rev-parse", "main"}).out.substr(0, 40));
    CHECK(vars["new_commit"] == status_value(cluster, peer, "commit"));
    CHECK(vars["dir"] == peer.dir.string());
    CHECK(vars["node"] == peer.name);
    // It runs after the release is in place.
    CHECK(vars["new_file"] == "present");
    const std::set<std::string> expected = {"W " + api + "/Orders.xml", "D " + api + "/Old.xml",
                                            "A " + api + "/v2", "W " + api + "/v2/New.xml"};
    CHECK(change_lines(out / "changed") == expected);
    CHECK(runs_of(out) == 2);

    // Up to date: nothing changed, on_change does not run.
    ProcessResult again = cluster.pull(0);
    REQUIRE_SUCCESS(again);
    CHECK(parse_up_to_date(again.out) == std::optional<std::uint64_t>(2));
    CHECK(runs_of(out) == 2);
}

TEST_CASE("a failing on_change with on_change_failure = revert puts the node back and holds it until unpin",
          "[e2e][on_change]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    const stdfs::path dir = cluster.primary().dir;
    dt::generate_tree(dir, dt::Profile::small, 752);
    write_r1_apis(dir);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    const std::string broken = api + "/Broken.xml";
    const stdfs::path out = cluster.root() / "on_change";
    configure(peer, "on_change", recording_script(out, broken).string());
    configure(peer, "on_change_failure", "revert");
    REQUIRE_SUCCESS(cluster.pull(0));
    const dt::TreeListing r1 = dt::describe_tree(peer.dir);

    // r2 carries an API the server's health check rejects.
    change_apis_for_r2(dir);
    write_file(dir / broken, "<api name=\"Broken\"/>\n");
    REQUIRE_SUCCESS(cluster.publish("r2"));
    ProcessResult reverted = cluster.pull(0);
    INFO(describe(reverted));
    CHECK(reverted.exit_code == 1);
    CHECK(contains(reverted.out, "reverted to r1 and held there"));
    CHECK(contains(reverted.out + reverted.err, "health check failed"));
    {
        INFO(dt::format_differences(dt::diff_trees(r1, dt::describe_tree(peer.dir))));
        CHECK(dt::diff_trees(r1, dt::describe_tree(peer.dir)).empty());
    }
    ProcessResult verify = cluster.depsync(peer, {"verify"});
    INFO(describe(verify));
    CHECK(verify.exit_code == 0);
    CHECK(contains(verify.out, "r1"));
    CHECK(status_value(cluster, peer, "held") == "true");
    CHECK(contains(status_value(cluster, peer, "held_reason"), "on_change failed for r2"));
    CHECK(status_value(cluster, peer, "release") == "1");
    CHECK(status_value(cluster, peer, "upstream_release") == "2");

    // A fixed release does not move a held node either.
    stdfs::remove(dir / broken);
    write_file(dir / api / "Fixed.xml", "<api name=\"Fixed\"/>\n");
    REQUIRE_SUCCESS(cluster.publish("r3"));
    for (int i = 0; i < 2; ++i) {
        ProcessResult held = cluster.pull(0);
        INFO(describe(held));
        CHECK(held.exit_code == 0);
        CHECK(held.out.rfind("held at r1 (upstream at r3): ", 0) == 0);
        CHECK(contains(held.out, "depsync unpin"));
    }
    CHECK(dt::diff_trees(r1, dt::describe_tree(peer.dir)).empty());
    const std::size_t runs_while_held = runs_of(out);

    ProcessResult unpinned = cluster.depsync(peer, {"unpin"});
    REQUIRE_SUCCESS(unpinned);
    CHECK(contains(unpinned.out, "r1"));
    ProcessResult moved = cluster.pull(0);
    REQUIRE_SUCCESS(moved);
    auto line = parse_pulled(moved.out);
    REQUIRE(line);
    CHECK(line->from == std::optional<std::uint64_t>(1));
    CHECK(line->to == 3);
    CHECK(runs_of(out) == runs_while_held + 1);
    INFO(dt::format_differences(differences(dir, peer.dir)));
    CHECK(differences(dir, peer.dir).empty());
    CHECK(status_value(cluster, peer, "held") == "false");
}

TEST_CASE("pin to a release whose on_change fails under revert says so and exits 1", "[e2e][on_change]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    const stdfs::path dir = cluster.primary().dir;
    dt::generate_tree(dir, dt::Profile::small, 753);
    write_r1_apis(dir);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    const std::string broken = api + "/Broken.xml";
    configure(peer, "on_change", recording_script(cluster.root() / "on_change", broken).string());
    configure(peer, "on_change_failure", "revert");
    REQUIRE_SUCCESS(cluster.pull(0));
    const dt::TreeListing r1 = dt::describe_tree(peer.dir);
    write_file(dir / broken, "<api name=\"Broken\"/>\n");
    REQUIRE_SUCCESS(cluster.publish("r2"));

    ProcessResult pinned = cluster.depsync(peer, {"pin", "r2"});
    INFO(describe(pinned));
    CHECK(pinned.exit_code == 1);
    CHECK(pinned.out.rfind("not pinned at r2: reverted to r1 and held there: on_change failed for r2", 0) ==
          0);
    CHECK(dt::diff_trees(r1, dt::describe_tree(peer.dir)).empty());
    CHECK(status_value(cluster, peer, "held") == "true");
    CHECK(status_value(cluster, peer, "release") == "1");
}

TEST_CASE("a failing on_change without revert keeps the new release, exits 1 and is recorded in status",
          "[e2e][on_change]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    publish_first_release(cluster, 753);
    const stdfs::path out = cluster.root() / "on_change";
    configure(peer, "on_change", recording_script(out, api + "/Broken.xml").string());
    REQUIRE_SUCCESS(cluster.pull(0));

    write_file(cluster.primary().dir / api / "Broken.xml", "<api name=\"Broken\"/>\n");
    REQUIRE_SUCCESS(cluster.publish("r2"));
    ProcessResult failed = cluster.pull(0);
    INFO(describe(failed));
    CHECK(failed.exit_code == 1);
    CHECK(contains(failed.out, "on_change failed for r2"));
    CHECK(differences(cluster.primary().dir, peer.dir).empty());
    CHECK(status_value(cluster, peer, "release") == "2");
    CHECK(status_value(cluster, peer, "held") == "false");
    CHECK(contains(status_value(cluster, peer, "on_change_error"), "on_change failed for r2"));
    ProcessResult again = cluster.pull(0);
    REQUIRE_SUCCESS(again);
    CHECK(parse_up_to_date(again.out) == std::optional<std::uint64_t>(2));
}

TEST_CASE("an on_change that outlives hook_timeout is killed and counts as failed", "[e2e][on_change]") {
    Cluster cluster(1);
    const Node& peer = cluster.peer(0);
    publish_first_release(cluster, 754);
    REQUIRE_SUCCESS(cluster.pull(0));
    configure(peer, "on_change", write_script(cluster.root() / "slow.sh", "sleep 60\n").string());
    {
        std::ofstream conf(peer.config, std::ios::app);
        conf << "hook_timeout = 1\n";
    }
    write_file(cluster.primary().dir / api / "Slow.xml", "<api name=\"Slow\"/>\n");
    REQUIRE_SUCCESS(cluster.publish("r2"));
    ProcessResult timed_out = cluster.pull(0);
    INFO(describe(timed_out));
    CHECK(timed_out.exit_code == 1);
    CHECK(contains(timed_out.out, "on_change failed for r2 (killed after the timeout)"));
    CHECK(contains(status_value(cluster, peer, "on_change_error"), "timeout"));
}

// --- pull --jitter
// -------------------------------------------------------------------------------------------

TEST_CASE("pull --jitter waits a little and then pulls as usual", "[e2e]") {
    Cluster cluster(1);
    publish_first_release(cluster, 761);
    ProcessResult pulled = cluster.pull(0, {"--jitter", "2"});
    REQUIRE_SUCCESS(pulled);
    auto line = parse_pulled(pulled.out);
    REQUIRE(line);
    CHECK_FALSE(line->from);
    CHECK(line->to == 1);
    CHECK(differences(cluster.primary().dir, cluster.peer(0).dir).empty());
    ProcessResult again = cluster.pull(0, {"--jitter", "2"});
    REQUIRE_SUCCESS(again);
    CHECK(parse_up_to_date(again.out) == std::optional<std::uint64_t>(1));
}

// What `depsync watch` reads is only the folders it saw change; the release must still be the tree a full
// scan gives: a publish run by hand afterwards (which reads everything) finds nothing to publish.
TEST_CASE("watch reads only the changed folders and publishes the tree a full scan would", "[e2e][watch]") {
    Cluster cluster(0);
    const stdfs::path dir = cluster.primary().dir;
    const std::string endpoints = "synapse-configs/default/endpoints";
    configure(cluster.primary(), "exclude", "*.bk");
    configure(cluster.primary(), "node_local", "synapse-configs/default/imports/");
    dt::generate_tree(dir, dt::Profile::small, 741);
    write_file(dir / api / "deep/a/b/c/Deep.xml", "<deep v='1'/>\n");
    write_file(dir / api / "old/x/Old.xml", "<old/>\n");
    write_file(dir / api / "move/m/M.xml", "<m/>\n");
    REQUIRE_SUCCESS(cluster.publish("r1"));
    Watch watch(cluster);
    std::size_t releases = 1;
    auto next_release = [&] {
        ++releases;
        return eventually([&] { return cluster.release_commits() == releases; });
    };
    auto content = [&](const std::string& path) {
        return git({"-C", cluster.repo().string(), "show", "main:" + path}).out;
    };

    // An edit four folders down.
    write_file(dir / api / "deep/a/b/c/Deep.xml", "<deep v='2'/>\n");
    REQUIRE(next_release());
    CHECK(content(api + "/deep/a/b/c/Deep.xml") == "<deep v='2'/>\n");

    // A new subtree with an empty folder, a symlink and an excluded file; a node-local file beside it.
    stdfs::create_directories(dir / api / "new/p/q");
    stdfs::create_directories(dir / api / "new/empty");
    write_file(dir / api / "new/p/q/N.xml", "<n/>\n");
    write_file(dir / api / "new/p/N.bk", "stray\n");
    stdfs::create_symlink("q/N.xml", dir / api / "new/p/link");
    write_file(dir / "synapse-configs/default/imports/Gen.xml", "<generated/>\n");
    REQUIRE(next_release());
    auto paths = release_paths(cluster);
    CHECK(paths.count(api + "/new/p/q/N.xml") == 1);
    CHECK(paths.count(api + "/new/p/link") == 1);
    CHECK(paths.count(api + "/new/p/N.bk") == 0);
    CHECK(count_under(paths, "synapse-configs/default/imports/") == 0);

    // A whole folder deleted.
    stdfs::remove_all(dir / api / "old");
    REQUIRE(next_release());
    CHECK(count_under(release_paths(cluster), api + "/old/") == 0);

    // A folder moved across folders, then edited where it now is.
    stdfs::rename(dir / api / "move/m", dir / endpoints / "m");
    REQUIRE(next_release());
    paths = release_paths(cluster);
    CHECK(count_under(paths, api + "/move/") == 0);
    CHECK(paths.count(endpoints + "/m/M.xml") == 1);
    write_file(dir / endpoints / "m/M2.xml", "<m2/>\n");
    REQUIRE(next_release());
    CHECK(content(endpoints + "/m/M2.xml") == "<m2/>\n");

    // The deep folder emptied.
    stdfs::remove(dir / api / "deep/a/b/c/Deep.xml");
    REQUIRE(next_release());
    CHECK(count_under(release_paths(cluster), api + "/deep/") == 0);

    ProcessResult stopped = watch.stop();
    INFO(stopped.err);
    // The releases above came from reading the changed folders only (the start-up publish read everything).
    CHECK(contains(stopped.err, "the whole directory read"));
    CHECK(contains(stopped.err, "changed folders read"));
    CHECK(published_lines(stopped.out).size() == releases - 1);
    // A full scan finds the directory exactly as released: empty folders and all.
    const std::string tree = git({"-C", cluster.repo().string(), "rev-parse", "main^{tree}"}).out;
    REQUIRE_SUCCESS(cluster.publish("full scan"));
    CHECK(cluster.release_commits() == releases);
    CHECK(git({"-C", cluster.repo().string(), "rev-parse", "main^{tree}"}).out == tree);
}

TEST_CASE("a watcher's releases stay exact beside publishes run by hand and after it is killed unsaved",
          "[e2e][watch]") {
    Cluster cluster(0);
    const stdfs::path dir = cluster.primary().dir;
    dt::generate_tree(dir, dt::Profile::small, 742);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    auto content = [&](const std::string& path) {
        return git({"-C", cluster.repo().string(), "show", "main:" + path}).out;
    };
    Watch watch(cluster);
    write_file(dir / api / "A.xml", "<a v='1'/>\n");
    REQUIRE(eventually([&] { return content(api + "/A.xml") == "<a v='1'/>\n"; }));

    // A publish run by hand moves the branch past the release the watcher remembers.
    write_file(dir / api / "B.xml", "<b/>\n");
    REQUIRE_SUCCESS(cluster.publish("by hand"));
    CHECK(content(api + "/B.xml") == "<b/>\n");
    write_file(dir / api / "A.xml", "<a v='2'/>\n");
    REQUIRE(eventually([&] { return content(api + "/A.xml") == "<a v='2'/>\n"; }));
    CHECK(content(api + "/B.xml") == "<b/>\n");
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"verify"}));

    // Killed at once after its last publish: its stat cache (saved once it is idle) never reached the disk.
    write_file(dir / api / "A.xml", "<a v='3'/>\n");
    REQUIRE(eventually([&] { return content(api + "/A.xml") == "<a v='3'/>\n"; }));
    watch.kill();
    write_file(dir / api / "C.xml", "<c/>\n");
    REQUIRE_SUCCESS(cluster.publish("after the kill"));
    CHECK(content(api + "/C.xml") == "<c/>\n");
    CHECK(content(api + "/A.xml") == "<a v='3'/>\n");
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), {"verify"}));
    const std::size_t releases = cluster.release_commits();
    REQUIRE_SUCCESS(cluster.publish("nothing new"));
    CHECK(cluster.release_commits() == releases);
}

TEST_CASE("a watcher saves what it learned when it stops: a publish by hand then reads no file again",
          "[e2e][watch]") {
    Cluster cluster(0);
    const stdfs::path dir = cluster.primary().dir;
    dt::generate_tree(dir, dt::Profile::small, 743);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    {
        Watch watch(cluster);
        write_file(dir / api / "A.xml", "<a v='1'/>\n");
        REQUIRE(eventually([&] { return cluster.release_commits() == 2; }));
        watch.stop();
    }
    // The fast path of a publish with nothing to publish trusts the saved cache only when it names the
    // release the branch names: had the watcher not saved it, this publish would scan and hash again.
    ProcessResult again = cluster.depsync(cluster.primary(), {"-v", "publish", "-m", "nothing new"});
    REQUIRE_SUCCESS(again);
    CHECK(cluster.release_commits() == 2);
    INFO(again.err);
    CHECK_FALSE(contains(again.err, "scanned"));
}
