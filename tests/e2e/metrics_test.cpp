// metrics_file: after every pull and publish the node writes a Prometheus textfile-collector file. The tests
// parse it as the exposition format (HELP and TYPE before the samples, labels, float values) and check the
// values against what the node just did.

#include <catch2/catch.hpp>

#include <ctime>
#include <regex>
#include <set>
#include <sstream>

#include "cluster.hpp"
#include "support/tcp_proxy.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

struct Sample {
    std::map<std::string, std::string> labels;
    double value = 0;
};

// Parses the text exposition format strictly enough for a textfile collector: every sample's metric has a
// # HELP and a # TYPE gauge line before it, names and labels are well formed, values are floats. Returns
// metric name -> its one sample; throws std::runtime_error naming the offending line.
std::map<std::string, Sample> parse_prometheus(const std::string& text) {
    static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*)");
    static const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (gauge|counter|untyped))");
    static const std::regex sample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+))");
    static const std::regex label(R"(([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)\"(,|$))");
    std::map<std::string, Sample> out;
    std::set<std::string> helped, typed;
    std::istringstream in(text);
    std::smatch m;
    for (std::string line; std::getline(in, line);) {
        auto fail = [&](const std::string& why) { throw std::runtime_error(why + ": '" + line + "'"); };
        if (std::regex_match(line, m, help)) {
            helped.insert(m[1]);
        } else if (std::regex_match(line, m, type)) {
            typed.insert(m[1]);
        } else if (line.empty() || line[0] == '#') {
            fail("unexpected comment or blank line");
        } else if (std::regex_match(line, m, sample)) {
            std::string name = m[1];
            if (!helped.count(name) || !typed.count(name)) fail("sample before its HELP and TYPE");
            if (out.count(name)) fail("second sample of the same metric");
            Sample s;
            std::string labels = m[3];
            for (auto it = std::sregex_iterator(labels.begin(), labels.end(), label);
                 it != std::sregex_iterator(); ++it)
                s.labels[(*it)[1]] = (*it)[2];
            char* end = nullptr;
            std::string value = m[4];
            s.value = std::strtod(value.c_str(), &end);
            if (end != value.c_str() + value.size()) fail("not a float value");
            out[name] = s;
        } else {
            fail("not a sample");
        }
    }
    if (!text.empty() && text.back() != '\n') throw std::runtime_error("the last line has no newline");
    return out;
}

double value(const std::map<std::string, Sample>& m, const std::string& name) {
    INFO("metric " << name);
    REQUIRE(m.count(name) == 1);
    return m.at(name).value;
}

const char* const all_metrics[] = {"depsync_release",
                                   "depsync_last_success_timestamp_seconds",
                                   "depsync_last_run_duration_seconds",
                                   "depsync_drift_files",
                                   "depsync_releases_behind",
                                   "depsync_consecutive_failures",
                                   "depsync_pinned",
                                   "depsync_held"};

}  // namespace

TEST_CASE("metrics: every pull and publish leaves a Prometheus textfile with the node's facts",
          "[e2e][metrics]") {
    Cluster c(1);
    const Node& peer = c.peer(0);
    stdfs::path peer_metrics = c.root() / "textfile/peer1.prom";
    stdfs::path primary_metrics = c.root() / "textfile/primary.prom";
    stdfs::create_directories(peer_metrics.parent_path());
    set_key(peer.config, "metrics_file", "\"" + peer_metrics.string() + "\"");
    set_key(c.primary().config, "metrics_file", "\"" + primary_metrics.string() + "\"");
    dt::generate_tree(c.primary().dir, dt::Profile::small, 7, 0.05);

    // A publish and a successful pull.
    std::int64_t before = std::time(nullptr);
    REQUIRE_SUCCESS(c.publish("first"));
    auto primary = parse_prometheus(read_file(primary_metrics));
    CHECK(value(primary, "depsync_release") == 1);
    CHECK(primary.at("depsync_release").labels.at("node") == "primary");
    CHECK(value(primary, "depsync_last_success_timestamp_seconds") >= static_cast<double>(before));

    REQUIRE_SUCCESS(c.pull(0));
    std::int64_t after = std::time(nullptr);
    auto m = parse_prometheus(read_file(peer_metrics));
    for (const char* name : all_metrics) {
        INFO(name);
        REQUIRE(m.count(name) == 1);
        CHECK(m.at(name).labels == std::map<std::string, std::string>{{"node", "peer1"}});
    }
    CHECK(value(m, "depsync_release") == 1);
    double success = value(m, "depsync_last_success_timestamp_seconds");
    CHECK(success >= static_cast<double>(before));
    CHECK(success <= static_cast<double>(after));
    CHECK(value(m, "depsync_last_run_duration_seconds") > 0);
    CHECK(value(m, "depsync_last_run_duration_seconds") < static_cast<double>(after - before + 1));
    CHECK(value(m, "depsync_drift_files") == 0);
    CHECK(value(m, "depsync_releases_behind") == 0);
    CHECK(value(m, "depsync_consecutive_failures") == 0);
    CHECK(value(m, "depsync_pinned") == 0);
    CHECK(value(m, "depsync_held") == 0);

    // Pinned at r1 while r2 is out, with a local edit: pinned, one release behind, one drifting file.
    REQUIRE_SUCCESS(c.depsync(peer, {"pin", "r1"}));
    write_file(c.primary().dir / "synapse-configs/default/api/New.xml", "<api name=\"New\"/>\n");
    REQUIRE_SUCCESS(c.publish("second"));
    write_file(peer.dir / "synapse-configs/default/api/Local.xml", "<local/>\n");
    REQUIRE_SUCCESS(c.pull(0));
    m = parse_prometheus(read_file(peer_metrics));
    CHECK(value(m, "depsync_release") == 1);
    CHECK(value(m, "depsync_pinned") == 1);
    CHECK(value(m, "depsync_held") == 0);
    CHECK(value(m, "depsync_releases_behind") == 1);
    CHECK(value(m, "depsync_drift_files") == 1);
    stdfs::remove(peer.dir / "synapse-configs/default/api/Local.xml");
    REQUIRE_SUCCESS(c.depsync(peer, {"unpin"}));

    // Two failed pulls (nothing listens where the remote points): the failures count, the last success stays.
    set_key(peer.config, "remote",
            "\"ssh://root@127.0.0.1:" + std::to_string(dt::free_port()) + "/releases.git\"");
    CHECK(c.pull(0).exit_code != 0);
    CHECK(c.pull(0).exit_code != 0);
    m = parse_prometheus(read_file(peer_metrics));
    CHECK(value(m, "depsync_consecutive_failures") == 2);
    CHECK(value(m, "depsync_last_success_timestamp_seconds") >= success);
    CHECK(value(m, "depsync_release") == 1);

    // on_change fails and on_change_failure = revert: the node goes back to r1 and is held there.
    set_key(peer.config, "remote", "\"" + c.repo().string() + "\"");
    set_key(peer.config, "on_change", "\"exit 3\"");
    set_key(peer.config, "on_change_failure", "revert");
    ProcessResult r = c.pull(0);
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    m = parse_prometheus(read_file(peer_metrics));
    CHECK(value(m, "depsync_release") == 1);
    CHECK(value(m, "depsync_held") == 1);
    CHECK(value(m, "depsync_pinned") == 1);
    CHECK(value(m, "depsync_releases_behind") == 1);
    CHECK(value(m, "depsync_consecutive_failures") == 3);

    // No temp file is left beside it for the collector to trip over.
    std::size_t files = 0;
    for (const auto& e : stdfs::directory_iterator(peer_metrics.parent_path()))
        files += e.is_regular_file() ? 1U : 0U;
    CHECK(files == 2);
}

TEST_CASE("metrics: the exposition parser of this test refuses what a collector would refuse",
          "[e2e][metrics]") {
    CHECK_NOTHROW(parse_prometheus("# HELP a x\n# TYPE a gauge\na{node=\"n\\\"1\"} 1.5e3\n"));
    CHECK_THROWS(parse_prometheus("a 1\n"));                                   // no HELP/TYPE
    CHECK_THROWS(parse_prometheus("# HELP a x\n# TYPE a gauge\na one\n"));     // not a float
    CHECK_THROWS(parse_prometheus("# HELP a x\n# TYPE a gauge\na 1"));         // no final newline
    CHECK_THROWS(parse_prometheus("# HELP a x\n# TYPE a gauge\na 1\na 2\n"));  // duplicate sample
}

TEST_CASE("log_file: a failed run's error is on stderr and in the log file, which keeps info lines too",
          "[e2e][metrics][log]") {
    Cluster c(1);
    stdfs::path log = c.root() / "log/depsync.log";  // its folder is created
    set_key(c.peer(0).config, "log_file", "\"" + log.string() + "\"");
    set_key(c.peer(0).config, "remote",
            "\"ssh://root@127.0.0.1:" + std::to_string(dt::free_port()) + "/r.git\"");

    ProcessResult r = c.pull(0);
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    const std::string text = read_file(log);
    INFO(text);
    // "2026-11-27T12:24:29+00:00 [1460] error: cannot connect to ..." with the same message as stderr.
    static const std::regex line(
        R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:?\d\d \[\d+\] error: cannot connect to .*)");
    std::istringstream lines(text);
    std::size_t errors = 0;
    for (std::string l; std::getline(lines, l);) errors += std::regex_match(l, line) ? 1U : 0U;
    CHECK(errors == 1);
    CHECK(r.err.find("depsync: error: cannot connect to") != std::string::npos);

    // An unwritable log file is a configuration error, said at once.
    r = c.depsync(c.peer(0), {"--log-file", "/proc/nonexistent/depsync.log", "status"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("cannot open log file /proc/nonexistent/depsync.log") != std::string::npos);
}
