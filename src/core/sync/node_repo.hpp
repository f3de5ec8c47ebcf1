#pragma once
// The release repository as a node sees it: the primary's own repository, or a peer's fetched copy.

#include <git2.h>

#include <optional>

#include "core/git/handle.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

struct NodeRepo {
    git::RepositoryPtr repo;
    std::optional<git_oid> tip;      // newest release (primary: its branch; peer: the fetched upstream)
    std::optional<git_oid> current;  // release this node's directory holds (primary: tip; peer: deployed)
};

// Throws Error(usage) with the fix when the node was not initialised.
NodeRepo open_node_repo(const Settings& settings);

// The release `rev` names: rN, a commit id or unique prefix (7+ hex), a tag, or "previous": the release
// before the one the current release holds (for a rollback, the one it restores, following the
// Depsync-Restores chain), so repeated rollbacks, `pull --to previous` and `pin previous` walk back and never
// return to a release a rollback undid. It must belong to the release history of `tip`. Unknown or
// ambiguous: Error(usage).
git_oid resolve_release(const NodeRepo& node, const std::string& rev);

}  // namespace depsync::sync
