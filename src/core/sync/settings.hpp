#pragma once
// A node's configuration as the verbs use it, after the command line and config file were merged.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace depsync::sync {

enum class Role { primary, peer };
enum class LocalChanges { overwrite, keep, refuse };

// One directory of a release. A node with a single directory has one root with an empty name (the release
// tree is that directory); with several, each is a top-level folder of the release named after its root.
struct Root {
    std::string name;
    std::filesystem::path dir;
};

struct Settings {
    Role role = Role::peer;
    std::string node;                     // this node's name (default: host name)
    std::filesystem::path dir;            // the deployment directory (single root)
    std::vector<Root> roots;              // several named roots instead of `dir`
    std::filesystem::path repo;           // primary: the bare release repository
    std::string remote;                   // peer: where releases are fetched from
    std::filesystem::path state;          // lock, caches, journal, fetched copy, backups
    std::vector<std::string> exclude;     // never published, never touched
    std::vector<std::string> node_local;  // per-node files: never reported, touched or published
    LocalChanges local_changes = LocalChanges::overwrite;
    double wait = 0;                              // seconds to wait for another run's lock
    double settle = 5;                            // seconds publish waits for files still being written
    int timeout = 120;                            // seconds bounding a fetch
    std::uint64_t max_fetch_bytes = 4ull << 30;   // bytes a fetch may receive (also bounded by free space)
    std::uint64_t max_fetch_memory = 1ull << 30;  // address space of the fetch's process; 0: unbounded
    unsigned backup_keep = 10;  // backups kept in state/backup, counting this run's (0: only this run's)
    std::uint64_t backup_max_bytes = std::uint64_t(1) << 30;  // bytes one run may copy into its backup
    std::string owner;  // USER[:GROUP] given what a root run creates (default: the owner of the root)
    std::size_t max_entries = 1000000;  // a release with more paths (folders included) is refused
    // Transports (ssh, https) and mirrors.
    std::filesystem::path known_hosts;  // default: ssh's own (~/.ssh/known_hosts)
    std::filesystem::path ssh_key;      // default: ssh's own keys and agent
    std::filesystem::path ssh_config;   // ssh -F; default: ~/.ssh/config
    std::filesystem::path ca_file;
    std::string https_user, https_secret;  // from the credentials file or the environment
    std::vector<std::string> mirrors;      // primary: remotes every release is pushed to
    // Operator commands.
    std::string validate;                   // primary: run before publishing; non-zero blocks the release
    std::string on_change;                  // peer: run after a pull changed something
    bool revert_on_change_failure = false;  // on_change_failure = revert
    int hook_timeout = 300;                 // seconds bounding validate and on_change
    std::filesystem::path metrics_file;     // Prometheus textfile written after every run (empty: none)
    // Signed releases.
    std::filesystem::path signing_key;      // primary: ssh key (ed25519/ecdsa) every release is signed with
    std::filesystem::path allowed_signers;  // peer: apply only releases signed by these keys (git's format)
};

// Files and folders inside the state folder.
struct StatePaths {
    explicit StatePaths(const std::filesystem::path& state) : root(state) {}
    std::filesystem::path root;
    std::filesystem::path lock() const { return root / "lock"; }
    std::filesystem::path stat_cache() const { return root / "statcache"; }
    std::filesystem::path deployed() const { return root / "deployed"; }
    std::filesystem::path journal() const { return root / "journal"; }
    std::filesystem::path pinned() const { return root / "pinned"; }
    std::filesystem::path changed_files() const { return root / "changed-files"; }
    std::filesystem::path repo() const { return root / "repo.git"; }
    std::filesystem::path backups() const { return root / "backup"; }
    std::filesystem::path published() const { return root / "published"; }  // primary: see publish
    std::filesystem::path last_run() const { return root / "last-run"; }
    // A fetched copy found damaged, set aside while it is fetched again.
    std::filesystem::path damaged_repo() const { return root / "repo.git.damaged"; }
    // What was last pushed to the mirror whose URL has this digest.
    std::filesystem::path mirror_record(const std::string& url_digest) const {
        return root / ("mirror-" + url_digest);
    }
    // The private HOME of child processes (ssh, ssh-keygen, transfers), and scratch files of theirs.
    std::filesystem::path home() const { return root / "home"; }
    std::filesystem::path gc_signers() const { return home() / "gc-signers"; }
};

// The node's roots: the named ones, or the single directory as an unnamed root.
std::vector<Root> roots_of(const Settings& settings);

// The patterns of the paths a node never publishes, reports or touches: `exclude`, then `node_local`.
std::vector<std::string> untouchable_patterns(const Settings& settings);

// DEPSYNC_ROOTS for validate and on_change: one "NAME=PATH" line per named root ("" for a single dir).
std::string roots_env(const Settings& settings);

// Throws Error(usage) unless every deployment directory lies apart from every other configured place: no
// root is "/", and no root is, contains or lies inside another root, the state folder, the repository or a
// local remote. Paths are compared with their symlinks resolved (a path that does not exist yet through its
// nearest existing parent), so a link cannot hide an overlap. Touches nothing on disk.
void require_separate_paths(const Settings& settings);

const char* role_name(Role role);
const char* local_changes_name(LocalChanges policy);

}  // namespace depsync::sync
