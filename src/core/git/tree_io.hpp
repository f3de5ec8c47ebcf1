#pragma once
// A release's content as a flat listing, and its conversion to and from git trees.
// Folders are entries too: an empty folder is stored as an empty tree, which git keeps and fsck accepts, so
// folders travel with the release exactly as they exist on the primary.

#include <git2.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

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

// Calls `visit(path, entry)` for each entry one level below `folder` ("" for the root), in listing order.
// A child folder's subtree is skipped with one lookup: its paths are contiguous in the listing's order and
// all sort before the child's name followed by '0' ('/' + 1).
template <typename Visit>
void for_each_child(const Listing& listing, const std::string& folder, Visit&& visit) {
    const std::string prefix = folder.empty() ? std::string() : folder + "/";
    auto it = listing.lower_bound(prefix);
    while (it != listing.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
        auto slash = it->first.find('/', prefix.size());
        if (slash == std::string::npos) {
            visit(it->first, it->second);
            ++it;
        } else {
            it = listing.lower_bound(it->first.substr(0, slash) + '0');
        }
    }
}

class ObjectWriter;
class TreeIds;

// Writes the trees for a listing bottom-up and returns the root tree's id. Every blob of a tree not yet
// stored is checked to exist, except entries equal to those of `present` (a stored release's listing).
// With `flush`, every tree and blob of the listing that `present` does not hold (written now or found
// stored) is handed to its must_flush: what a new release names beyond the current one. `ids`, when given,
// receives every folder's tree id.
git_oid write_tree(git_repository* repo, const Listing& listing, const Listing* present = nullptr,
                   ObjectWriter* flush = nullptr, TreeIds* ids = nullptr);
// The root tree's id write_tree would return, computed without a repository (and without libgit2).
git_oid tree_id(const Listing& listing);

// Bounds on what reading one release may cost. A tree of shared subtrees is small in the repository but
// expands to any number of paths: reading stops at `max_entries` entries (folders included) or `max_depth`
// nested folders, so memory and time stay bounded whatever the repository holds.
struct TreeLimits {
    std::size_t max_entries = 1000000;
    std::size_t max_depth = 256;
};

// Why a release cannot be applied: the path of the entry at fault (empty when the whole tree is at fault)
// and the reason.
struct TreeDefect {
    std::string path;  // as in the tree: escape it (depsync::printable) where it is printed
    std::string why;
    std::string text() const;  // "unsafe path 'P': WHY", or WHY alone
};

// A tree read without throwing for hostile content: the entries read, and the first defect found (entries
// at fault are left out; reading stops at the limits).
struct InspectedTree {
    Listing listing;
    std::optional<TreeDefect> defect;
};
InspectedTree inspect_tree(git_repository* repo, const git_oid& tree_id, const TreeLimits& limits = {});

// Thrown for a release that must not be applied (its message is the defect's text, one line).
class UnsafeTree : public Error {
  public:
    explicit UnsafeTree(const TreeDefect& d);
    TreeDefect defect;
};

// Reads a tree recursively. Throws UnsafeTree when an entry is unsafe to apply (see fs::name_defect),
// duplicated or out of order, a submodule or of an unknown mode, names an object of another type than its
// mode says (a symlink or folder entry naming a blob or tree), a symlink that resolves outside the tree or
// cannot be stored as written, or when the tree exceeds `limits`: nothing of such a release may be applied.
// Throws ObjectError only when an object is missing or damaged in this repository.
Listing read_tree(git_repository* repo, const git_oid& tree_id, const TreeLimits& limits = {});
// Throws the Error read_tree would throw for a tree of this listing (an unsafe name, a symlink that resolves
// outside the tree, more entries than the limits), reading only the symlinks' blobs.
void validate_listing(git_repository* repo, const Listing& listing, const TreeLimits& limits = {});

// One path whose entry differs between two listings: absent (nullopt) on one side, or another entry.
struct EntryChange {
    std::string path;
    std::optional<Entry> before, after;
};
// validate_listing for a listing that passed it and has since changed by `changes` only: the changed
// entries are checked, and the totals; every symlink is checked again when a change adds, alters or
// removes one (whether a symlink is safe depends on the others).
void validate_changes(git_repository* repo, const Listing& listing, const std::vector<EntryChange>& changes,
                      const TreeLimits& limits = {});

// Counts of files (not folders) added, modified and deleted from `from` to `to`.
struct ChangeCounts {
    std::size_t added = 0, modified = 0, deleted = 0;
};
ChangeCounts count_changes(const Listing& from, const Listing& to);
ChangeCounts count_changes(const std::vector<EntryChange>& changes);

// One path that differs between two listings: 'A' only in `to`, 'D' only in `from`, 'M' in both but different
// (content, mode or type). Folders are included, with a trailing '/'. Sorted by path.
struct PathChange {
    char status;
    std::string path;
};
std::vector<PathChange> diff_listings(const Listing& from, const Listing& to);
// The same for the listings `changes` lies between.
std::vector<PathChange> diff_changes(const std::vector<EntryChange>& changes);

bool is_file_like(EntryKind kind);
const char* kind_name(EntryKind kind);

}  // namespace depsync::git
