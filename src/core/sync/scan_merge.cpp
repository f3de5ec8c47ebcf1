#include <utility>

#include "core/sync/scan.hpp"

// merge_scan (scan.hpp): a watcher's listing brought up to date with the folders one partial scan read.

namespace depsync::sync {
namespace {

bool is_folder(const git::Entry& e) {
    return e.kind == git::EntryKind::directory;
}

// Removes everything below `folder` from the listing and the cache, recording each path as gone.
void erase_below(git::Listing& listing, const std::string& folder, StatCache& cache,
                 std::vector<git::EntryChange>& changes) {
    const std::string prefix = folder + "/";
    auto it = listing.lower_bound(prefix);
    while (it != listing.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
        changes.push_back({it->first, it->second, std::nullopt});
        cache.erase(it->first);
        it = listing.erase(it);
    }
}

}  // namespace

std::vector<git::EntryChange> merge_scan(git::Listing& base, const ScanResult& partial, StatCache& cache) {
    std::vector<git::EntryChange> changes;
    for (const std::string& folder : partial.read_folders) {
        // What the folder held: an entry the scan no longer lists is gone, with everything below it; a
        // folder that became something else loses what was below it.
        std::vector<std::pair<std::string, git::Entry>> held;
        git::for_each_child(base, folder, [&](const std::string& path, const git::Entry& entry) {
            held.emplace_back(path, entry);
        });
        for (const auto& [path, entry] : held) {
            auto now = partial.listing.find(path);
            if (is_folder(entry) && (now == partial.listing.end() || !is_folder(now->second)))
                erase_below(base, path, cache, changes);
            if (now == partial.listing.end()) {
                changes.push_back({path, entry, std::nullopt});
                cache.erase(path);
                base.erase(path);
            }
        }
        // What it holds now.
        git::for_each_child(partial.listing, folder, [&](const std::string& path, const git::Entry& entry) {
            auto [it, added] = base.try_emplace(path, entry);
            if (added) {
                changes.push_back({path, std::nullopt, entry});
            } else if (!it->second.same_as(entry)) {
                changes.push_back({path, it->second, entry});
                it->second = entry;
            }
        });
    }
    return changes;
}

}  // namespace depsync::sync
