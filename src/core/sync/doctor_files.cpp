// doctor's checks of files and accounts: the config file, who owns what versus who runs, the paths a run
// writes, free space.

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <map>

#include "core/error.hpp"
#include "core/fs/owner.hpp"
#include "core/git/repository.hpp"
#include "core/sync/doctor.hpp"
#include "core/sync/node_repo.hpp"
#include "core/sync/release.hpp"
#include "core/units.hpp"

namespace depsync::sync {
namespace {

namespace stdfs = std::filesystem;

DoctorCheck ok(const std::string& name, const std::string& detail) {
    return {name, CheckState::ok, detail, ""};
}

DoctorCheck problem(const std::string& name, const std::string& detail, const std::string& fix) {
    return {name, CheckState::problem, detail, fix};
}

std::string octal_mode(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

// Whether this process (its effective ids, as a run uses them) may do `how` (W_OK, X_OK) with `path`.
bool may(const stdfs::path& path, int how) {
    return ::faccessat(AT_FDCWD, path.c_str(), how, AT_EACCESS) == 0;
}

std::string runner() {
    return account_name(::geteuid());
}

// "sudo -u wso2mi depsync -c /etc/depsync/mi.conf doctor"
std::string as_account(unsigned uid, const stdfs::path& config) {
    return "sudo -u " + account_name(uid) + " depsync" + (config.empty() ? "" : " -c " + config.string()) +
           " doctor";
}

// What a walk below a folder found: the entries another account owns than the one expected, and the bytes
// of its regular files.
struct Walk {
    std::uint64_t foreign = 0;
    std::string first_foreign;  // relative path
    unsigned first_owner = 0;
    std::uint64_t bytes = 0;
};

// Every entry below `root`, links not followed; what cannot be read is passed over.
Walk walk_owners(const stdfs::path& root, unsigned expected) {
    Walk walk;
    std::error_code ec;
    auto options = stdfs::directory_options::skip_permission_denied;
    for (stdfs::recursive_directory_iterator it(root, options, ec), end; !ec && it != end; it.increment(ec)) {
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0) continue;
        if (S_ISREG(st.st_mode)) walk.bytes += static_cast<std::uint64_t>(st.st_size);
        if (st.st_uid == expected) continue;
        if (walk.foreign++ == 0) {
            walk.first_foreign = it->path().lexically_relative(root).string();
            walk.first_owner = st.st_uid;
        }
    }
    return walk;
}

// Entries below `place` that `owner` does not own, as a problem; nullopt when there are none.
std::optional<DoctorCheck> foreign_entries(const std::string& name, const stdfs::path& place, unsigned owner,
                                           const std::string& why) {
    Walk walk = walk_owners(place, owner);
    if (walk.foreign == 0) return std::nullopt;
    return problem(name,
                   std::to_string(walk.foreign) + " entries below " + place.string() +
                       " belong to another account than " + account_name(owner) + " (first: " +
                       walk.first_foreign + ", owned by " + account_name(walk.first_owner) + "): " + why,
                   "chown -R " + account_name(owner) + " " + place.string());
}

// The state folder or the primary's repository: written by every run, so owned by the account that runs.
DoctorCheck check_written_place(const std::string& name, const stdfs::path& place,
                                const stdfs::path& config) {
    struct stat st {};
    if (::lstat(place.c_str(), &st) != 0)
        return problem(name, place.string() + " does not exist", "run 'depsync init' for this node");
    const unsigned uid = ::geteuid(), owner = st.st_uid;
    if (uid == 0 && owner != 0)
        return problem(name,
                       place.string() + " belongs to " + account_name(owner) +
                           ", but this runs as root: what a root run writes there becomes root's, and " +
                           account_name(owner) + "'s runs (the units) then fail",
                       "run depsync as " + account_name(owner) + ": " + as_account(owner, config));
    if (owner != uid)
        return problem(name,
                       place.string() + " belongs to " + account_name(owner) + ", not to " + runner() +
                           ", who runs this",
                       "run depsync as " + account_name(owner) + " (" + as_account(owner, config) +
                           "), the account the units run as");
    if (auto foreign = foreign_entries(
            name, place, owner,
            "an earlier run as that account? " + account_name(owner) + "'s runs cannot replace them"))
        return *foreign;
    return ok(name, place.string() + " belongs to " + account_name(owner) + ", who runs this");
}

// A deployment directory: a root run gives what it writes to the directory's owner (or `owner`); any other
// account must own it.
DoctorCheck check_directory(const Root& root, const std::string& configured_owner,
                            const stdfs::path& config) {
    const std::string name = "directory";
    struct stat st {};
    if (::lstat(root.dir.c_str(), &st) != 0)
        return problem(name, root.dir.string() + " does not exist", "create it, or correct 'dir'");
    const unsigned uid = ::geteuid();
    if (uid != 0 && st.st_uid != uid && !may(root.dir, W_OK | X_OK))
        return problem(name,
                       root.dir.string() + " belongs to " + account_name(st.st_uid) + ", and " + runner() +
                           ", who runs this, cannot write it",
                       "run depsync as " + account_name(st.st_uid) + ": " + as_account(st.st_uid, config));
    unsigned expected = configured_owner.empty() ? st.st_uid : fs::parse_owner(configured_owner).uid;
    if (auto foreign =
            foreign_entries(name, root.dir, expected, "the server's account may not be able to replace them"))
        return *foreign;
    std::string detail = root.dir.string() + " belongs to " + account_name(st.st_uid);
    if (uid == 0 && expected != 0)
        detail += "; what a root run writes there is given to " + account_name(expected);
    return ok(name, detail);
}

std::uint64_t free_bytes(const stdfs::path& path) {
    struct statvfs vfs {};
    if (::statvfs(path.c_str(), &vfs) != 0) throw_errno("statvfs " + path.string());
    return static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
}

// The bytes of the files of a peer's newest fetched release below each root (by root name).
std::map<std::string, std::uint64_t> release_bytes(const Settings& settings, std::uint64_t& number) {
    NodeRepo node = open_node_repo(settings);
    std::optional<git_oid> commit = node.tip ? node.tip : node.current;
    if (!commit) return {};
    git_repository* repo = node.repo.get();
    number = describe_release(repo, *commit).number;
    git::Listing listing = git::read_tree(repo, git::commit_tree(repo, *commit), tree_limits(settings));
    git::OdbPtr odb = git::open_odb(repo);
    std::map<std::string, std::uint64_t> bytes;
    for (const Root& root : roots_of(settings)) bytes[root.name] = 0;
    for (const auto& [path, entry] : listing) {
        if (entry.kind != git::EntryKind::file && entry.kind != git::EntryKind::executable) continue;
        std::size_t size = 0;
        git_object_t type{};
        if (git_odb_read_header(&size, &type, odb.get(), &entry.oid) != 0) continue;
        std::string root = settings.roots.empty() ? "" : path.substr(0, path.find('/'));
        if (bytes.count(root)) bytes[root] += size;
    }
    return bytes;
}

}  // namespace

std::string account_name(unsigned uid) {
    struct passwd pw {};
    struct passwd* found = nullptr;
    char buffer[4096];
    if (::getpwuid_r(uid, &pw, buffer, sizeof buffer, &found) == 0 && found) return found->pw_name;
    return std::to_string(uid);
}

DoctorCheck check_config_file(const stdfs::path& config_file) {
    struct stat st {};
    if (config_file.empty() || ::stat(config_file.c_str(), &st) != 0)
        return {"config", CheckState::skipped,
                "no config file " + config_file.string() + ": the settings come from options", ""};
    std::string found = config_file.string() + " (mode " + octal_mode(st.st_mode) + ", owner " +
                        account_name(st.st_uid) + ")";
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        return problem("config",
                       found +
                           " is writable by group or others: whoever can write it chooses what this "
                           "node deploys and the commands it runs (on_change, validate)",
                       "chmod 600 " + config_file.string());
    return ok("config", found + " reads and is valid");
}

std::vector<DoctorCheck> check_owners(const Settings& settings, const stdfs::path& config_file) {
    std::vector<DoctorCheck> checks;
    for (const Root& root : roots_of(settings))
        checks.push_back(check_directory(root, settings.owner, config_file));
    checks.push_back(check_written_place("state", settings.state, config_file));
    if (settings.role == Role::primary)
        checks.push_back(check_written_place("repository", settings.repo, config_file));
    return checks;
}

DoctorCheck check_writable(const std::string& name, const stdfs::path& file, const char* key) {
    if (file.empty()) return {name, CheckState::skipped, std::string("no ") + key + " configured", ""};
    struct stat st {};
    const stdfs::path folder = file.parent_path().empty() ? "." : file.parent_path();
    if (::lstat(file.c_str(), &st) == 0) {
        if (!S_ISREG(st.st_mode))
            return problem(name, std::string(key) + " " + file.string() + " is not a regular file",
                           std::string("point ") + key + " at a file");
        if (!may(file, W_OK))
            return problem(name, std::string(key) + " " + file.string() + " cannot be written by " + runner(),
                           "chown " + runner() + " " + file.string() + ", or run as its owner");
    }
    struct stat folder_st {};
    const bool found = ::stat(folder.c_str(), &folder_st) == 0 || errno == ENOTDIR;
    if (!found || !S_ISDIR(folder_st.st_mode))
        return problem(name,
                       std::string(key) + " " + file.string() + ": its folder " + folder.string() +
                           (found ? " is not a folder" : " does not exist"),
                       "mkdir -p " + folder.string() + " (writable by " + runner() + "), or correct " + key);
    if (!may(folder, W_OK | X_OK))
        return problem(
            name,
            std::string(key) + " " + file.string() + ": its folder " + folder.string() +
                " cannot be written by " + runner() + " (the file is replaced or rotated there)",
            "chown " + runner() + " " + folder.string() + ", or choose a folder " + runner() + " can write");
    return ok(name, std::string(key) + " " + file.string() + " is writable by " + runner());
}

DoctorCheck check_space(const Settings& settings) {
    // What may have to fit, per file system: on a peer a whole new release in each directory and, fetched
    // and backed up, in the state folder; on the primary a publish of the whole directory into the
    // repository.
    std::map<dev_t, std::pair<stdfs::path, std::uint64_t>> need;
    auto add = [&](const stdfs::path& place, std::uint64_t bytes) {
        struct stat st {};
        if (::stat(place.c_str(), &st) != 0) throw_errno("stat " + place.string());
        auto& slot = need[st.st_dev];
        if (slot.first.empty()) slot.first = place;
        slot.second += bytes;
    };
    std::uint64_t release = 0, number = 0;
    if (settings.role == Role::peer) {
        std::map<std::string, std::uint64_t> bytes = release_bytes(settings, number);
        if (bytes.empty()) return {"space", CheckState::skipped, "no release fetched yet", ""};
        for (const Root& root : roots_of(settings)) {
            add(root.dir, bytes[root.name]);
            release += bytes[root.name];
        }
        add(settings.state, release);
    } else {
        for (const Root& root : roots_of(settings)) release += walk_owners(root.dir, ::geteuid()).bytes;
        add(settings.repo, release);
    }
    std::string sizes = settings.role == Role::peer ? "the newest release r" + std::to_string(number) + " is "
                                                    : "the deployment directory holds ";
    sizes += human_bytes(release);
    std::string found;
    for (const auto& [dev, slot] : need) {
        std::uint64_t free = free_bytes(slot.first);
        if (free < slot.second)
            return problem("space",
                           slot.first.string() + "'s file system has " + human_bytes(free) + " free, and " +
                               sizes + ": " + human_bytes(slot.second) + " may have to fit there",
                           "free space there (on the primary 'depsync gc' drops old releases; fewer backups: "
                           "backup_keep)");
        found += (found.empty() ? "" : ", ") + slot.first.string() + " " + human_bytes(free) + " free";
    }
    return ok("space", found + "; " + sizes);
}

}  // namespace depsync::sync
