#pragma once
// Keeping a repository's object database bounded: which objects are still reachable, packing them into one
// pack file, and deleting the rest (libgit2 has no gc, prune or repack).
//
// The pack is written by depsync itself, without deltas: zip archives (the bulk of a release repository) are
// stored as they are, since neither deflate nor delta shrinks them, and everything else is deflated at
// level 1; libgit2's pack builder would spend minutes deflating and delta-searching the archives. libgit2's
// indexer checks every object and writes the index.
//
// Only called while depsync's node lock is held, so no other depsync run writes objects meanwhile. Objects
// that appear after the prune started (a plain git push) are never deleted.

#include <git2.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <unordered_set>
#include <vector>

namespace depsync::git {

struct OidHash {
    std::size_t operator()(const git_oid& o) const {
        std::size_t h = 0;
        std::memcpy(&h, o.id, sizeof h);
        return h;
    }
};
struct OidEqual {
    bool operator()(const git_oid& a, const git_oid& b) const { return git_oid_equal(&a, &b) != 0; }
};
using OidSet = std::unordered_set<git_oid, OidHash, OidEqual>;

// Every object reachable from the repository's refs and from `extra` (commits or tag objects that no ref
// names, e.g. the release a peer runs). An `extra` id the repository does not hold is skipped; a missing
// object below a ref throws ObjectError (the repository is damaged: nothing is deleted).
OidSet reachable_objects(git_repository* repo, const std::vector<git_oid>& extra);

enum class PruneMode {
    pack,        // every reachable object into one new pack; all loose objects and older packs go
    loose_only,  // unreachable loose objects go; packs are rewritten only when they hold unreachable objects
};

struct PruneReport {
    std::uint64_t bytes_before = 0;  // size of objects/ before and after
    std::uint64_t bytes_after = 0;
    std::size_t reachable = 0;
    std::size_t loose_removed = 0;
    std::size_t packs_removed = 0;
    std::size_t objects_packed = 0;  // objects in the pack written (0: none written)
};

PruneReport prune_repository(git_repository* repo, const std::vector<git_oid>& extra, PruneMode mode);

// Total size of the files under the repository's objects/ folder.
std::uint64_t objects_bytes(git_repository* repo);

}  // namespace depsync::git
