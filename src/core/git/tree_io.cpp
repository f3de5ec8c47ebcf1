#include "core/git/tree_io.hpp"

#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "core/fs/path_safety.hpp"
#include "core/git/handle.hpp"

namespace depsync::git {
namespace {

git_filemode_t filemode(EntryKind kind) {
    switch (kind) {
        case EntryKind::file:
            return GIT_FILEMODE_BLOB;
        case EntryKind::executable:
            return GIT_FILEMODE_BLOB_EXECUTABLE;
        case EntryKind::symlink:
            return GIT_FILEMODE_LINK;
        case EntryKind::directory:
            return GIT_FILEMODE_TREE;
    }
    return GIT_FILEMODE_BLOB;
}

std::string parent_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::size_t depth_of(const std::string& path) {
    return path.empty() ? 0 : static_cast<std::size_t>(std::count(path.begin(), path.end(), '/')) + 1;
}

struct Reader {
    git_repository* repo;
    Listing listing;
    std::map<std::string, std::string> links;

    [[noreturn]] static void unsafe(const std::string& path, const std::string& why) {
        throw Error("release contains an unsafe path '" + path + "': " + why + "; nothing was applied");
    }

    void read(const git_oid& tree_id, const std::string& prefix) {
        git_tree* raw = nullptr;
        check_object(git_tree_lookup(&raw, repo, &tree_id), "read tree " + short_hex(tree_id));
        TreePtr tree(raw);
        std::size_t count = git_tree_entrycount(tree.get());
        for (std::size_t i = 0; i < count; ++i) {
            const git_tree_entry* e = git_tree_entry_byindex(tree.get(), i);
            std::string name = git_tree_entry_name(e);
            std::string path = prefix.empty() ? name : prefix + "/" + name;
            if (auto why = fs::name_defect(name)) unsafe(path, *why);
            Entry entry;
            entry.oid = *git_tree_entry_id(e);
            switch (git_tree_entry_filemode(e)) {
                case GIT_FILEMODE_BLOB:
                    entry.kind = EntryKind::file;
                    break;
                case GIT_FILEMODE_BLOB_EXECUTABLE:
                    entry.kind = EntryKind::executable;
                    break;
                case GIT_FILEMODE_LINK:
                    entry.kind = EntryKind::symlink;
                    break;
                case GIT_FILEMODE_TREE:
                    entry.kind = EntryKind::directory;
                    break;
                default:
                    unsafe(path, "unsupported entry type (submodule or unknown mode)");
            }
            if (!listing.emplace(path, entry).second) unsafe(path, "duplicate entry");
            if (entry.kind == EntryKind::directory) {
                read(entry.oid, path);
            } else if (entry.kind == EntryKind::symlink) {
                git_blob* blob = nullptr;
                check_object(git_blob_lookup(&blob, repo, &entry.oid), "read symlink " + path);
                BlobPtr owned(blob);
                links[path] = std::string(static_cast<const char*>(git_blob_rawcontent(blob)),
                                          static_cast<std::size_t>(git_blob_rawsize(blob)));
            }
        }
    }
};

}  // namespace

bool is_file_like(EntryKind kind) {
    return kind != EntryKind::directory;
}

const char* kind_name(EntryKind kind) {
    switch (kind) {
        case EntryKind::file:
            return "file";
        case EntryKind::executable:
            return "executable";
        case EntryKind::symlink:
            return "symlink";
        case EntryKind::directory:
            return "folder";
    }
    return "?";
}

git_oid write_tree(git_repository* repo, const Listing& listing) {
    struct Child {
        std::string name;
        const Entry* entry;
        std::string path;
    };
    std::map<std::string, std::vector<Child>> children;
    children[""];
    for (const auto& [path, entry] : listing) {
        auto slash = path.rfind('/');
        std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
        children[parent_of(path)].push_back({name, &entry, path});
        if (entry.kind == EntryKind::directory) children[path];
    }
    std::vector<std::string> dirs;
    dirs.reserve(children.size());
    for (const auto& kv : children) dirs.push_back(kv.first);
    std::stable_sort(dirs.begin(), dirs.end(),
                     [](const std::string& a, const std::string& b) { return depth_of(a) > depth_of(b); });

    std::map<std::string, git_oid> tree_ids;
    for (const std::string& dir : dirs) {
        git_treebuilder* raw = nullptr;
        check(git_treebuilder_new(&raw, repo, nullptr), "create tree builder");
        TreeBuilderPtr builder(raw);
        for (const Child& c : children[dir]) {
            const git_oid& id = c.entry->kind == EntryKind::directory ? tree_ids.at(c.path) : c.entry->oid;
            check(
                git_treebuilder_insert(nullptr, builder.get(), c.name.c_str(), &id, filemode(c.entry->kind)),
                "add '" + c.path + "' to tree");
        }
        git_oid id;
        check(git_treebuilder_write(&id, builder.get()), "write tree for '" + dir + "'");
        tree_ids[dir] = id;
    }
    return tree_ids.at("");
}

Listing read_tree(git_repository* repo, const git_oid& tree_id) {
    Reader reader{repo, {}, {}};
    reader.read(tree_id, "");
    for (const auto& [path, target] : reader.links) {
        if (auto why = fs::symlink_defect(path, target, reader.links)) Reader::unsafe(path, *why);
    }
    return std::move(reader.listing);
}

std::vector<PathChange> diff_listings(const Listing& from, const Listing& to) {
    std::vector<PathChange> out;
    auto shown = [](const std::string& path, const Entry& e) {
        return e.kind == EntryKind::directory ? path + "/" : path;
    };
    auto a = from.begin();
    auto b = to.begin();
    while (a != from.end() || b != to.end()) {
        if (b == to.end() || (a != from.end() && a->first < b->first)) {
            out.push_back({'D', shown(a->first, a->second)});
            ++a;
        } else if (a == from.end() || b->first < a->first) {
            out.push_back({'A', shown(b->first, b->second)});
            ++b;
        } else {
            if (!a->second.same_as(b->second)) {
                if ((a->second.kind == EntryKind::directory) != (b->second.kind == EntryKind::directory)) {
                    out.push_back({'D', shown(a->first, a->second)});
                    out.push_back({'A', shown(b->first, b->second)});
                } else {
                    out.push_back({'M', shown(b->first, b->second)});
                }
            }
            ++a;
            ++b;
        }
    }
    return out;
}

ChangeCounts count_changes(const Listing& from, const Listing& to) {
    ChangeCounts counts;
    for (const auto& [path, entry] : to) {
        if (!is_file_like(entry.kind)) continue;
        auto it = from.find(path);
        if (it == from.end() || !is_file_like(it->second.kind)) {
            ++counts.added;
        } else if (!it->second.same_as(entry)) {
            ++counts.modified;
        }
    }
    for (const auto& [path, entry] : from) {
        if (!is_file_like(entry.kind)) continue;
        auto it = to.find(path);
        if (it == to.end() || !is_file_like(it->second.kind)) ++counts.deleted;
    }
    return counts;
}

}  // namespace depsync::git
