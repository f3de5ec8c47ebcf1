#include "core/sync/node_state.hpp"

#include <algorithm>
#include <ctime>

#include "core/error.hpp"
#include "core/fs/path_safety.hpp"
#include "core/printable.hpp"
#include "core/sync/state_record.hpp"

namespace depsync::sync {
namespace {

// Held-back paths are written as one field, separated by a tab: a release path never holds a control
// character (fs::name_defect), so no path can split or add one.
constexpr char held_separator = '\t';

std::string joined_paths(const std::vector<std::string>& paths) {
    std::string out;
    for (const std::string& p : paths) out += (out.empty() ? "" : std::string(1, held_separator)) + p;
    return out;
}

std::vector<std::string> split_paths(const std::string& text) {
    std::vector<std::string> paths;
    for (std::size_t start = 0; start <= text.size();) {
        std::size_t end = std::min(text.find(held_separator, start), text.size());
        paths.push_back(text.substr(start, end - start));
        if (fs::relative_path_defect(paths.back()))
            throw RecordDamaged("'held_back' names a path no release can hold");
        start = end + 1;
    }
    return paths;
}

}  // namespace

std::optional<DeployedRecord> read_record(const std::filesystem::path& file) {
    // A wrong record would make an apply start from the wrong release: a damaged one stops the run.
    try {
        std::optional<StateRecord> fields = read_state_record(file);
        if (!fields) return std::nullopt;
        std::optional<git_oid> commit = fields->get_oid("commit");
        if (!commit) throw RecordDamaged("it names no commit");
        DeployedRecord r;
        r.commit = *commit;
        r.release = fields->get_unsigned("release").value_or(0);
        r.applied_at = fields->get_signed("applied_at").value_or(0);
        r.reason = fields->get("reason").value_or("");
        if (std::optional<std::string> held = fields->get("held_back")) r.held_back = split_paths(*held);
        r.pin_reason = fields->get("pin_reason").value_or("");
        return r;
    } catch (const RecordDamaged& e) {
        throw Error("state file " + file.string() + " is damaged (" + e.what() + "); remove it to redeploy");
    }
}

void check_pin_reason(const std::string& text) {
    if (text.size() > max_pin_reason)
        throw Error("pin reason is " + std::to_string(text.size()) + " bytes long; at most " +
                        std::to_string(max_pin_reason) +
                        " are taken (write the details elsewhere and name them)",
                    ExitCode::usage);
    // printable() leaves plain text (ASCII and valid UTF-8) alone and escapes everything a terminal acts
    // on, and a backslash; what it would change, but for backslashes, is refused.
    std::string plain;
    for (char c : text)
        if (c != '\\') plain += c;
    if (printable(plain) != plain)
        throw Error("pin reason '" + printable(text) +
                        "' has control characters or bytes that are not UTF-8 (write it as one line of text)",
                    ExitCode::usage);
}

DeployedRecord record_now(const git_oid& commit, std::uint64_t number) {
    DeployedRecord r;
    r.commit = commit;
    r.release = number;
    r.applied_at = std::time(nullptr);
    return r;
}

void write_record(const std::filesystem::path& file, const DeployedRecord& r) {
    StateRecord fields;
    fields.set("commit", r.commit).set("release", r.release).set("applied_at", r.applied_at);
    if (!r.reason.empty()) fields.set("reason", r.reason);
    if (!r.held_back.empty()) fields.set("held_back", joined_paths(r.held_back));
    if (!r.pin_reason.empty()) fields.set("pin_reason", r.pin_reason);
    write_state_record(file, fields);
}

}  // namespace depsync::sync
