#pragma once
// Network transfers of a node: a peer's fetch of the release branch (and tags) and the primary's pushes to
// mirrors. Each runs in a child process bounded by the config's timeout; ssh remotes go through the system's
// OpenSSH client (git::install_ssh_transport), which verifies host keys against the configured known_hosts.

#include <git2.h>

#include <string>
#include <vector>

#include "core/git/fetch.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

git::TransportOptions transport_options(const Settings& settings);

// Fetches the primary's release branch into refs/remotes/origin/main of the peer's repository.
git::FetchOutcome fetch_upstream(const Settings& settings, git_repository* repo);

// Contacts the peer's remote once, as a fetch does (the same transport, host key and authentication checks,
// bounded by `timeout`), and lists its refs without downloading anything. Returns what it found ("r12 at
// 1a2b3c4d5e", or that nothing is published yet); throws the Error a pull would meet.
std::string check_upstream(const Settings& settings);

struct MirrorReport {
    std::string url;  // redacted
    bool pushed = false;
    bool up_to_date = false;
    std::string error;
};

// Pushes the release branch and release tags to every configured mirror that is not yet up to date.
// Failures are reported, never thrown: the release exists on the primary and is retried next time.
std::vector<MirrorReport> push_mirrors(const Settings& settings, git_repository* repo);
// The same for the repository at `git_dir` whose branch is at `head`; starts libgit2 only to push.
std::vector<MirrorReport> push_mirrors(const Settings& settings, const std::filesystem::path& git_dir,
                                       const git_oid& head);

}  // namespace depsync::sync
