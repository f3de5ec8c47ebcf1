#pragma once
// Retention cuts: how `depsync gc` marks the history it writes again, and how a peer decides whether a new
// upstream history is such a cut of the history it runs.
//
// Trailers gc writes (release.cpp reads trailers):
//   Depsync-Replaces: <id>  on every rewritten release: the id the release had when it was first published
//                           (kept through later cuts), so a node that runs any version of it can find it.
//   Depsync-Cut: N          on the oldest kept release (a root commit): releases up to rN were dropped.
//   Depsync-Origin: <id>    on that root too: the history's origin, the root commit of the history before any
//                           cut (carried from cut to cut), so a node whose release was dropped can tell a cut
//                           of its own history from another repository.
//
// A peer follows a cut only when the new history proves it replaces the node's: every record (deployed,
// pinned, journal) not in the new history is either found there (a release whose Depsync-Replaces names the
// record's release, with the same number and tree) or was dropped (its number is at most the cut's) from a
// history of the same origin; with allowed_signers every commit of the new history must verify too.
// Deciding writes nothing; the caller writes the moved records once the release it applies is trusted.

#include <git2.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/sync/node_state.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

inline constexpr const char* cut_trailer = "Depsync-Cut";
inline constexpr const char* replaces_trailer = "Depsync-Replaces";
inline constexpr const char* origin_trailer = "Depsync-Origin";

// The id a release had when first published: its Depsync-Replaces (a full commit id) when it has one, else
// its own id.
git_oid original_id(git_repository* repo, const git_oid& commit);

// The origin of the history `commit` belongs to: its first-parent root's Depsync-Origin when that root is
// a cut, else the root's id. nullopt when an ancestor is missing from the repository.
std::optional<git_oid> history_origin(git_repository* repo, const git_oid& commit);

// A cut this node may follow: its number, the node's records as they are in the new history, and the files
// to write for those that moved.
struct CutFollow {
    std::uint64_t cut = 0;
    std::optional<DeployedRecord> deployed, pinned, journal;
    struct Move {
        std::filesystem::path file;
        DeployedRecord record;
    };
    std::vector<Move> moves;
};

struct CutDecision {
    std::optional<CutFollow> follow;  // set when the cut is to be followed
    std::string why_not;              // else why the new history is not taken for a cut of this node's
    // Its root is a cut without Depsync-Origin, as an older gc wrote them: such a cut is accepted once, by
    // the operator, with pull --accept-rewrite.
    bool without_origin = false;
};

// Whether upstream's history (`tip`), which no longer contains the deployed release, proves it is a cut of
// this node's history. Writes nothing. Throws Error only for an unreadable allowed_signers file.
CutDecision plan_retention_cut(const Settings& settings, git_repository* repo, const git_oid& tip);

// Writes the moved records of a cut whose release is trusted.
void write_cut_records(const CutFollow& cut);

}  // namespace depsync::sync
