#include <algorithm>

#include "core/git/tree_io.hpp"

// The comparison of listings declared in tree_io.hpp: what differs, path by path, and the counts.

namespace depsync::git {
namespace {

std::string shown(const std::string& path, const Entry& e) {
    return e.kind == EntryKind::directory ? path + "/" : path;
}

// What differs at one path (`from`, `to`: its entries, null where absent): 'A', 'D', 'M', or 'D' then 'A'
// when a folder and a non-folder swap.
void add_path_change(std::vector<PathChange>& out, const std::string& path, const Entry* from,
                     const Entry* to) {
    if (from && to) {
        if (from->same_as(*to)) return;
        if ((from->kind == EntryKind::directory) == (to->kind == EntryKind::directory)) {
            out.push_back({'M', shown(path, *to)});
            return;
        }
    }
    if (from) out.push_back({'D', shown(path, *from)});
    if (to) out.push_back({'A', shown(path, *to)});
}

// Files (not folders) at one path: added, modified or deleted.
void count_path_change(ChangeCounts& counts, const Entry* from, const Entry* to) {
    const bool was_file = from && is_file_like(from->kind), is_file = to && is_file_like(to->kind);
    if (was_file && is_file) {
        if (!from->same_as(*to)) ++counts.modified;
    } else if (is_file) {
        ++counts.added;
    } else if (was_file) {
        ++counts.deleted;
    }
}

// Calls `visit(path, from_entry, to_entry)` for every path of either listing, in path order.
template <typename Visit>
void walk_pair(const Listing& from, const Listing& to, Visit&& visit) {
    auto a = from.begin();
    auto b = to.begin();
    while (a != from.end() || b != to.end()) {
        if (b == to.end() || (a != from.end() && a->first < b->first)) {
            visit(a->first, &a->second, nullptr);
            ++a;
        } else if (a == from.end() || b->first < a->first) {
            visit(b->first, nullptr, &b->second);
            ++b;
        } else {
            visit(a->first, &a->second, &b->second);
            ++a;
            ++b;
        }
    }
}

const Entry* entry_of(const std::optional<Entry>& e) {
    return e ? &*e : nullptr;
}

}  // namespace

std::vector<PathChange> diff_listings(const Listing& from, const Listing& to) {
    std::vector<PathChange> out;
    walk_pair(from, to, [&](const std::string& path, const Entry* a, const Entry* b) {
        add_path_change(out, path, a, b);
    });
    return out;
}

std::vector<PathChange> diff_changes(const std::vector<EntryChange>& changes) {
    std::vector<const EntryChange*> sorted;
    sorted.reserve(changes.size());
    for (const EntryChange& c : changes) sorted.push_back(&c);
    std::sort(sorted.begin(), sorted.end(),
              [](const EntryChange* a, const EntryChange* b) { return a->path < b->path; });
    std::vector<PathChange> out;
    for (const EntryChange* c : sorted)
        add_path_change(out, c->path, entry_of(c->before), entry_of(c->after));
    return out;
}

ChangeCounts count_changes(const Listing& from, const Listing& to) {
    ChangeCounts counts;
    walk_pair(from, to,
              [&](const std::string&, const Entry* a, const Entry* b) { count_path_change(counts, a, b); });
    return counts;
}

ChangeCounts count_changes(const std::vector<EntryChange>& changes) {
    ChangeCounts counts;
    for (const EntryChange& c : changes) count_path_change(counts, entry_of(c.before), entry_of(c.after));
    return counts;
}

}  // namespace depsync::git
