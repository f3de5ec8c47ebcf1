#pragma once
// What `depsync init` says, when run as root, about the account the systemd units run as: the account that
// owns the deployment directory (or `owner`), so that what depsync writes stays that account's, and the
// drop-in that names it with the paths the unit may write.

#include <string>
#include <vector>

#include "core/sync/settings.hpp"

namespace depsync::cli {

// The lines init prints after the node is set up: the account, the chown of the config file, the state
// folder and (primary) the repository, the drop-in of each unit the role uses, how to enable them and how
// to run depsync by hand. `log_file` is the configured log file (empty: none).
std::vector<std::string> service_account_lines(const sync::Settings& settings, const std::string& config_file,
                                               const std::string& log_file);

}  // namespace depsync::cli
