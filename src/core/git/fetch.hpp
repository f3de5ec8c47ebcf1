#pragma once
// Fetching one branch of a remote into a local ref, and pushing refs to a remote.

#include <git2.h>

#include <string>
#include <vector>

#include "core/git/transport.hpp"

namespace depsync::git {

struct FetchRequest {
    std::string remote_ref;  // e.g. refs/heads/main
    std::string local_ref;   // e.g. refs/remotes/origin/main
};

enum class FetchOutcome {
    updated,    // new objects arrived and local_ref moved
    unchanged,  // local_ref already names the remote's tip
    empty,      // the remote has no refs at all (nothing published yet)
};

// Throws Error(usage) when the remote has refs but not remote_ref: it is not the kind of repository expected.
// The local ref moves only after every object has arrived.
FetchOutcome fetch_branch(git_repository* repo, TransportSession& session, const FetchRequest& request);

// Pushes refspecs (e.g. "+refs/heads/main:refs/heads/main") to the session's remote.
void push_refs(git_repository* repo, TransportSession& session, const std::vector<std::string>& refspecs);

}  // namespace depsync::git
