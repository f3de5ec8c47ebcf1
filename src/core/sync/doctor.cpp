#include "core/sync/doctor.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <sstream>

#include "core/error.hpp"
#include "core/fs/lock.hpp"
#include "core/git/remote_url.hpp"
#include "core/sync/node_repo.hpp"
#include "core/sync/release.hpp"
#include "core/sync/transfer.hpp"

namespace depsync::sync {
namespace {

namespace stdfs = std::filesystem;

bool has(const std::string& text, const char* part) {
    return text.find(part) != std::string::npos;
}

// The fix for a failed contact with the remote, from what the failure said.
std::string remote_fix(const std::string& error, const Settings& settings) {
    std::string known_hosts =
        settings.known_hosts.empty() ? "~/.ssh/known_hosts" : settings.known_hosts.string();
    if (has(error, "dubious ownership") || has(error, "safe.directory"))
        return "on the primary, let the fetch account trust the repository: as that account, git config "
               "--global --add safe.directory " +
               git::parse_remote_url(settings.remote).path + " (see the read-only account recipe)";
    if (has(error, "HOST KEY CHANGED") || has(error, "REMOTE HOST IDENTIFICATION HAS CHANGED"))
        return "ask the primary's administrator whether its host key was replaced; only then replace its "
               "entry in " +
               known_hosts;
    if (has(error, "unknown ssh host") || has(error, "Host key verification failed"))
        return "compare the fingerprint with the primary's own (ssh-keygen -lf on its host key), then add "
               "the "
               "line shown to " +
               known_hosts;
    if (has(error, "authenticat") || has(error, "Permission denied") || has(error, "publickey") ||
        has(error, "credentials") || has(error, "401"))
        return "give the primary's fetch account this node's public key" +
               (settings.ssh_key.empty() ? std::string() : " (" + settings.ssh_key.string() + ".pub)") +
               ", or for https correct the credentials";
    if (has(error, "repository") || has(error, "not found") || has(error, "404"))
        return "correct 'remote': it names the primary's release repository (the primary's 'repo')";
    return "check that the primary is up and reachable from here on the address and port 'remote' names";
}

DoctorCheck check_remote(const Settings& settings) {
    const std::string shown = git::redact_url(settings.remote);
    struct stat st {};
    // A contact writes in the state folder (its private HOME): never as another account than its owner.
    if (::stat(settings.state.c_str(), &st) != 0 || st.st_uid != ::geteuid())
        return {"remote", CheckState::skipped,
                "remote " + shown +
                    " not contacted: this runs as another account than the state folder's "
                    "owner (see the state line)",
                ""};
    try {
        return {"remote", CheckState::ok, check_upstream(settings), ""};
    } catch (const Error& e) {
        return {"remote", CheckState::problem, std::string("cannot reach remote ") + shown + ": " + e.what(),
                remote_fix(e.what(), settings)};
    }
}

DoctorCheck check_repository(const Settings& settings) {
    NodeRepo node = open_node_repo(settings);
    if (!node.tip)
        return {"releases", CheckState::ok, settings.repo.string() + " opens; nothing published yet", ""};
    Release r = describe_release(node.repo.get(), *node.tip);
    return {"releases", CheckState::ok,
            settings.repo.string() + " opens; its branch main is at r" + std::to_string(r.number) + " (" +
                git::short_hex(*node.tip) + ")",
            ""};
}

// Peers fetching over ssh run git-upload-pack on the primary (git http-backend for https).
DoctorCheck check_upload_pack() {
    const char* env = std::getenv("PATH");
    std::string path = env && *env ? env : "/usr/bin:/bin";
    std::istringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');) {
        stdfs::path candidate = stdfs::path(dir.empty() ? "." : dir) / "git-upload-pack";
        if (::access(candidate.c_str(), X_OK) == 0)
            return {"upload-pack", CheckState::ok, candidate.string() + " serves peers", ""};
    }
    return {"upload-pack", CheckState::problem,
            "git-upload-pack is not in PATH (" + path + "): peers cannot fetch over ssh from this primary",
            "install git (apt-get install git)"};
}

DoctorCheck check_lock(const Settings& settings) {
    const stdfs::path lock = StatePaths(settings.state).lock();
    std::optional<std::string> holder = fs::lock_holder(lock);
    if (!holder) return {"lock", CheckState::ok, lock.string() + " is free", ""};
    return {"lock", CheckState::problem,
            "another depsync run (pid " + *holder + ") holds the lock " + lock.string(),
            "wait for it to end; if it does not, see what it is doing (ps -fp " + *holder + ")"};
}

// A check that throws (an unreadable repository, a failed stat) is a problem of its own, not the end.
void run_check(std::vector<DoctorCheck>& checks, const std::string& name,
               const std::function<std::vector<DoctorCheck>()>& check) {
    try {
        for (DoctorCheck& c : check()) checks.push_back(std::move(c));
    } catch (const std::exception& e) {
        checks.push_back({name, CheckState::problem, e.what(), "fix what the message says"});
    }
}

}  // namespace

std::vector<DoctorCheck> run_doctor(const Settings& settings, const DoctorInput& input) {
    std::vector<DoctorCheck> checks;
    using List = std::vector<DoctorCheck>;
    run_check(checks, "config", [&] { return List{check_config_file(input.config_file)}; });
    run_check(checks, "owner", [&] { return check_owners(settings, input.config_file); });
    if (settings.role == Role::peer) {
        run_check(checks, "remote", [&] { return List{check_remote(settings)}; });
    } else {
        run_check(checks, "releases", [&] { return List{check_repository(settings)}; });
        run_check(checks, "upload-pack", [&] { return List{check_upload_pack()}; });
    }
    run_check(checks, "metrics",
              [&] { return List{check_writable("metrics", settings.metrics_file, "metrics_file")}; });
    run_check(checks, "log", [&] { return List{check_writable("log", input.log_file, "log_file")}; });
    run_check(checks, "space", [&] { return List{check_space(settings)}; });
    run_check(checks, "lock", [&] { return List{check_lock(settings)}; });
    run_check(checks, "units", [&] { return check_units(settings, input); });
    return checks;
}

bool healthy(const std::vector<DoctorCheck>& checks) {
    for (const DoctorCheck& c : checks)
        if (c.state == CheckState::problem) return false;
    return true;
}

const char* check_state_name(CheckState state) {
    switch (state) {
        case CheckState::ok:
            return "ok";
        case CheckState::problem:
            return "problem";
        case CheckState::skipped:
            return "skipped";
    }
    return "";
}

}  // namespace depsync::sync
