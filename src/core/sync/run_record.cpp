#include "core/sync/run_record.hpp"

#include <ctime>
#include <sstream>

#include <spdlog/spdlog.h>

#include "core/fs/atomic_file.hpp"
#include "core/sync/metrics.hpp"

namespace depsync::sync {
namespace {

std::filesystem::path record_file(const std::filesystem::path& state) {
    return state / "last-run";
}

// Values are single lines: newlines in error messages are flattened.
std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return s;
}

void write(const std::filesystem::path& state, const RunRecord& r) {
    std::ostringstream out;
    out << "last_attempt=" << r.last_attempt << "\nlast_success=" << r.last_success
        << "\nlast_duration=" << r.last_duration << "\nconsecutive_failures=" << r.consecutive_failures
        << "\nlast_error=" << one_line(r.last_error) << "\non_change_error=" << one_line(r.on_change_error)
        << "\n";
    fs::write_file_atomically(record_file(state), out.str(), 0600, fs::Fsync::no);
}

}  // namespace

RunRecord read_run_record(const std::filesystem::path& state) {
    RunRecord r;
    std::optional<std::string> text;
    try {
        text = fs::read_file(record_file(state));
    } catch (...) {
        return r;
    }
    if (!text) return r;
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        std::string k = line.substr(0, eq), v = line.substr(eq + 1);
        try {
            if (k == "last_attempt") r.last_attempt = std::stoll(v);
            if (k == "last_success") r.last_success = std::stoll(v);
            if (k == "last_duration") r.last_duration = std::stod(v);
            if (k == "consecutive_failures") r.consecutive_failures = std::stoull(v);
        } catch (...) {
        }
        if (k == "last_error") r.last_error = v;
        if (k == "on_change_error") r.on_change_error = v;
    }
    return r;
}

void record_run(const std::filesystem::path& state, double duration, const std::string& error) {
    RunRecord r = read_run_record(state);
    r.last_attempt = std::time(nullptr);
    r.last_duration = duration;
    if (error.empty()) {
        r.last_success = r.last_attempt;
        r.consecutive_failures = 0;
        r.last_error.clear();
    } else {
        ++r.consecutive_failures;
        r.last_error = error;
    }
    write(state, r);
}

void record_failure(const Settings& settings, double duration, const std::string& error) noexcept {
    try {
        record_run(settings.state, duration, error);
        write_metrics(settings);
    } catch (const std::exception& e) {
        spdlog::warn("cannot record this failure: {}", e.what());
    }
}

void record_on_change(const std::filesystem::path& state, const std::string& error) {
    RunRecord r = read_run_record(state);
    r.on_change_error = error;
    write(state, r);
}

}  // namespace depsync::sync
