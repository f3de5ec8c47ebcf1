#include "core/sync/metrics.hpp"

#include <spdlog/spdlog.h>

#include <sstream>

#include "core/fs/atomic_file.hpp"
#include "core/git/handle.hpp"

namespace depsync::sync {
namespace {

// Label values escape backslash, double quote and newline (the exposition format's rule).
std::string label_value(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

class Writer {
  public:
    explicit Writer(const std::string& node) : m_labels("{node=\"" + label_value(node) + "\"}") {}
    template <typename T>
    void gauge(const char* name, const char* help, T value) {
        m_out << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n"
              << name << m_labels << " " << value << "\n";
    }
    // An info metric: the value 1, the facts in labels.
    void info(const char* name, const char* help, const std::string& labels) {
        m_out << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n"
              << name << m_labels.substr(0, m_labels.size() - 1) << "," << labels << "} 1\n";
    }
    std::string str() const { return m_out.str(); }

  private:
    std::string m_labels;
    std::ostringstream m_out;
};

}  // namespace

NodeMetrics metrics_of(const NodeStatus& s) {
    NodeMetrics m;
    m.node = s.node;
    m.release = s.release ? s.release->number : 0;
    if (s.release) m.commit = git::to_hex(s.release->commit);
    m.last_success = s.run.last_success;
    m.last_duration = s.run.last_duration;
    m.drift_files = s.drift.value_or(0);
    m.releases_behind = s.releases_behind.value_or(0);
    m.consecutive_failures = s.run.consecutive_failures;
    m.pinned = s.pinned;
    m.held = s.held;
    m.malformed_archives = s.run.malformed_archives.size();
    return m;
}

std::string format_metrics(const NodeMetrics& m) {
    Writer w(m.node);
    w.gauge("depsync_release", "Release number this node runs (0: none yet).", m.release);
    if (!m.commit.empty())
        w.info("depsync_release_info", "The release this node runs: its number and commit.",
               "release=\"" + std::to_string(m.release) + "\",commit=\"" + m.commit + "\"");
    w.gauge("depsync_last_success_timestamp_seconds",
            "Unix time of the last successful pull or publish (0: never).", m.last_success);
    w.gauge("depsync_last_run_duration_seconds", "Duration of the last pull or publish.", m.last_duration);
    w.gauge("depsync_drift_files", "Paths that differ locally from the release this node runs.",
            m.drift_files);
    w.gauge("depsync_releases_behind", "Releases between the newest fetched one and the one this node runs.",
            m.releases_behind);
    w.gauge("depsync_consecutive_failures", "Failed runs since the last success.", m.consecutive_failures);
    w.gauge("depsync_pinned", "1 when the node is pinned to its release.", m.pinned ? 1 : 0);
    w.gauge("depsync_held", "1 when a failed on_change holds the node at its release.", m.held ? 1 : 0);
    w.gauge("depsync_malformed_archives",
            "Archives in the primary's directory whose zip structure is incomplete, published as they are.",
            m.malformed_archives);
    return w.str();
}

void write_metrics(const Settings& settings) {
    if (settings.metrics_file.empty()) return;
    try {
        fs::write_file_atomically(settings.metrics_file, format_metrics(metrics_of(read_status(settings))),
                                  0644, fs::Fsync::no);
    } catch (const std::exception& e) {
        spdlog::warn("cannot write the metrics file {}: {}", settings.metrics_file.string(), e.what());
    }
}

}  // namespace depsync::sync
