#include "core/git/tree_io.hpp"

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/fs/path_safety.hpp"
#include "core/git/handle.hpp"
#include "core/git/object_writer.hpp"

namespace depsync::git {
namespace {

struct Reader {
    git_repository* repo;
    Listing listing;
    std::map<std::string, std::string> links;

    [[noreturn]] static void unsafe(const std::string& path, const std::string& why) {
        // The name is hostile: it is escaped where the message is printed (depsync::printable).
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

namespace {

const char* mode_text(EntryKind kind) {
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

// git orders tree entries by name, comparing a folder as if its name ended in '/'.
bool git_name_less(std::string_view a, bool a_dir, std::string_view b, bool b_dir) {
    std::size_t n = std::min(a.size(), b.size());
    int c = n == 0 ? 0 : std::char_traits<char>::compare(a.data(), b.data(), n);
    if (c != 0) return c < 0;
    unsigned ca = a.size() > n ? static_cast<unsigned char>(a[n]) : (a_dir ? '/' : 0);
    unsigned cb = b.size() > n ? static_cast<unsigned char>(b[n]) : (b_dir ? '/' : 0);
    return ca < cb;
}

struct Child {
    std::string_view name;
    const Entry* entry;
    std::string_view path;
};

// Serialises the trees of a listing bottom-up, each exactly as git stores it, and hashes them (SHA-1 of
// "tree <size>\0" and the entries). `stored(dir, id, data, kids)` is called for every tree, children first.
// Paths are views into the listing's keys: nothing is copied per entry.
template <typename Stored>
git_oid hash_trees(const Listing& listing, Stored&& stored) {
    std::map<std::string_view, std::vector<Child>> children;
    children[std::string_view()];
    for (const auto& [path, entry] : listing) {
        std::string_view p(path);
        auto slash = p.rfind('/');
        std::string_view parent = slash == std::string_view::npos ? std::string_view() : p.substr(0, slash);
        std::string_view name = slash == std::string_view::npos ? p : p.substr(slash + 1);
        children[parent].push_back({name, &entry, p});
        if (entry.kind == EntryKind::directory) children[p];
    }
    std::vector<std::pair<std::size_t, std::string_view>> dirs;  // depth, path: deepest first
    dirs.reserve(children.size());
    for (const auto& kv : children)
        dirs.emplace_back(
            kv.first.empty()
                ? 0
                : static_cast<std::size_t>(std::count(kv.first.begin(), kv.first.end(), '/')) + 1,
            kv.first);
    std::stable_sort(dirs.begin(), dirs.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });

    std::map<std::string_view, git_oid> tree_ids;
    std::string data;
    for (const auto& [depth, dir] : dirs) {
        std::vector<Child>& kids = children[dir];
        std::sort(kids.begin(), kids.end(), [](const Child& a, const Child& b) {
            return git_name_less(a.name, a.entry->kind == EntryKind::directory, b.name,
                                 b.entry->kind == EntryKind::directory);
        });
        data.clear();
        for (const Child& c : kids) {
            const git_oid& id = c.entry->kind == EntryKind::directory ? tree_ids.at(c.path) : c.entry->oid;
            data += mode_text(c.entry->kind);
            data += ' ';
            data += c.name;
            data += '\0';
            data.append(reinterpret_cast<const char*>(id.id), GIT_OID_RAWSZ);
        }
        git_oid id = hash_object(GIT_OBJECT_TREE, data.data(), data.size());
        stored(dir, id, data, kids);
        tree_ids[dir] = id;
    }
    return tree_ids.at(std::string_view());
}

}  // namespace

git_oid tree_id(const Listing& listing) {
    return hash_trees(listing, [](std::string_view, const git_oid&, const std::string&, const auto&) {});
}

git_oid write_tree(git_repository* repo, const Listing& listing, const Listing* present) {
    git_odb* raw_odb = nullptr;
    check(git_repository_odb(&raw_odb, repo), "open object database");
    OdbPtr odb(raw_odb);
    // Trees are serialised and hashed here rather than through git_treebuilder, which re-reads every entry's
    // object to validate it: for an unchanged tree of 10,000 files that is 10,000 object reads per publish.
    // Only trees not yet stored are written, and their blobs are checked to exist first.
    return hash_trees(listing, [&](std::string_view dir, const git_oid& id, const std::string& data,
                                   const std::vector<Child>& kids) {
        if (git_odb_exists(odb.get(), &id)) return;
        auto known = [&](const Child& c) {
            if (!present) return false;
            auto it = present->find(std::string(c.path));
            return it != present->end() && it->second.same_as(*c.entry);
        };
        for (const Child& c : kids)
            if (c.entry->kind != EntryKind::directory && !known(c) &&
                !git_odb_exists(odb.get(), &c.entry->oid))
                throw ObjectError("cannot write tree '" + std::string(dir) + "': object " +
                                  short_hex(c.entry->oid) + " of '" + std::string(c.path) +
                                  "' is missing from the repository");
        git_oid written;
        check(git_odb_write(&written, odb.get(), data.data(), data.size(), GIT_OBJECT_TREE),
              "write tree '" + std::string(dir) + "'");
    });
}

void validate_listing(git_repository* repo, const Listing& listing) {
    std::map<std::string, std::string> links;
    for (const auto& [path, entry] : listing) {
        auto slash = path.rfind('/');
        std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
        if (auto why = fs::name_defect(name)) Reader::unsafe(path, *why);
        if (entry.kind != EntryKind::symlink) continue;
        git_blob* blob = nullptr;
        check_object(git_blob_lookup(&blob, repo, &entry.oid), "read symlink " + path);
        BlobPtr owned(blob);
        links[path] = std::string(static_cast<const char*>(git_blob_rawcontent(blob)),
                                  static_cast<std::size_t>(git_blob_rawsize(blob)));
    }
    for (const auto& [path, target] : links)
        if (auto why = fs::symlink_defect(path, target, links)) Reader::unsafe(path, *why);
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
