#include "core/sync/history.hpp"

#include "core/error.hpp"
#include "core/git/repository.hpp"
#include "core/sync/deploy.hpp"
#include "core/sync/scan.hpp"

namespace depsync::sync {

git::Listing release_listing(git_repository* repo, const git_oid& commit) {
    git::CommitPtr c = git::lookup_commit(repo, commit);
    return git::read_tree(repo, *git_commit_tree_id(c.get()));
}

std::vector<LogEntry> release_log(const NodeRepo& node, std::size_t limit) {
    std::vector<LogEntry> out;
    if (!node.tip) return out;
    git_repository* repo = node.repo.get();
    std::optional<git_oid> cur = node.tip;
    std::optional<git::Listing> cur_listing;
    while (cur && (limit == 0 || out.size() < limit)) {
        LogEntry e;
        e.release = describe_release(repo, *cur);
        if (!cur_listing) cur_listing = release_listing(repo, *cur);
        git::CommitPtr c = git::lookup_commit(repo, *cur);
        std::optional<git::Listing> parent_listing;
        if (git_commit_parentcount(c.get()) > 0) {
            cur = *git_commit_parent_id(c.get(), 0);
            parent_listing = release_listing(repo, *cur);
        } else {
            cur.reset();
            parent_listing = git::Listing{};
        }
        e.counts = git::count_changes(*parent_listing, *cur_listing);
        out.push_back(std::move(e));
        cur_listing = std::move(parent_listing);
    }
    return out;
}

std::vector<git::PathChange> diff_releases(const NodeRepo& node, const git_oid& from, const git_oid& to) {
    return git::diff_listings(release_listing(node.repo.get(), from), release_listing(node.repo.get(), to));
}

VerifyResult verify_directory(const Settings& settings, bool full) {
    NodeRepo node = open_node_repo(settings);
    VerifyResult result;
    if (!node.current) throw Error("this node runs no release yet: nothing to verify against");
    result.release = describe_release(node.repo.get(), *node.current);
    fs::PathMatcher skip = untouchable_paths(settings);
    git::Listing expected;
    for (const Root& root : roots_of(settings)) {
        if (!root.name.empty()) expected[root.name] = git::Entry{git::EntryKind::directory, {}};
        for (auto& [path, entry] : release_part(node.repo.get(), *node.current, root, skip))
            expected.emplace(root.name.empty() ? path : root.name + "/" + path, entry);
    }

    StatePaths state(settings.state);
    // Read-only: the cache is used but not saved, so verify never races a running pull.
    StatCache cache = StatCache::load(state.stat_cache());
    ScanOptions options;
    options.exclude = &skip;
    options.full = full;
    ScanResult scan = scan_roots(open_roots(roots_of(settings)), options, cache);
    result.hashed = scan.hashed;
    // A folder that exists only for excluded or node-local files is not drift.
    for (const auto& dir : scan.holds_excluded)
        if (!expected.count(dir) && scan.listing.count(dir)) expected[dir] = scan.listing.at(dir);
    result.changes = git::diff_listings(expected, scan.listing);
    return result;
}

}  // namespace depsync::sync
