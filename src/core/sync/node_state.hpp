#pragma once
// The small records a node keeps in its state folder: which release is deployed, and the journal of an apply
// in progress (written before the first file is touched, removed after the deployed record is updated).
// The deployed record also names the paths held back: files the release changed but a kept local change
// (local_changes = keep) still overrides, recorded when the release is applied and cleared by repair.

#include <git2.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace depsync::sync {

struct DeployedRecord {
    git_oid commit{};
    std::uint64_t release = 0;
    std::int64_t applied_at = 0;
    std::string reason;  // pinned record: why the node is held (empty: pinned by the operator)
    // deployed record: release paths whose local version was kept over the release's change, sorted
    std::vector<std::string> held_back;
};

// A record of `commit` (release `number`) stamped with the current time.
DeployedRecord record_now(const git_oid& commit, std::uint64_t number);

std::optional<DeployedRecord> read_record(const std::filesystem::path& file);
void write_record(const std::filesystem::path& file, const DeployedRecord& record);

}  // namespace depsync::sync
