#pragma once
// The tree ids of a listing's folders, kept while the listing changes a few paths at a time (a watcher's
// publishes): writing the next release's trees then serialises and hashes only the folders above a changed
// path, not every folder of the directory.

#include <git2.h>

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/git/tree_io.hpp"

namespace depsync::git {

class ObjectWriter;

class TreeIds {
  public:
    // Records the tree of `folder` ("" for the root); write_tree does so for every folder it writes.
    void set(std::string_view folder, const git_oid& id) { m_ids[std::string(folder)] = id; }
    // Forgets what `changes` makes stale: the tree of every folder above a changed path, and of a changed
    // folder itself.
    void forget(const std::vector<EntryChange>& changes);
    void clear() { m_ids.clear(); }
    std::size_t size() const { return m_ids.size(); }
    // The tree of `folder`, or nullptr when it is not known.
    const git_oid* find(const std::string& folder) const {
        auto it = m_ids.find(folder);
        return it == m_ids.end() ? nullptr : &it->second;
    }

    // Writes the trees of `listing` whose ids are not known (after forget(): the folders above a change;
    // with none known, every folder), each only when not yet stored, and returns the root tree's id, which
    // equals write_tree's for the listing whenever the known ids are the listing's. The blobs `changes` adds
    // are checked to exist before a tree names them. Every tree computed and every blob `changes` adds is
    // handed to `flush`'s must_flush: what the new release may name beyond the one the ids described.
    git_oid write(git_repository* repo, const Listing& listing, const std::vector<EntryChange>& changes,
                  ObjectWriter* flush);

  private:
    std::unordered_map<std::string, git_oid> m_ids;
};

}  // namespace depsync::git
