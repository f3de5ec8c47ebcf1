#pragma once
// A release's content as a flat listing, and its conversion to and from git trees.
// Folders are entries too: an empty folder is stored as an empty tree, which git keeps and fsck accepts, so
// folders travel with the release exactly as they exist on the primary.

#include <git2.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace depsync::git {

enum class EntryKind : std::uint8_t { file, executable, symlink, directory };

struct Entry {
    EntryKind kind = EntryKind::file;
    git_oid oid{};  // blob id for files and symlinks (a symlink's blob holds its target); unused for folders

    bool same_as(const Entry& other) const {
        return kind == other.kind && (kind == EntryKind::directory || git_oid_equal(&oid, &other.oid));
    }
};

// Relative path ('/'-separated, no leading slash) -> entry; every folder below the root is listed.
using Listing = std::map<std::string, Entry>;

// Writes the trees for a listing bottom-up and returns the root tree's id. Every blob of a tree not yet
// stored is checked to exist, except entries equal to those of `present` (a stored release's listing).
git_oid write_tree(git_repository* repo, const Listing& listing, const Listing* present = nullptr);
// The root tree's id write_tree would return, computed without a repository (and without libgit2).
git_oid tree_id(const Listing& listing);

// Reads a tree recursively. Throws Error when an entry is unsafe to apply (see fs::name_defect), duplicated,
// a submodule, or a symlink that resolves outside the tree: nothing of such a release may be applied.
Listing read_tree(git_repository* repo, const git_oid& tree_id);
// Throws the Error read_tree would throw for a tree of this listing (an unsafe name, a symlink that resolves
// outside the tree), reading only the symlinks' blobs.
void validate_listing(git_repository* repo, const Listing& listing);

// Counts of files (not folders) added, modified and deleted from `from` to `to`.
struct ChangeCounts {
    std::size_t added = 0, modified = 0, deleted = 0;
};
ChangeCounts count_changes(const Listing& from, const Listing& to);

// One path that differs between two listings: 'A' only in `to`, 'D' only in `from`, 'M' in both but different
// (content, mode or type). Folders are included, with a trailing '/'. Sorted by path.
struct PathChange {
    char status;
    std::string path;
};
std::vector<PathChange> diff_listings(const Listing& from, const Listing& to);

bool is_file_like(EntryKind kind);
const char* kind_name(EntryKind kind);

}  // namespace depsync::git
