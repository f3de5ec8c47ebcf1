// doctor's check of the systemd units: the template units (depsync-pull@, depsync-watch@, depsync-gc@) of
// this node's instance, NAME for /etc/depsync/NAME.conf, installed and enabled, and running as the account
// that owns the state folder.

#include <sys/stat.h>

#include "core/fs/child_process.hpp"
#include "core/sync/doctor.hpp"

namespace depsync::sync {
namespace {

namespace stdfs = std::filesystem;

DoctorCheck skipped(const std::string& detail) {
    return {"units", CheckState::skipped, detail, ""};
}

// What `systemctl ARGS...` printed on its first line, "" when it could not be run.
std::string systemctl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"systemctl"};
    argv.insert(argv.end(), args.begin(), args.end());
    fs::ChildResult run = fs::run_child({argv, {}, fs::Secrets::drop}, 10, 64 * 1024);
    std::string out = run.out.substr(0, run.out.find('\n'));
    return run.error.empty() ? out : "";
}

bool template_installed(const std::string& template_name, const std::vector<stdfs::path>& dirs) {
    std::error_code ec;
    for (const stdfs::path& dir : dirs)
        if (stdfs::exists(dir / template_name, ec)) return true;
    return false;
}

// The account a service runs as: its User= (root without one).
std::string service_user(const std::string& service) {
    std::string line = systemctl({"show", "--property=User", "--value", service});
    return line.empty() ? "root" : line;
}

DoctorCheck check_unit(const std::string& unit, const std::string& service, const std::string& state_owner) {
    std::string enabled = systemctl({"is-enabled", unit});
    if (enabled != "enabled")
        return {"units", CheckState::problem, unit + " is " + (enabled.empty() ? "unknown" : enabled),
                "systemctl enable --now " + unit};
    std::string user = service_user(service);
    if (user != state_owner)
        return {"units", CheckState::problem,
                service + " runs as " + user + ", but the state folder belongs to " + state_owner,
                "systemctl edit " + service + " and set User=" + state_owner +
                    " (the drop-in 'depsync init' "
                    "prints as root)"};
    return {"units", CheckState::ok, unit + " is enabled; " + service + " runs as " + user, ""};
}

}  // namespace

std::vector<DoctorCheck> check_units(const Settings& settings, const DoctorInput& input) {
    std::error_code ec;
    if (!stdfs::is_directory(input.systemd_run, ec)) return {skipped("systemd is not running here")};
    const stdfs::path& config = input.config_file;
    if (config.parent_path() != "/etc/depsync" || config.extension() != ".conf")
        return {skipped("the units read /etc/depsync/NAME.conf; " + config.string() + " is not one")};
    const std::string instance = config.stem().string();
    // The unit that starts the runs, and the service that does them.
    std::vector<std::pair<std::string, std::string>> units;
    if (settings.role == Role::peer) {
        units = {{"depsync-pull@.timer", "depsync-pull@"}};
    } else {
        units = {{"depsync-watch@.service", "depsync-watch@"}, {"depsync-gc@.timer", "depsync-gc@"}};
    }
    struct stat st {};
    std::string state_owner = ::stat(settings.state.c_str(), &st) == 0 ? account_name(st.st_uid) : "root";
    std::vector<DoctorCheck> checks;
    for (const auto& [template_name, prefix] : units) {
        if (!template_installed(template_name, input.unit_dirs))
            return {skipped(template_name + " is not installed: runs by cron or by hand are not checked")};
        std::string suffix = template_name.substr(template_name.rfind('.'));
        checks.push_back(check_unit(prefix + instance + suffix, prefix + instance + ".service", state_owner));
    }
    return checks;
}

}  // namespace depsync::sync
