#include "core/sync/history.hpp"

#include <spdlog/spdlog.h>

#include <map>

#include "core/error.hpp"
#include "core/git/repository.hpp"
#include "core/sync/deploy.hpp"
#include "core/sync/run_record.hpp"
#include "core/sync/scan.hpp"

namespace depsync::sync {
namespace {

git::InspectedTree inspect_release(git_repository* repo, const git_oid& commit,
                                   const git::TreeLimits& limits) {
    return git::inspect_tree(repo, git::commit_tree(repo, commit), limits);
}

}  // namespace

git::Listing release_listing(git_repository* repo, const git_oid& commit, const git::TreeLimits& limits) {
    return git::read_tree(repo, git::commit_tree(repo, commit), limits);
}

std::optional<git_oid> newest_safe_release(git_repository* repo, const git_oid& commit,
                                           const git::TreeLimits& limits) {
    std::optional<git_oid> cur = commit;
    while (cur) {
        git::InspectedTree read = inspect_release(repo, *cur, limits);
        if (!read.defect) return cur;
        cur = git::first_parent(repo, *cur);
    }
    return std::nullopt;
}

std::vector<LogEntry> release_log(const NodeRepo& node, std::size_t limit, const git::TreeLimits& limits) {
    std::vector<LogEntry> out;
    if (!node.tip) return out;
    git_repository* repo = node.repo.get();
    std::optional<git_oid> cur = node.tip;
    // An unsafe release's listing is the part read before its defect; its counts are shown as they come.
    std::optional<git::InspectedTree> cur_read;
    while (cur && (limit == 0 || out.size() < limit)) {
        LogEntry e;
        e.release = describe_release(repo, *cur);
        if (!cur_read) cur_read = inspect_release(repo, *cur, limits);
        if (cur_read->defect) e.unsafe = cur_read->defect->text();
        git::InspectedTree parent_read;
        cur = git::first_parent(repo, *cur);
        if (cur) parent_read = inspect_release(repo, *cur, limits);
        e.counts = git::count_changes(parent_read.listing, cur_read->listing);
        out.push_back(std::move(e));
        cur_read = std::move(parent_read);
    }
    return out;
}

std::vector<git::PathChange> diff_releases(const NodeRepo& node, const git_oid& from, const git_oid& to,
                                           const git::TreeLimits& limits) {
    return git::diff_listings(release_listing(node.repo.get(), from, limits),
                              release_listing(node.repo.get(), to, limits));
}

VerifyResult verify_directory(const Settings& settings, bool full) {
    NodeRepo node = open_node_repo(settings);
    VerifyResult result;
    if (!node.current) throw Error("this node runs no release yet: nothing to verify against");
    const git::TreeLimits limits = tree_limits(settings);
    // On the primary the branch may name a release pushed by plain git that no node applies (an unsafe
    // one): the directory is compared with the newest safe release below it, which is what it holds.
    std::optional<git_oid> current = *node.current;
    if (settings.role == Role::primary) {
        current = newest_safe_release(node.repo.get(), *node.current, limits);
        if (!current) throw Error("no release of this history is safe to apply: nothing to verify against");
        if (!git_oid_equal(&*current, &*node.current))
            spdlog::warn("release r{} ({}) is unsafe and was never applied; comparing with r{}",
                         describe_release(node.repo.get(), *node.current).number,
                         git::short_hex(*node.current), describe_release(node.repo.get(), *current).number);
    }
    result.release = describe_release(node.repo.get(), *current);
    fs::PathMatcher skip = untouchable_paths(settings);
    git::Listing expected;
    for (const Root& root : roots_of(settings)) {
        if (!root.name.empty()) expected[root.name] = git::Entry{git::EntryKind::directory, {}};
        for (auto& [path, entry] : release_part(node.repo.get(), *current, root, skip, limits))
            expected.emplace(root.name.empty() ? path : root.name + "/" + path, entry);
    }

    StatePaths state(settings.state);
    // Read-only: the cache is used but not saved, so verify never races a running pull.
    StatCache cache = StatCache::load(state.stat_cache());
    ScanOptions options;
    options.exclude = &skip;
    options.full = full;
    // The primary's archives are checked as publish checks them; the ones the stat cache vouches for were
    // read by a publish, whose record says which are malformed.
    std::map<std::string, std::string> known;
    if (settings.role == Role::primary) {
        for (const auto& [path, defect] : read_run_record(settings.state).malformed_archives)
            known.emplace(path, defect);
        options.check_archives = true;
        options.accept_every_malformed = true;
        options.known_malformed = &known;
    }
    ScanResult scan = scan_roots(open_roots(roots_of(settings)), options, cache);
    result.hashed = scan.hashed;
    for (const ArchiveDefect& d : scan.malformed) result.malformed.emplace_back(d.path, d.defect);
    // A folder that exists only for excluded or node-local files is not drift.
    for (const auto& dir : scan.holds_excluded)
        if (!expected.count(dir) && scan.listing.count(dir)) expected[dir] = scan.listing.at(dir);
    result.changes = git::diff_listings(expected, scan.listing);
    return result;
}

}  // namespace depsync::sync
