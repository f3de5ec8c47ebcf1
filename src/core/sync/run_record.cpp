#include "core/sync/run_record.hpp"

#include <ctime>

#include <spdlog/spdlog.h>

#include "core/fs/atomic_file.hpp"
#include "core/sync/metrics.hpp"
#include "core/sync/state_record.hpp"

namespace depsync::sync {
namespace {

// "path<TAB>defect<TAB>path<TAB>defect": a published path never holds a control character, and a defect is
// depsync's own text.
std::string join_archives(const std::vector<std::pair<std::string, std::string>>& archives) {
    std::string out;
    for (const auto& [path, defect] : archives) out += (out.empty() ? "" : "\t") + path + "\t" + defect;
    return out;
}

std::vector<std::pair<std::string, std::string>> split_archives(const std::string& text) {
    std::vector<std::string> parts;
    for (std::size_t start = 0; !text.empty();) {
        std::size_t tab = text.find('\t', start);
        parts.push_back(text.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
        if (tab == std::string::npos) break;
        start = tab + 1;
    }
    std::vector<std::pair<std::string, std::string>> archives;
    for (std::size_t i = 0; i + 1 < parts.size(); i += 2) archives.emplace_back(parts[i], parts[i + 1]);
    return archives;
}

void write(const std::filesystem::path& state, const RunRecord& r) {
    StateRecord fields;
    fields.set("last_attempt", r.last_attempt)
        .set("last_success", r.last_success)
        .set("last_duration", r.last_duration)
        .set("consecutive_failures", r.consecutive_failures)
        .set("last_error", r.last_error)
        .set("on_change_error", r.on_change_error)
        .set("malformed_archives", static_cast<std::uint64_t>(r.malformed_archives.size()))
        .set("malformed_archive_list", join_archives(r.malformed_archives));
    write_state_record(StatePaths(state).last_run(), fields, fs::Fsync::no);
}

}  // namespace

RunRecord read_run_record(const std::filesystem::path& state) {
    // Only a report: a record that cannot be read, or is damaged, starts afresh.
    RunRecord r;
    try {
        std::optional<StateRecord> fields = read_state_record(StatePaths(state).last_run());
        if (!fields) return r;
        r.last_attempt = fields->get_signed("last_attempt").value_or(0);
        r.last_success = fields->get_signed("last_success").value_or(0);
        r.last_duration = fields->get_real("last_duration").value_or(0);
        r.consecutive_failures = fields->get_unsigned("consecutive_failures").value_or(0);
        r.last_error = fields->get("last_error").value_or("");
        r.on_change_error = fields->get("on_change_error").value_or("");
        r.malformed_archives = split_archives(fields->get("malformed_archive_list").value_or(""));
    } catch (const std::exception&) {
        return RunRecord{};
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

void record_malformed_archives(const std::filesystem::path& state,
                               const std::vector<std::pair<std::string, std::string>>& archives) {
    RunRecord r = read_run_record(state);
    if (r.malformed_archives == archives) return;
    r.malformed_archives = archives;
    write(state, r);
}

}  // namespace depsync::sync
