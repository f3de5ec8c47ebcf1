#include "core/git/tree_io.hpp"

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/fs/path_safety.hpp"
#include "core/git/handle.hpp"
#include "core/git/object_writer.hpp"
#include "core/git/repository.hpp"
#include "core/git/tree_format.hpp"
#include "core/git/tree_ids.hpp"

namespace depsync::git {
namespace {

const char* type_name(git_object_t type) {
    switch (type) {
        case GIT_OBJECT_BLOB:
            return "a blob";
        case GIT_OBJECT_TREE:
            return "a tree";
        case GIT_OBJECT_COMMIT:
            return "a commit";
        case GIT_OBJECT_TAG:
            return "a tag";
        default:
            return "an unknown object";
    }
}

// Resolution steps all symlinks of one release may take, and the bytes their targets may hold together.
constexpr std::size_t link_step_budget = 4000000;
constexpr std::size_t max_total_link_bytes = 64u << 20;

// Bytes all paths of one release may hold together: bounded by the entry limit, with room for long paths.
std::size_t max_total_path_bytes(const TreeLimits& limits) {
    return std::max<std::size_t>(limits.max_entries * 256, 64u << 20);
}

// Thrown inside the reader once a defect is recorded: reading stops there.
struct Stop {};

struct Reader {
    git_repository* repo;
    git_odb* odb;
    const TreeLimits& limits;
    Listing listing;
    std::map<std::string, std::string> links;
    std::optional<TreeDefect> defect;
    std::size_t path_bytes = 0;
    std::size_t link_bytes = 0;

    [[noreturn]] void fail(const std::string& path, std::string why) {
        if (!defect) defect = TreeDefect{path, std::move(why)};
        throw Stop{};
    }

    // Called after a lookup of `id` as `want` failed. The object may be stored and intact but of another
    // type, or intact (its content hashes to its id) but not parseable: that is what upstream sent, a hostile
    // release, not damage to this copy. Only a missing or damaged object is an ObjectError (fetch again).
    [[noreturn]] void lookup_failed(const git_oid& id, git_object_t want, const std::string& path,
                                    const std::string& what) {
        std::string err = last_error_text();
        git_odb_object* raw = nullptr;
        if (git_odb_read(&raw, odb, &id) < 0) {
            git_error_clear();
            throw ObjectError("cannot " + what + ": " + err);
        }
        OdbObjectPtr obj(raw);
        git_object_t type = git_odb_object_type(raw);
        if (type != want)
            fail(path, std::string(want == GIT_OBJECT_TREE ? "a folder" : "a symlink") + " entry names " +
                           type_name(type) + " (" + short_hex(id) + ")");
        fail(path, "malformed " + std::string(want == GIT_OBJECT_TREE ? "tree" : "object") + " " +
                       short_hex(id) + " (" + err + ")");
    }

    void add(const std::string& path, const Entry& entry) {
        if (listing.size() >= limits.max_entries)
            fail("", "more than " + std::to_string(limits.max_entries) + " entries (max_entries)");
        if (path.size() > fs::max_path_bytes)
            fail(path.substr(0, 200) + "...",
                 "path longer than " + std::to_string(fs::max_path_bytes) + " bytes");
        path_bytes += path.size();
        if (path_bytes > max_total_path_bytes(limits))
            fail("", "its paths hold more than " + std::to_string(max_total_path_bytes(limits)) + " bytes");
        if (!listing.emplace(path, entry).second) fail(path, "duplicate entry");
    }

    void read_link(const std::string& path, const git_oid& id) {
        git_blob* blob = nullptr;
        if (git_blob_lookup(&blob, repo, &id) < 0) lookup_failed(id, GIT_OBJECT_BLOB, path, "read symlink");
        BlobPtr owned(blob);
        auto size = static_cast<std::size_t>(git_blob_rawsize(blob));
        if (size > fs::max_link_bytes)
            fail(path, "symlink target longer than " + std::to_string(fs::max_link_bytes) + " bytes (" +
                           std::to_string(size) + ")");
        link_bytes += size;
        if (link_bytes > max_total_link_bytes)
            fail("", "its symlink targets hold more than " + std::to_string(max_total_link_bytes) + " bytes");
        links[path] = std::string(static_cast<const char*>(git_blob_rawcontent(blob)), size);
    }

    void read(const git_oid& tree_id, const std::string& prefix, std::size_t depth) {
        if (depth > limits.max_depth)
            fail(prefix, "folders nested deeper than " + std::to_string(limits.max_depth) + " levels");
        git_tree* raw = nullptr;
        if (git_tree_lookup(&raw, repo, &tree_id) < 0)
            lookup_failed(tree_id, GIT_OBJECT_TREE, prefix, "read tree " + short_hex(tree_id));
        TreePtr tree(raw);
        std::size_t count = git_tree_entrycount(tree.get());
        std::string_view previous;
        bool previous_dir = false;
        for (std::size_t i = 0; i < count; ++i) {
            const git_tree_entry* e = git_tree_entry_byindex(tree.get(), i);
            std::string_view name = git_tree_entry_name(e);
            std::string path = prefix.empty() ? std::string(name) : prefix + "/" + std::string(name);
            if (auto why = fs::name_defect(name)) fail(path, *why);
            Entry entry;
            entry.oid = *git_tree_entry_id(e);
            // The mode as stored: libgit2's normalised mode turns any odd mode into a file or worse (a
            // symlink mode with execute bits reads as an executable).
            switch (static_cast<unsigned>(git_tree_entry_filemode_raw(e))) {
                case 0100644:
                case 0100664:  // written by early git; git still accepts it as a plain file
                    entry.kind = EntryKind::file;
                    break;
                case 0100755:
                    entry.kind = EntryKind::executable;
                    break;
                case 0120000:
                    entry.kind = EntryKind::symlink;
                    break;
                case 040000:
                    entry.kind = EntryKind::directory;
                    break;
                case 0160000:
                    fail(path, "unsupported entry type (a submodule)");
                default: {
                    char mode[16];
                    std::snprintf(mode, sizeof mode, "%o",
                                  static_cast<unsigned>(git_tree_entry_filemode_raw(e)));
                    fail(path, std::string("unsupported entry mode ") + mode);
                }
            }
            const bool is_dir = entry.kind == EntryKind::directory;
            if (i > 0 && !detail::git_name_less(previous, previous_dir, name, is_dir))
                fail(path, "tree entries out of order or listed twice");
            previous = name;
            previous_dir = is_dir;
            add(path, entry);
            if (is_dir) {
                read(entry.oid, path, depth + 1);
            } else if (entry.kind == EntryKind::symlink) {
                read_link(path, entry.oid);
            }
        }
    }

    void check_links() {
        std::size_t budget = link_step_budget;
        for (const auto& [path, target] : links)
            if (auto why = fs::symlink_defect(path, target, links, &budget)) fail(path, *why);
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

using detail::Child;

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
        git_oid id = detail::format_tree(
            kids, [&](const Child& c) -> const git_oid& { return tree_ids.at(c.path); }, data);
        stored(dir, id, data, kids);
        tree_ids[dir] = id;
    }
    return tree_ids.at(std::string_view());
}

}  // namespace

git_oid tree_id(const Listing& listing) {
    return hash_trees(listing, [](std::string_view, const git_oid&, const std::string&, const auto&) {});
}

git_oid write_tree(git_repository* repo, const Listing& listing, const Listing* present, ObjectWriter* flush,
                   TreeIds* ids) {
    OdbPtr odb = open_odb(repo);
    // Trees are serialised and hashed here rather than through git_treebuilder, which re-reads every entry's
    // object to validate it: for an unchanged tree of 10,000 files that is 10,000 object reads per publish.
    // Only trees not yet stored are written, and their blobs are checked to exist first.
    auto known = [&](std::string_view path, const Entry& entry) {
        if (!present) return false;
        auto it = present->find(std::string(path));
        return it != present->end() && it->second.kind == entry.kind &&
               git_oid_equal(&it->second.oid, &entry.oid);
    };
    return hash_trees(listing, [&](std::string_view dir, const git_oid& id, const std::string& data,
                                   const std::vector<Child>& kids) {
        // A tree or blob the current release holds was flushed when that release was published; any other
        // may come from a killed run that never flushed it, so it is flushed whether written now or not.
        if (flush) {
            Entry tree{EntryKind::directory, id};
            if (dir.empty() || !known(dir, tree)) flush->must_flush(id);
            for (const Child& c : kids)
                if (c.entry->kind != EntryKind::directory && !known(c.path, *c.entry))
                    flush->must_flush(c.entry->oid);
        }
        if (ids) ids->set(dir, id);
        if (git_odb_exists(odb.get(), &id)) return;
        for (const Child& c : kids)
            if (c.entry->kind != EntryKind::directory && !known(c.path, *c.entry) &&
                !git_odb_exists(odb.get(), &c.entry->oid))
                throw ObjectError("cannot write tree '" + std::string(dir) + "': object " +
                                  short_hex(c.entry->oid) + " of '" + std::string(c.path) +
                                  "' is missing from the repository");
        git_oid written;
        check(git_odb_write(&written, odb.get(), data.data(), data.size(), GIT_OBJECT_TREE),
              "write tree '" + std::string(dir) + "'");
    });
}

std::string TreeDefect::text() const {
    return path.empty() ? why : "unsafe path '" + path + "': " + why;
}

UnsafeTree::UnsafeTree(const TreeDefect& d)
    : Error(d.path.empty()
                ? "release refused: " + d.why + "; nothing was applied"
                : "release contains an unsafe path '" + d.path + "': " + d.why + "; nothing was applied"),
      defect(d) {}

namespace {

// What validate_listing checks of one entry apart from its symlink's target.
void check_listed_path(Reader& reader, const std::string& path) {
    auto slash = path.rfind('/');
    std::string_view name =
        slash == std::string::npos ? std::string_view(path) : std::string_view(path).substr(slash + 1);
    if (auto why = fs::name_defect(name)) reader.fail(path, *why);
    if (path.size() > fs::max_path_bytes)
        reader.fail(path, "path longer than " + std::to_string(fs::max_path_bytes) + " bytes");
    if (static_cast<std::size_t>(std::count(path.begin(), path.end(), '/')) >= reader.limits.max_depth)
        reader.fail(path,
                    "folders nested deeper than " + std::to_string(reader.limits.max_depth) + " levels");
}

void check_size(Reader& reader, const Listing& listing) {
    if (listing.size() > reader.limits.max_entries)
        reader.fail("", "more than " + std::to_string(reader.limits.max_entries) + " entries (max_entries)");
}

void check_path_bytes(Reader& reader, std::size_t bytes) {
    if (bytes > max_total_path_bytes(reader.limits))
        reader.fail(
            "", "its paths hold more than " + std::to_string(max_total_path_bytes(reader.limits)) + " bytes");
}

}  // namespace

void validate_listing(git_repository* repo, const Listing& listing, const TreeLimits& limits) {
    OdbPtr odb = open_odb(repo);
    Reader reader{repo, odb.get(), limits, {}, {}, {}};
    try {
        check_size(reader, listing);
        std::size_t bytes = 0;
        for (const auto& [path, entry] : listing) {
            check_listed_path(reader, path);
            bytes += path.size();
            check_path_bytes(reader, bytes);
            if (entry.kind == EntryKind::symlink) reader.read_link(path, entry.oid);
        }
        reader.check_links();
    } catch (const Stop&) {
        throw UnsafeTree(*reader.defect);
    }
}

void validate_changes(git_repository* repo, const Listing& listing, const std::vector<EntryChange>& changes,
                      const TreeLimits& limits) {
    // Whether a symlink is safe depends on every other symlink: a change to any of them checks them all.
    auto link = [](const std::optional<Entry>& e) { return e && e->kind == EntryKind::symlink; };
    for (const EntryChange& c : changes)
        if (link(c.before) || link(c.after)) return validate_listing(repo, listing, limits);
    Reader reader{repo, nullptr, limits, {}, {}, {}};
    try {
        check_size(reader, listing);
        for (const EntryChange& c : changes)
            if (c.after) check_listed_path(reader, c.path);
        std::size_t bytes = 0;
        for (const auto& kv : listing) bytes += kv.first.size();
        check_path_bytes(reader, bytes);
    } catch (const Stop&) {
        throw UnsafeTree(*reader.defect);
    }
}

InspectedTree inspect_tree(git_repository* repo, const git_oid& tree_id, const TreeLimits& limits) {
    OdbPtr odb = open_odb(repo);
    Reader reader{repo, odb.get(), limits, {}, {}, {}};
    try {
        reader.read(tree_id, "", 0);
        reader.check_links();
    } catch (const Stop&) {
    }
    return InspectedTree{std::move(reader.listing), std::move(reader.defect)};
}

Listing read_tree(git_repository* repo, const git_oid& tree_id, const TreeLimits& limits) {
    InspectedTree read = inspect_tree(repo, tree_id, limits);
    if (read.defect) throw UnsafeTree(*read.defect);
    return std::move(read.listing);
}

}  // namespace depsync::git
