#include "core/git/tree_ids.hpp"

#include <unordered_set>

#include "core/git/handle.hpp"
#include "core/git/object_writer.hpp"
#include "core/git/repository.hpp"
#include "core/git/tree_format.hpp"

namespace depsync::git {
namespace {

using detail::Child;

std::string_view parent_of(std::string_view path) {
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

bool is_folder(const std::optional<Entry>& e) {
    return e && e->kind == EntryKind::directory;
}

std::vector<Child> children_of(const Listing& listing, const std::string& folder) {
    std::vector<Child> kids;
    const std::size_t skip = folder.empty() ? 0 : folder.size() + 1;
    for_each_child(listing, folder, [&](const std::string& path, const Entry& entry) {
        kids.push_back({std::string_view(path).substr(skip), &entry, path});
    });
    return kids;
}

struct Writer {
    git_odb* odb;
    const Listing& listing;
    std::unordered_map<std::string, git_oid>& ids;
    std::unordered_set<std::string_view> added;  // paths whose new blob the changes add
    ObjectWriter* flush;

    bool adds(const Child& c) const { return c.entry->kind != EntryKind::directory && added.count(c.path); }

    // A reference into `ids` (whose elements stay in place as it grows).
    const git_oid& tree_of(const std::string& folder) {
        if (auto it = ids.find(folder); it != ids.end()) return it->second;
        std::vector<Child> kids = children_of(listing, folder);
        std::string data;
        git_oid id = detail::format_tree(
            kids, [&](const Child& c) -> const git_oid& { return tree_of(std::string(c.path)); }, data);
        // A tree computed here may come from a killed run that never flushed it: flushed whether written
        // now or found stored, as write_tree does for every tree the current release does not hold.
        if (flush) {
            flush->must_flush(id);
            for (const Child& c : kids)
                if (adds(c)) flush->must_flush(c.entry->oid);
        }
        if (!git_odb_exists(odb, &id)) {
            for (const Child& c : kids)
                if (adds(c) && !git_odb_exists(odb, &c.entry->oid))
                    throw ObjectError("cannot write tree '" + folder + "': object " +
                                      short_hex(c.entry->oid) + " of '" + std::string(c.path) +
                                      "' is missing from the repository");
            git_oid written;
            check(git_odb_write(&written, odb, data.data(), data.size(), GIT_OBJECT_TREE),
                  "write tree '" + folder + "'");
        }
        return ids.emplace(folder, id).first->second;
    }
};

}  // namespace

void TreeIds::forget(const std::vector<EntryChange>& changes) {
    for (const EntryChange& c : changes) {
        if (is_folder(c.before) || is_folder(c.after)) m_ids.erase(c.path);
        std::string_view path = c.path;
        do {
            path = parent_of(path);
            m_ids.erase(std::string(path));
        } while (!path.empty());
    }
}

git_oid TreeIds::write(git_repository* repo, const Listing& listing, const std::vector<EntryChange>& changes,
                       ObjectWriter* flush) {
    OdbPtr odb = open_odb(repo);
    Writer writer{odb.get(), listing, m_ids, {}, flush};
    for (const EntryChange& c : changes)
        if (c.after && c.after->kind != EntryKind::directory) writer.added.insert(c.path);
    return writer.tree_of("");
}

}  // namespace depsync::git
