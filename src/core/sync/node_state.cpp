#include "core/sync/node_state.hpp"

#include <ctime>

#include "core/error.hpp"
#include "core/sync/state_record.hpp"

namespace depsync::sync {

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
        return r;
    } catch (const RecordDamaged& e) {
        throw Error("state file " + file.string() + " is damaged (" + e.what() + "); remove it to redeploy");
    }
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
    write_state_record(file, fields);
}

}  // namespace depsync::sync
