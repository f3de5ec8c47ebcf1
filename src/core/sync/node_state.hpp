#pragma once
// The small records a node keeps in its state folder: which release is deployed, the journal of an apply
// in progress (written before the first file is touched, removed after the deployed record is updated), and
// the release a peer is pinned at (applied_at: when the pin was set).
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
    // Pinned record: why a failed on_change holds the node (empty: an operator's pin), and the operator's
    // reason given to pin --reason (checked by check_pin_reason).
    std::string reason;
    std::string pin_reason;
    // deployed record: release paths whose local version was kept over the release's change, sorted
    std::vector<std::string> held_back;
};

// The longest reason `pin --reason` takes, in bytes.
constexpr std::size_t max_pin_reason = 200;

// Throws Error(usage) when `text` cannot be an operator's pin reason: longer than max_pin_reason, or with a
// control character (C0, DEL, C1) or bytes that are not UTF-8; such a reason would be printed escaped.
void check_pin_reason(const std::string& text);

// A record of `commit` (release `number`) stamped with the current time.
DeployedRecord record_now(const git_oid& commit, std::uint64_t number);

std::optional<DeployedRecord> read_record(const std::filesystem::path& file);
void write_record(const std::filesystem::path& file, const DeployedRecord& record);

}  // namespace depsync::sync
