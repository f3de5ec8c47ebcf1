#include "core/sync/node_state.hpp"

#include <ctime>
#include <sstream>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/git/handle.hpp"

namespace depsync::sync {

std::optional<DeployedRecord> read_record(const std::filesystem::path& file) {
    auto text = fs::read_file(file);
    if (!text) return std::nullopt;
    DeployedRecord r;
    bool have_commit = false;
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
        auto eq = line.find('=');
        if (eq == std::string::npos) continue;
        std::string key = line.substr(0, eq), value = line.substr(eq + 1);
        try {
            if (key == "commit") {
                r.commit = git::oid_from_hex(value);
                have_commit = true;
            } else if (key == "release") {
                r.release = std::stoull(value);
            } else if (key == "applied_at") {
                r.applied_at = std::stoll(value);
            } else if (key == "reason") {
                r.reason = value;
            }
        } catch (const std::exception&) {
            throw Error("state file " + file.string() + " is damaged (line '" + line +
                        "'); remove it to redeploy");
        }
    }
    if (!have_commit) throw Error("state file " + file.string() + " is damaged; remove it to redeploy");
    return r;
}

DeployedRecord record_now(const git_oid& commit, std::uint64_t number) {
    DeployedRecord r;
    r.commit = commit;
    r.release = number;
    r.applied_at = std::time(nullptr);
    return r;
}

void write_record(const std::filesystem::path& file, const DeployedRecord& r) {
    fs::write_file_atomically(file,
                              "commit=" + git::to_hex(r.commit) + "\nrelease=" + std::to_string(r.release) +
                                  "\napplied_at=" + std::to_string(r.applied_at) + "\n" +
                                  (r.reason.empty() ? std::string() : "reason=" + r.reason + "\n"),
                              0600);
}

}  // namespace depsync::sync
