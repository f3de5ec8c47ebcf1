#pragma once
// doctor: a node checked the way a careful operator would, changing nothing: the config file's mode and
// owner, who owns the deployment directories, the state folder and the repository versus who runs, the
// remote (or the primary's repository and git-upload-pack), the metrics and log paths, free space against
// the release size, the lock, and the systemd units. Every check is a value; nothing is printed or repaired.

#include <filesystem>
#include <string>
#include <vector>

#include "core/sync/settings.hpp"

namespace depsync::sync {

enum class CheckState { ok, problem, skipped };

struct DoctorCheck {
    std::string name;  // config, directory, state, repository, remote, upload-pack, metrics, log, space,
                       // lock, units
    CheckState state = CheckState::ok;
    std::string detail;  // what was found, one line
    std::string fix;     // a problem's fix, one line; empty otherwise
};

struct DoctorInput {
    std::filesystem::path config_file;  // the file the settings were read from (it may not exist)
    std::filesystem::path log_file;     // the configured log_file; empty: none
    // Where systemd's state and unit files are looked for (tests point them elsewhere).
    std::filesystem::path systemd_run = "/run/systemd/system";
    std::vector<std::filesystem::path> unit_dirs = {"/etc/systemd/system", "/lib/systemd/system",
                                                    "/usr/lib/systemd/system"};
};

// Runs every check in the order above. Throws nothing for a problem of the node: each becomes a check.
std::vector<DoctorCheck> run_doctor(const Settings& settings, const DoctorInput& input);

// No check found a problem.
bool healthy(const std::vector<DoctorCheck>& checks);

const char* check_state_name(CheckState state);  // "ok", "problem", "skipped"

// The checks of the files and accounts (doctor_files.cpp).
DoctorCheck check_config_file(const std::filesystem::path& config_file);
std::vector<DoctorCheck> check_owners(const Settings& settings, const std::filesystem::path& config_file);
DoctorCheck check_writable(const std::string& name, const std::filesystem::path& file, const char* key);
DoctorCheck check_space(const Settings& settings);
// The systemd units of this node's instance (doctor_units.cpp).
std::vector<DoctorCheck> check_units(const Settings& settings, const DoctorInput& input);

// "wso2mi", or the number when the account has no name.
std::string account_name(unsigned uid);

}  // namespace depsync::sync
