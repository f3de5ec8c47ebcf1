#include "cli/service_account.hpp"

#include <pwd.h>
#include <sys/stat.h>

#include "core/fs/owner.hpp"

namespace depsync::cli {
namespace {

namespace stdfs = std::filesystem;

// The user name the units run as: `owner`'s user when configured, else the deployment directory's owner.
std::string account_name(const sync::Settings& settings) {
    uid_t uid = 0;
    if (!settings.owner.empty()) {
        uid = fs::parse_owner(settings.owner).uid;
    } else {
        struct stat st {};
        const stdfs::path dir = sync::roots_of(settings).front().dir;
        if (::stat(dir.c_str(), &st) != 0) return "root";
        uid = st.st_uid;
    }
    const passwd* pw = ::getpwuid(uid);
    return pw != nullptr ? pw->pw_name : std::to_string(uid);
}

bool below(const stdfs::path& path, const stdfs::path& folder) {
    const std::string p = path.lexically_normal().string();
    const std::string f = folder.lexically_normal().string();
    return p == f || p.rfind(f + "/", 0) == 0;
}

// The folders the unit must be able to write beyond its StateDirectory and LogsDirectory.
std::vector<std::string> writable_paths(const sync::Settings& settings, const std::string& instance,
                                        const std::string& log_file) {
    std::vector<std::string> paths;
    if (settings.role == sync::Role::peer) {
        for (const sync::Root& root : sync::roots_of(settings)) paths.push_back(root.dir.string());
    } else {
        paths.push_back(settings.repo.string());
    }
    if (!below(settings.state, "/var/lib/depsync/" + instance)) paths.push_back(settings.state.string());
    if (!log_file.empty() && !below(log_file, "/var/log/depsync/" + instance))
        paths.push_back(stdfs::path(log_file).parent_path().string());
    if (!settings.metrics_file.empty()) paths.push_back(settings.metrics_file.parent_path().string());
    return paths;
}

}  // namespace

std::vector<std::string> service_account_lines(const sync::Settings& settings, const std::string& config_file,
                                               const std::string& log_file) {
    const std::string account = account_name(settings);
    const stdfs::path config = stdfs::absolute(config_file).lexically_normal();
    const std::string instance = config.stem().string();
    const bool peer = settings.role == sync::Role::peer;
    std::string owned = config.string() + " " + settings.state.string();
    if (!peer) owned += " " + settings.repo.string();
    std::string rw;
    for (const std::string& p : writable_paths(settings, instance, log_file))
        rw += (rw.empty() ? "" : " ") + p;

    std::vector<std::string> lines;
    lines.push_back("depsync runs as " + account + ", who owns " +
                    sync::roots_of(settings).front().dir.string() + " (what it writes stays " + account +
                    "'s):");
    lines.push_back("  chown -R " + account + ": " + owned);
    const std::string units =
        peer ? "unit depsync-pull@" + instance + ".service needs"
             : "units depsync-watch@" + instance + ".service and depsync-gc@" + instance + ".service need";
    lines.push_back("  the " + units + " this drop-in (systemctl edit UNIT):");
    lines.push_back("    [Service]");
    lines.push_back("    User=" + account);
    lines.push_back("    ReadWritePaths=" + rw);
    lines.push_back(peer ? "  systemctl enable --now depsync-pull@" + instance + ".timer"
                         : "  systemctl enable --now depsync-watch@" + instance + ".service depsync-gc@" +
                               instance + ".timer");
    if (config.parent_path() != "/etc/depsync" || config.extension() != ".conf")
        lines.push_back("  (the units read /etc/depsync/" + instance + ".conf: keep the config there)");
    lines.push_back("  by hand: sudo -u " + account + " depsync -c " + config.string() + " status");
    return lines;
}

}  // namespace depsync::cli
