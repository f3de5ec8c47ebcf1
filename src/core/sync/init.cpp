#include "core/sync/init.hpp"

#include <sys/stat.h>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/git/repository.hpp"
#include "core/sync/release.hpp"

namespace depsync::sync {
namespace {

bool is_dir(const std::filesystem::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

void ensure_dir(const std::filesystem::path& p, unsigned mode, const std::string& what,
                std::vector<std::string>& report) {
    if (is_dir(p)) {
        report.push_back(what + " " + p.string() + " exists");
        return;
    }
    // Folders above it are made traversable (0755): a private state folder below /var/lib/depsync must still
    // be reachable by the account the units run as.
    if (p.has_parent_path()) fs::create_directories(p.parent_path(), 0755);
    fs::create_directories(p, mode);
    ::chmod(p.c_str(), static_cast<mode_t>(mode));
    report.push_back("created " + what + " " + p.string());
}

// Repository settings that make git's own upload-pack serve archives quickly when peers fetch over ssh:
// no delta search or recompression of data that does not shrink.
void tune_repository(git_repository* repo) {
    git::set_config(repo, {{"pack.window", "0"},
                           {"pack.compression", "0"},
                           {"core.compression", "0"},
                           {"core.bigFileThreshold", "1m"},
                           {"gc.auto", "0"}});
}

}  // namespace

std::vector<std::string> init_node(const Settings& settings) {
    std::vector<std::string> report;
    for (const Root& root : roots_of(settings)) {
        if (root.dir.empty()) throw Error("init needs --dir (the deployment directory)", ExitCode::usage);
        if (!root.dir.is_absolute()) throw Error("--dir must be an absolute path", ExitCode::usage);
        ensure_dir(root.dir, 0755, root.name.empty() ? "deployment directory" : "root " + root.name, report);
    }
    ensure_dir(settings.state, 0700, "state folder", report);
    if (settings.role == Role::primary) {
        if (git::open_repository(settings.repo)) {
            report.push_back("repository " + settings.repo.string() + " exists");
        } else {
            git::RepositoryPtr repo = git::init_bare(settings.repo, release_branch);
            tune_repository(repo.get());
            report.push_back("created repository " + settings.repo.string());
        }
    }
    return report;
}

}  // namespace depsync::sync
