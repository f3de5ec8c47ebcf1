#include "core/sync/node_repo.hpp"

#include <cctype>

#include "core/error.hpp"
#include "core/git/repository.hpp"
#include "core/sync/node_state.hpp"
#include "core/sync/release.hpp"

namespace depsync::sync {
namespace {

[[noreturn]] void unknown(const std::string& rev, const std::string& why) {
    throw Error("unknown release '" + rev + "': " + why + " (see 'depsync log')", ExitCode::usage);
}

bool is_hex(const std::string& s) {
    for (char c : s)
        if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
    return !s.empty();
}

std::optional<git_oid> find_number(git_repository* repo, const git_oid& tip, std::uint64_t number) {
    git_oid cur = tip;
    for (;;) {
        Release r = describe_release(repo, cur);
        if (r.number == number) return cur;
        if (r.number < number) return std::nullopt;
        std::optional<git_oid> parent = git::first_parent(repo, cur);
        if (!parent) return std::nullopt;
        cur = *parent;
    }
}

// "previous": the release before the one the node's current release holds. A rollback holds the release it
// restores (Depsync-Restores), which may itself be a rollback: the chain is followed, so rolling back again
// walks further back (r6 restores r4: previous is r3) instead of returning to the release rolled back from.
// Only smaller numbers are followed: a hostile trailer cannot make the walk loop.
git_oid previous_release(const NodeRepo& node, const std::string& rev) {
    git_repository* repo = node.repo.get();
    if (!node.current) unknown(rev, "this node runs no release yet");
    git_oid held = *node.current;
    for (Release r = describe_release(repo, held); r.restores && *r.restores < r.number;
         r = describe_release(repo, held)) {
        std::optional<git_oid> restored = find_number(repo, held, *r.restores);
        if (!restored)
            unknown(rev, "r" + std::to_string(r.number) + " restores r" + std::to_string(*r.restores) +
                             ", which is no longer kept");
        held = *restored;
    }
    std::optional<git_oid> parent = git::first_parent(repo, held);
    if (!parent)
        unknown(rev, "r" + std::to_string(describe_release(repo, held).number) +
                         ", the release this node holds, is the first");
    return *parent;
}

// A tag's commit, or the commit whose id starts with `rev` (at least 7 hex digits); nullopt for neither.
std::optional<git_oid> tagged_or_abbreviated(git_repository* repo, const std::string& rev) {
    if (git::ObjectPtr tagged = git::find_revision(repo, git::tag_ref(rev)))
        return git::peel_to_commit(tagged.get(), "resolve " + rev);
    if (!is_hex(rev)) return std::nullopt;
    if (rev.size() < 7) unknown(rev, "a commit prefix needs at least 7 hex digits");
    git::CommitByPrefix found = git::commit_by_prefix(repo, rev);
    if (found.match == git::PrefixMatch::several)
        throw Error("ambiguous release '" + rev + "': several commits start with it; give more digits",
                    ExitCode::usage);
    if (found.match == git::PrefixMatch::none) return std::nullopt;
    return found.id;
}

}  // namespace

NodeRepo open_node_repo(const Settings& settings) {
    NodeRepo node;
    if (settings.role == Role::primary) {
        node.repo = git::open_repository(settings.repo);
        if (!node.repo)
            throw Error("no repository at " + settings.repo.string() + " (run 'depsync init primary' first)",
                        ExitCode::usage);
        node.tip = git::resolve_ref(node.repo.get(), primary_ref);
        node.current = node.tip;
        return node;
    }
    StatePaths state(settings.state);
    node.repo = git::open_repository(state.repo());
    if (!node.repo)
        throw Error("no fetched releases in " + state.root.string() + " (run 'depsync pull' first)",
                    ExitCode::usage);
    node.tip = git::resolve_ref(node.repo.get(), upstream_ref);
    if (auto deployed = read_record(state.deployed())) node.current = deployed->commit;
    return node;
}

git_oid resolve_release(const NodeRepo& node, const std::string& rev) {
    git_repository* repo = node.repo.get();
    if (!node.tip) unknown(rev, "no release has been published yet");
    std::optional<git_oid> found;
    if (rev == "previous") {
        found = previous_release(node, rev);
    } else if (rev.size() > 1 && rev[0] == 'r' && std::isdigit(static_cast<unsigned char>(rev[1]))) {
        std::uint64_t n = 0;
        try {
            std::size_t used = 0;
            n = std::stoull(rev.substr(1), &used);
            if (used != rev.size() - 1) unknown(rev, "not a release number");
        } catch (const std::logic_error&) {
            unknown(rev, "not a release number");
        }
        found = find_number(repo, *node.tip, n);
        if (!found) unknown(rev, "no such release number");
    } else {
        found = tagged_or_abbreviated(repo, rev);
        if (!found) unknown(rev, "not a release number, commit id or tag");
    }
    if (!git::contains(repo, *node.tip, *found)) unknown(rev, "it is not part of the release history");
    return *found;
}

}  // namespace depsync::sync
