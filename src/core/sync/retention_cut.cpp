#include "core/sync/retention_cut.hpp"

#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "core/error.hpp"
#include "core/git/handle.hpp"
#include "core/git/repository.hpp"
#include "core/git/signing.hpp"
#include "core/sync/release.hpp"

namespace depsync::sync {
namespace {

// A trailer that must be a full commit id in lower-case hex; anything else counts as absent.
std::optional<git_oid> id_trailer(const git_commit* commit, const char* key) {
    std::optional<std::string> value = message_trailer(git_commit_message(commit), key);
    if (!value || value->size() != GIT_OID_HEXSZ ||
        value->find_first_not_of("0123456789abcdef") != std::string::npos)
        return std::nullopt;
    return git::parse_oid(*value);
}

}  // namespace

git_oid original_id(git_repository* repo, const git_oid& commit) {
    git::CommitPtr c = git::find_commit(repo, commit);
    if (!c) return commit;
    return id_trailer(c.get(), replaces_trailer).value_or(commit);
}

std::optional<git_oid> history_origin(git_repository* repo, const git_oid& commit) {
    git::CommitPtr c = git::find_commit(repo, commit);
    if (!c) return std::nullopt;
    while (std::optional<git_oid> parent = git::first_parent(c.get())) {
        c = git::find_commit(repo, *parent);
        if (!c) return std::nullopt;
    }
    const bool is_cut = message_trailer(git_commit_message(c.get()), cut_trailer).has_value();
    std::optional<git_oid> origin = is_cut ? id_trailer(c.get(), origin_trailer) : std::nullopt;
    return origin.value_or(*git_commit_id(c.get()));
}

namespace {

// The new history along first parents, tip first. Each rewritten release is indexed by the id it had when
// first published; two claiming the same release make the history ambiguous.
struct NewHistory {
    std::vector<git_oid> chain;
    std::map<std::string, std::size_t> rewritten;  // first id (hex) -> its replacement's index in chain
    std::set<std::string> ambiguous;
};

// nullopt when a commit of the new history is missing.
std::optional<NewHistory> read_new_history(git_repository* repo, const git_oid& tip) {
    NewHistory h;
    for (git::CommitPtr c = git::find_commit(repo, tip);;) {
        if (!c) return std::nullopt;
        h.chain.push_back(*git_commit_id(c.get()));
        if (auto replaced = id_trailer(c.get(), replaces_trailer)) {
            std::string key = git::to_hex(*replaced);
            if (!h.rewritten.emplace(key, h.chain.size() - 1).second) h.ambiguous.insert(key);
        }
        std::optional<git_oid> parent = git::first_parent(c.get());
        if (!parent) break;
        c = git::find_commit(repo, *parent);
    }
    return h;
}

// What a history cut at release `cut`, whose origin is `origin`, does to one of the node's records: it
// stays (its release is in the new history, or was dropped by the cut) or moves to the release replacing
// it (then it is added to `moves`). Returns why the history is no cut of the record's, or nullopt.
std::optional<std::string> move_record(git_repository* repo, const git_oid& tip, const NewHistory& history,
                                       std::uint64_t cut, const git_oid& origin,
                                       const std::filesystem::path& file, DeployedRecord& rec,
                                       std::vector<CutFollow::Move>& moves) {
    const std::string name = "r" + std::to_string(rec.release) + " (" + git::short_hex(rec.commit) + ")";
    if (!git::find_commit(repo, rec.commit)) return name + " is not in the fetched copy to compare";
    if (git::contains(repo, tip, rec.commit)) return std::nullopt;
    std::optional<git_oid> own_origin = history_origin(repo, rec.commit);
    if (!own_origin || !git_oid_equal(&*own_origin, &origin))
        return "it does not descend from the history of " + name;
    const std::string key = git::to_hex(original_id(repo, rec.commit));
    if (history.ambiguous.count(key)) return "two of its releases claim to replace " + name;
    auto it = history.rewritten.find(key);
    if (it == history.rewritten.end()) {
        if (rec.release <= cut)
            return std::nullopt;  // dropped: the node moves on from it like from any old release
        return "no release of it replaces " + name + ", which is newer than the cut r" + std::to_string(cut);
    }
    const Release replacement = describe_release(repo, history.chain[it->second]);
    git::CommitPtr old = git::find_commit(repo, rec.commit);
    if (replacement.number != rec.release || !git_oid_equal(git_commit_tree_id(old.get()), &replacement.tree))
        return "the release replacing " + name + " has another number or content";
    rec.commit = replacement.commit;
    moves.push_back({file, rec});
    return std::nullopt;
}

// With allowed signers, the whole new history must be signed by a trusted key (tip first: a forgery is
// usually found at once). Returns the first commit that is not, as a reason, or nullopt.
std::optional<std::string> untrusted_commit(const Settings& settings, git_repository* repo,
                                            const std::vector<git_oid>& chain) {
    if (settings.allowed_signers.empty()) return std::nullopt;
    for (const git_oid& id : chain) {
        git::SignatureCheck check = git::verify_commit_signature(repo, id, settings.allowed_signers,
                                                                 StatePaths(settings.state).home());
        if (check.state != git::SignatureState::good)
            return "its commit " + git::to_hex(id) + " is " +
                   (check.state == git::SignatureState::unsigned_commit ? std::string("not signed")
                                                                        : check.detail);
    }
    return std::nullopt;
}

}  // namespace

CutDecision plan_retention_cut(const Settings& settings, git_repository* repo, const git_oid& tip) {
    CutDecision out;
    auto refuse = [&out](std::string why) {
        out.why_not = std::move(why);
        return out;
    };
    StatePaths state(settings.state);
    std::optional<DeployedRecord> deployed = read_record(state.deployed());
    if (!deployed) return refuse("nothing is deployed");
    std::optional<NewHistory> history = read_new_history(repo, tip);
    if (!history) return refuse("a commit of the new history is missing");

    git::CommitPtr root = git::find_commit(repo, history->chain.back());
    const Release root_release = describe_release(repo, history->chain.back());
    if (!root_release.cut)
        return refuse("its oldest commit has no valid " + std::string(cut_trailer) + " trailer");
    const std::uint64_t cut = *root_release.cut;
    std::optional<git_oid> origin = id_trailer(root.get(), origin_trailer);
    if (!origin) {
        out.without_origin = true;
        return refuse("its oldest commit names no " + std::string(origin_trailer) +
                      ", as a cut written by an older depsync gc does");
    }
    if (root_release.number <= cut)
        return refuse("its oldest release r" + std::to_string(root_release.number) +
                      " is not newer than the cut r" + std::to_string(cut));

    CutFollow follow;
    follow.cut = cut;
    follow.deployed = deployed;
    follow.pinned = read_record(state.pinned());
    follow.journal = read_record(state.journal());
    struct Slot {
        std::filesystem::path file;
        std::optional<DeployedRecord>* record;
    };
    for (const Slot& slot : {Slot{state.deployed(), &follow.deployed}, Slot{state.pinned(), &follow.pinned},
                             Slot{state.journal(), &follow.journal}}) {
        if (!*slot.record) continue;
        if (auto why = move_record(repo, tip, *history, cut, *origin, slot.file, **slot.record, follow.moves))
            return refuse(*why);
    }
    if (auto why = untrusted_commit(settings, repo, history->chain)) return refuse(*why);
    out.follow = std::move(follow);
    return out;
}

void write_cut_records(const CutFollow& cut) {
    for (const CutFollow::Move& m : cut.moves) write_record(m.file, m.record);
    spdlog::info("upstream history was cut by depsync gc (releases up to r{} dropped); followed it", cut.cut);
}

}  // namespace depsync::sync
