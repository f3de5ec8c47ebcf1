// The audit trail and monitoring: every change of a node's content is one info line (release, commit,
// counts, who and what ran it) in the log file and the journal; a run that changes nothing logs nothing at
// info and, with -q, prints nothing; -v shows the steps; rollbacks, pins and failed runs reach last-run and
// the metrics file.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>
#include <sstream>

#include "cluster.hpp"
#include "support/tcp_proxy.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

const std::string api = "synapse-configs/default/api";

// The log file's lines at `level` ("info", "debug", "error"), without the time and pid prefix.
std::vector<std::string> log_lines(const stdfs::path& log, const std::string& level) {
    std::vector<std::string> out;
    if (!stdfs::exists(log)) return out;
    static const std::regex line(R"(\S+ \[\d+\] (\w+): (.*))");
    std::smatch m;
    for (const std::string& l : lines_of(read_file(log)))
        if (std::regex_match(l, m, line) && m[1] == level) out.push_back(m[2]);
    return out;
}

std::string record_field(const stdfs::path& state, const std::string& key) {
    for (const std::string& l : lines_of(read_file(state / "last-run")))
        if (l.rfind(key + "=", 0) == 0) return l.substr(key.size() + 1);
    return "";
}

// The metric's sample line ("name{labels} value"), or "" when absent.
std::string metric_line(const stdfs::path& file, const std::string& name) {
    for (const std::string& l : lines_of(read_file(file)))
        if (l.rfind(name + "{", 0) == 0) return l;
    return "";
}

std::string head_commit(const Cluster& c) {
    ProcessResult r = git({"--git-dir", c.repo().string(), "rev-parse", "refs/heads/main"});
    REQUIRE(r.exit_code == 0);
    return r.out.substr(0, 40);
}

}  // namespace

TEST_CASE(
    "audit: a content change is one info line with release, commit, counts and who ran it; a no-op "
    "logs nothing",
    "[e2e][log]") {
    Cluster c(1);
    const Node& peer = c.peer(0);
    const stdfs::path peer_log = c.root() / "peer.log", primary_log = c.root() / "primary.log";
    set_key(peer.config, "log_file", "\"" + peer_log.string() + "\"");
    set_key(c.primary().config, "log_file", "\"" + primary_log.string() + "\"");
    write_file(c.primary().dir / api / "A.xml", "<api name=\"A\"/>\n");
    REQUIRE_SUCCESS(c.publish("one"));
    write_file(c.primary().dir / api / "B.xml", "<api name=\"B\"/>\n");
    REQUIRE_SUCCESS(c.publish("two"));
    const std::string r2 = head_commit(c);

    REQUIRE_SUCCESS(c.pull(0));
    std::vector<std::string> info = log_lines(peer_log, "info");
    REQUIRE(info.size() == 1);
    CHECK(info[0] == "pull: r2, commit " + r2.substr(0, 12) + " (+2 ~0 -0) by root via depsync pull");
    std::vector<std::string> published = log_lines(primary_log, "info");
    REQUIRE(published.size() == 2);
    CHECK(published[1] ==
          "publish: r2, commit " + r2.substr(0, 12) + " (+1 ~0 -0) by root via depsync publish");

    // No-op runs: nothing at info in either log; with -q nothing on stdout either.
    ProcessResult quiet = c.depsync(peer, {"-q", "pull"});
    REQUIRE_SUCCESS(quiet);
    CHECK(quiet.out.empty());
    CHECK(quiet.err.empty());
    ProcessResult quiet_publish = c.depsync(c.primary(), {"-q", "publish"});
    REQUIRE_SUCCESS(quiet_publish);
    CHECK(quiet_publish.out.empty());
    CHECK(c.pull(0).out == "up to date at r2\n");  // without -q the result line stays
    CHECK(log_lines(peer_log, "info").size() == 1);
    CHECK(log_lines(primary_log, "info").size() == 2);

    // A rollback, and a pin and unpin by a sudo user from a named trigger: one line each.
    ProcessResult rb = c.depsync(c.primary(), {"rollback", "r1", "-m", "bad"});
    REQUIRE_SUCCESS(rb);
    const std::string r3 = head_commit(c);
    published = log_lines(primary_log, "info");
    REQUIRE(published.size() == 3);
    CHECK(published[2] == "rollback: r3 restores r1, commit " + r3.substr(0, 12) +
                              " (+0 ~0 -1) by root via depsync rollback");
    ProcessResult pin = dt::run({dt::depsync_bin(), "-c", peer.config.string(), "pin", "r1"},
                                {{"SUDO_USER", "alice"}, {"DEPSYNC_TRIGGER", "change-1234"}});
    REQUIRE_SUCCESS(pin);
    REQUIRE_SUCCESS(c.depsync(peer, {"unpin"}));
    info = log_lines(peer_log, "info");
    REQUIRE(info.size() == 3);
    CHECK(std::regex_match(
        info[1],
        std::regex(
            R"(pin: r2 -> r1, commit [0-9a-f]{12} \(\+0 ~0 -1\) by root \(sudo from alice\) via depsync pin \(change-1234\))")));
    CHECK(std::regex_match(
        info[2], std::regex(R"(unpin: was held at r1, commit [0-9a-f]{12} by root via depsync unpin)")));

    // -v shows the steps on stderr (and in the log file, at debug).
    ProcessResult verbose = c.depsync(peer, {"-v", "pull"});
    REQUIRE_SUCCESS(verbose);
    INFO(verbose.err);
    CHECK(contains(verbose.err, "depsync: debug: fetching refs/heads/main from "));
    CHECK(contains(verbose.err, "depsync: debug: planned r3: "));
    CHECK(contains(verbose.err, "depsync: debug: committed r3"));
    CHECK(contains(verbose.err, "depsync: info: pull: r1 -> r3, commit " + r3.substr(0, 12)));
    CHECK(!log_lines(peer_log, "debug").empty());
}

TEST_CASE(
    "monitoring: a rollback, a pin and a run that fails with exit 2 reach last-run and the metrics file",
    "[e2e][metrics]") {
    Cluster c(1);
    const Node& peer = c.peer(0);
    const stdfs::path primary_metrics = c.root() / "primary.prom", peer_metrics = c.root() / "peer.prom";
    set_key(c.primary().config, "metrics_file", "\"" + primary_metrics.string() + "\"");
    set_key(peer.config, "metrics_file", "\"" + peer_metrics.string() + "\"");
    write_file(c.primary().dir / api / "A.xml", "<api name=\"A\"/>\n");
    REQUIRE_SUCCESS(c.publish("one"));
    write_file(c.primary().dir / api / "B.xml", "<api name=\"B\"/>\n");
    REQUIRE_SUCCESS(c.publish("two"));
    const std::string before = record_field(c.primary().state, "last_success");

    // rollback: the release, its commit and the last success move with it.
    ::sleep(1);
    REQUIRE_SUCCESS(c.depsync(c.primary(), {"rollback", "previous"}));
    const std::string r3 = head_commit(c);
    CHECK(metric_line(primary_metrics, "depsync_release") == "depsync_release{node=\"primary\"} 3");
    CHECK(metric_line(primary_metrics, "depsync_release_info") ==
          "depsync_release_info{node=\"primary\",release=\"3\",commit=\"" + r3 + "\"} 1");
    CHECK(std::stoll(record_field(c.primary().state, "last_success")) > std::stoll(before));

    // pin: recorded like a pull.
    REQUIRE_SUCCESS(c.pull(0));
    REQUIRE_SUCCESS(c.depsync(peer, {"pin", "r1"}));
    CHECK(metric_line(peer_metrics, "depsync_release") == "depsync_release{node=\"peer1\"} 1");
    CHECK(metric_line(peer_metrics, "depsync_pinned") == "depsync_pinned{node=\"peer1\"} 1");
    REQUIRE_SUCCESS(c.depsync(peer, {"unpin"}));
    CHECK(metric_line(peer_metrics, "depsync_pinned") == "depsync_pinned{node=\"peer1\"} 0");

    // The remote vanished: every run exits 2 and counts, so a consecutive_failures >= 3 alert fires.
    stdfs::rename(c.repo(), c.root() / "moved.git");
    for (int i = 0; i < 3; ++i) {
        ProcessResult r = c.pull(0);
        INFO(describe(r));
        CHECK(r.exit_code == 2);
    }
    CHECK(record_field(peer.state, "consecutive_failures") == "3");
    CHECK(!record_field(peer.state, "last_error").empty());
    CHECK(metric_line(peer_metrics, "depsync_consecutive_failures") ==
          "depsync_consecutive_failures{node=\"peer1\"} 3");

    // A run that lost the race for the lock did not run: not counted.
    ProcessResult locked = dt::run({"flock", "-n", (peer.state / "lock").string(), dt::depsync_bin(), "-c",
                                    peer.config.string(), "pull"});
    INFO(describe(locked));
    CHECK(locked.exit_code == 3);
    CHECK(record_field(peer.state, "consecutive_failures") == "3");
}

namespace {

// Runs `argv` with its stderr connected to a fake journal: a mount namespace of its own whose /run holds
// /run/systemd/journal/socket, bound by this test, and JOURNAL_STREAM naming the stderr it was given, as
// systemd does for a service. Returns the native-protocol datagrams received (one string each), or nullopt
// when the namespace cannot be made (not root).
std::optional<std::vector<std::string>> run_under_journal(const std::vector<std::string>& argv,
                                                          const stdfs::path& scratch) {
    const stdfs::path out_file = scratch / "journal.out";
    pid_t pid = ::fork();
    if (pid < 0) return std::nullopt;
    if (pid == 0) {
        // The child: nothing of the test framework runs here; it ends with _exit.
        if (::unshare(CLONE_NEWNS) != 0 ||
            ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0)
            ::_exit(100);
        ::mkdir("/run/systemd", 0755);
        ::mkdir("/run/systemd/journal", 0755);
        int sock = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", "/run/systemd/journal/socket");
        if (sock < 0 || ::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ::_exit(101);
        int err = ::open((scratch / "stderr.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        struct stat st {};
        ::fstat(err, &st);
        std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
        pid_t run = ::fork();
        if (run == 0) {
            ::dup2(err, STDERR_FILENO);
            ::setenv("JOURNAL_STREAM", stream.c_str(), 1);
            std::vector<char*> args;
            for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        std::string buf(65536, '\0');
        int status = 0;
        bool ended = false;
        // Datagrams until the program has ended and the socket is drained.
        for (;;) {
            pollfd p{sock, POLLIN, 0};
            if (::poll(&p, 1, ended ? 0 : 100) > 0) {
                ssize_t n = ::recv(sock, buf.data(), buf.size(), 0);
                std::string record = std::to_string(n) + "\n" + buf.substr(0, static_cast<std::size_t>(n));
                if (n > 0 && ::write(out, record.data(), record.size()) < 0) ::_exit(102);
                continue;
            }
            if (ended) break;
            ended = ::waitpid(run, &status, WNOHANG) == run;
        }
        ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 99);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) >= 100) return std::nullopt;
    std::vector<std::string> records;
    std::string text = read_file(out_file);
    for (std::size_t pos = 0; pos < text.size();) {
        std::size_t nl = text.find('\n', pos);
        std::size_t n = std::stoul(text.substr(pos, nl - pos));
        records.push_back(text.substr(nl + 1, n));
        pos = nl + 1 + n;
    }
    return records;
}

std::map<std::string, std::string> journal_fields(const std::string& record) {
    std::map<std::string, std::string> fields;
    for (const std::string& l : lines_of(record)) {
        std::size_t eq = l.find('=');
        if (eq != std::string::npos) fields[l.substr(0, eq)] = l.substr(eq + 1);
    }
    return fields;
}

}  // namespace

TEST_CASE(
    "journal: under systemd an audit line reaches the journal with its priority and fields; a no-op "
    "sends nothing",
    "[e2e][log]") {
    Cluster c(1);
    const Node& peer = c.peer(0);
    write_file(c.primary().dir / api / "A.xml", "<api name=\"A\"/>\n");
    REQUIRE_SUCCESS(c.publish("one"));
    const std::string r1 = head_commit(c);
    const std::vector<std::string> pull = {dt::depsync_bin(), "-c", peer.config.string(), "-q", "pull"};

    auto records = run_under_journal(pull, c.root());
    if (!records) {
        WARN("no mount namespace here (not root): the journal test did not run");
        return;
    }
    REQUIRE(records->size() == 1);
    auto fields = journal_fields(records->front());
    CHECK(fields["PRIORITY"] == "6");
    CHECK(fields["SYSLOG_IDENTIFIER"] == "depsync");
    CHECK(fields["MESSAGE"] ==
          "pull: r1, commit " + r1.substr(0, 12) + " (+1 ~0 -0) by root via depsync pull");
    CHECK(fields["DEPSYNC_ACTION"] == "pull");
    CHECK(fields["DEPSYNC_RELEASE"] == "1");
    CHECK(fields["DEPSYNC_COMMIT"] == r1);
    CHECK(read_file(c.root() / "stderr.txt").empty());

    // The next run changes nothing: the journal gets nothing (a timer every minute must not flood it).
    records = run_under_journal(pull, c.root());
    REQUIRE(records);
    CHECK(records->empty());

    // A failure reaches it as an error (priority 3), not as plain stderr text.
    stdfs::rename(c.repo(), c.root() / "moved.git");
    records = run_under_journal(pull, c.root());
    REQUIRE(records);
    REQUIRE(records->size() == 1);
    fields = journal_fields(records->front());
    CHECK(fields["PRIORITY"] == "3");
    CHECK(!fields["MESSAGE"].empty());
    CHECK(read_file(c.root() / "stderr.txt").empty());
}
