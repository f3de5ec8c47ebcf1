#pragma once
// Fetching one branch of a remote into a local ref, and pushing refs to a remote.

#include <git2.h>

#include <optional>
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

// A tag of the remote: refs/tags/NAME and the object it names (a commit, or an annotated tag object).
struct RemoteTag {
    std::string ref;
    git_oid id{};
};

// Throws Error(usage) when the remote has refs but not remote_ref: it is not the kind of repository expected.
// The remote's tags come along (adopt_release_tags), also when remote_ref has not moved; the outcome is about
// remote_ref alone. Local refs move only after every object has arrived.
FetchOutcome fetch_branch(git_repository* repo, TransportSession& session, const FetchRequest& request);

// Points refs/tags/NAME of `repo` at each tag's object when that object is in `repo` and names (peeled) a
// commit of `tip`'s history, so REV can name it. Tags naming anything else are skipped; tags the remote no
// longer has are left alone. Call once the objects are stored.
void adopt_release_tags(git_repository* repo, const std::vector<RemoteTag>& tags, const git_oid& tip);

// Connects to the session's remote once and lists its refs, downloading nothing: the tip of remote_ref, or
// nullopt when the remote has no refs at all (nothing published yet). Throws what a fetch throws when the
// connection fails (host key, authentication, repository) or the remote has refs but not remote_ref.
std::optional<git_oid> remote_tip(TransportSession& session, const std::string& remote_ref);

// Pushes refspecs (e.g. "+refs/heads/main:refs/heads/main") to the session's remote.
void push_refs(git_repository* repo, TransportSession& session, const std::vector<std::string>& refspecs);

}  // namespace depsync::git
