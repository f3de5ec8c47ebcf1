#pragma once
// Fetching one branch of a remote into a local ref.

#include <git2.h>

#include <optional>
#include <string>

namespace depsync::git {

struct FetchRequest {
    std::string url;
    std::string remote_ref;  // e.g. refs/heads/main
    std::string local_ref;   // e.g. refs/remotes/origin/main
};

enum class FetchOutcome {
    updated,    // new objects arrived and local_ref moved
    unchanged,  // local_ref already names the remote's tip
    empty,      // the remote has no refs at all (nothing published yet)
};

// Throws Error(usage) when the remote has refs but not remote_ref: it is not the kind of repository expected.
FetchOutcome fetch_branch(git_repository* repo, const FetchRequest& request);

}  // namespace depsync::git
