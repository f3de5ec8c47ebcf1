#pragma once
// How one tree object is laid out, exactly as git stores it: shared by the writers of whole listings
// (tree_io) and of the folders a change touched (tree_update). Internal to core/git.

#include <git2.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "core/git/object_writer.hpp"
#include "core/git/tree_io.hpp"

namespace depsync::git::detail {

// git orders tree entries by name, comparing a folder as if its name ended in '/'.
inline bool git_name_less(std::string_view a, bool a_dir, std::string_view b, bool b_dir) {
    std::size_t n = std::min(a.size(), b.size());
    int c = n == 0 ? 0 : std::char_traits<char>::compare(a.data(), b.data(), n);
    if (c != 0) return c < 0;
    unsigned ca = a.size() > n ? static_cast<unsigned char>(a[n]) : (a_dir ? '/' : 0);
    unsigned cb = b.size() > n ? static_cast<unsigned char>(b[n]) : (b_dir ? '/' : 0);
    return ca < cb;
}

inline const char* mode_text(EntryKind kind) {
    switch (kind) {
        case EntryKind::executable:
            return "100755";
        case EntryKind::symlink:
            return "120000";
        case EntryKind::directory:
            return "40000";
        case EntryKind::file:
            break;
    }
    return "100644";
}

// One entry of a tree being written: its name, its listing entry and its full path (views into a listing).
struct Child {
    std::string_view name;
    const Entry* entry;
    std::string_view path;
};

// Sorts `kids` into git's order, serialises them into `data` (a folder's id from `tree_of(child)`, any
// other entry's from the listing) and returns the tree's id.
template <typename TreeOf>
git_oid format_tree(std::vector<Child>& kids, TreeOf&& tree_of, std::string& data) {
    std::sort(kids.begin(), kids.end(), [](const Child& a, const Child& b) {
        return git_name_less(a.name, a.entry->kind == EntryKind::directory, b.name,
                             b.entry->kind == EntryKind::directory);
    });
    data.clear();
    for (const Child& c : kids) {
        const git_oid& id = c.entry->kind == EntryKind::directory ? tree_of(c) : c.entry->oid;
        data += mode_text(c.entry->kind);
        data += ' ';
        data += c.name;
        data += '\0';
        data.append(reinterpret_cast<const char*>(id.id), GIT_OID_RAWSZ);
    }
    return hash_object(GIT_OBJECT_TREE, data.data(), data.size());
}

}  // namespace depsync::git::detail
