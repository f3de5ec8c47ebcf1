#pragma once
// publish: snapshot the primary's deployment directory into its repository as the next release.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/git/tree_io.hpp"
#include "core/sync/release.hpp"
#include "core/sync/settings.hpp"
#include "core/sync/transfer.hpp"

namespace depsync::sync {

struct ChangedFolders;

struct PublishOptions {
    std::string message;
    // Set by a watcher that saw every change since the last publish: only these folders are read, the rest
    // of the listing is the last publish's (see IncrementalScan). Unset (a publish run by hand), or when the
    // stat cache does not describe the current release, the whole directory is read.
    const ChangedFolders* changed = nullptr;
};

struct PublishResult {
    bool published = false;          // false: the tree equals the current release
    std::optional<Release> release;  // the new release, or the current one when nothing was published
    git::ChangeCounts counts;
    std::vector<MirrorReport> mirrors;
    // Archives in the directory whose zip structure is incomplete, published as they are (path, defect).
    std::vector<std::pair<std::string, std::string>> malformed;
};

PublishResult publish(const Settings& settings, const PublishOptions& options);

// The host name of this machine.
std::string host_name();

}  // namespace depsync::sync
