#include "core/sync/gc.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/fs/lock.hpp"
#include "core/git/leftovers.hpp"
#include "core/git/repository.hpp"
#include "core/git/signing.hpp"
#include "core/sync/audit.hpp"
#include "core/sync/node_repo.hpp"
#include "core/sync/node_state.hpp"
#include "core/sync/release.hpp"
#include "core/sync/retention_cut.hpp"
#include "core/sync/rollback.hpp"
#include "core/sync/transfer.hpp"

namespace depsync::sync {
namespace {

// The releases of the branch, newest first, along first parents.
std::vector<Release> release_chain(git_repository* repo, const git_oid& tip) {
    std::vector<Release> chain;
    for (std::optional<git_oid> id = tip; id; id = git::first_parent(repo, *id))
        chain.push_back(describe_release(repo, *id));
    return chain;
}

// The message of a kept release in the new history: an earlier gc's trailers go, the release number is made
// explicit (a plain git commit is numbered by its ancestors, which are dropped), the id the release had when
// first published is named, and the oldest names the cut and the history's origin.
std::string rewritten_message(const std::string& original, const Release& release, const git_oid& first_id,
                              std::optional<std::uint64_t> cut, const git_oid& origin) {
    std::istringstream in(original);
    std::string line, out;
    while (std::getline(in, line)) {
        bool ours = false;
        for (const char* key : {cut_trailer, replaces_trailer, origin_trailer})
            ours = ours || line.rfind(std::string(key) + ": ", 0) == 0;
        if (!ours) out += line + "\n";
    }
    while (!out.empty() && out.back() == '\n') out.pop_back();
    if (!message_trailer(original, "Depsync-Release"))
        out += "\n\nDepsync-Release: " + std::to_string(release.number);
    out += "\n" + std::string(replaces_trailer) + ": " + git::to_hex(first_id) + "\n";
    if (cut) {
        out += std::string(cut_trailer) + ": " + std::to_string(*cut) + "\n";
        out += std::string(origin_trailer) + ": " + git::to_hex(origin) + "\n";
    }
    return out;
}

// The keys whose signatures gc may sign again: the public half of signing_key, and the keys of
// allowed_signers when the primary has that file too. Written to a private file for ssh-keygen, removed when
// this goes out of scope.
class ResigningSigners {
  public:
    explicit ResigningSigners(const Settings& settings) : m_file(StatePaths(settings.state).gc_signers()) {
        std::string text = "depsync-signing-key " + git::ssh_public_key(settings.signing_key) + "\n";
        if (!settings.allowed_signers.empty()) {
            auto more = fs::read_file(settings.allowed_signers);
            if (!more)
                throw Error("cannot gc: allowed_signers file " + settings.allowed_signers.string() +
                                " cannot be read (nothing was changed)",
                            ExitCode::usage);
            text += *more + "\n";
        }
        fs::create_directories(m_file.parent_path(), 0700);
        fs::write_file_atomically(m_file, text, 0600, fs::Fsync::no);
    }
    ~ResigningSigners() {
        std::error_code ec;
        std::filesystem::remove(m_file, ec);
    }
    ResigningSigners(const ResigningSigners&) = delete;
    ResigningSigners& operator=(const ResigningSigners&) = delete;
    const std::filesystem::path& file() const { return m_file; }

  private:
    std::filesystem::path m_file;
};

// gc signs every kept release again, so it would turn a commit nobody trusted signed (pushed by plain git, or
// signed by a stranger's key) into one signed by the primary that peers apply as good. Each kept release
// must carry a signature that verifies against the primary's own key or its allowed_signers; the first
// that does not stops gc before anything is written.
void require_resignable(const Settings& settings, git_repository* repo, const std::vector<Release>& kept) {
    ResigningSigners signers(settings);
    for (const Release& r : kept) {
        git::SignatureCheck check =
            git::verify_commit_signature(repo, r.commit, signers.file(), StatePaths(settings.state).home());
        if (check.state == git::SignatureState::good) continue;
        std::string why =
            check.state == git::SignatureState::unsigned_commit ? "it is not signed" : check.detail;
        throw Error(
            "cannot gc: r" + std::to_string(r.number) + " (" + git::to_hex(r.commit) + "): " + why +
            "; gc signs the kept releases again and signs only what the signing key or a key in "
            "allowed_signers signed (publish a signed release over it, or roll back past it); nothing "
            "was changed");
    }
}

std::optional<std::uint64_t> release_tag_number(const std::string& name) {
    if (name.size() < 2 || name[0] != 'r' || name.find_first_not_of("0123456789", 1) != std::string::npos)
        return std::nullopt;
    try {
        return std::stoull(name.substr(1));
    } catch (...) {
        return std::nullopt;
    }
}

// Points every tag at the new history: rN at release N (deleted when N was dropped), other tags of a
// replaced or dropped commit at its replacement or away. Idempotent, so a gc killed half-way is completed
// by the next one.
void repair_tags(git_repository* repo, const std::vector<Release>& chain, const git::OidSet& dropped,
                 GcResult& result) {
    std::map<std::uint64_t, git_oid> by_number;
    // A release's first id (hex) -> its commit in the new history; tags on any earlier version follow it.
    std::map<std::string, git_oid> replaced;
    for (const Release& r : chain) {
        by_number[r.number] = r.commit;
        replaced[git::to_hex(original_id(repo, r.commit))] = r.commit;
    }
    const std::uint64_t first_kept = chain.back().number;
    for (const std::string& name : git::tag_names(repo)) {
        std::optional<git_oid> target = git::ref_commit(repo, git::tag_ref(name));
        if (!target) continue;
        std::optional<git_oid> want;
        bool drop = false;
        if (auto n = release_tag_number(name)) {
            auto it = by_number.find(*n);
            if (it != by_number.end())
                want = it->second;
            else if (*n < first_kept)
                drop = true;
        } else {
            auto it = replaced.find(git::to_hex(original_id(repo, *target)));
            if (it != replaced.end())
                want = it->second;
            else
                drop = dropped.count(*target) > 0;  // tags on commits outside the releases stay
        }
        if (drop) {
            git::delete_tag(repo, name);
            result.tags_removed.push_back(name);
        } else if (want && !git_oid_equal(&*want, &*target)) {
            git::set_ref(repo, git::tag_ref(name), *want, "depsync gc", "move tag " + name);
            result.tags_moved.push_back(name);
        }
    }
}

// The index in `chain` (newest first) of the oldest release kept: the older of the `keep`-th newest and
// the oldest younger than `keep_days` (0 turns the age rule off). Fills the counts of `result`.
std::size_t oldest_kept(const std::vector<Release>& chain, const GcOptions& options, GcResult& result) {
    const std::int64_t cutoff =
        static_cast<std::int64_t>(std::time(nullptr)) - static_cast<std::int64_t>(options.keep_days) * 86400;
    std::size_t oldest = std::min(options.keep, chain.size()) - 1;
    for (std::size_t i = oldest + 1; options.keep_days > 0 && i < chain.size(); ++i)
        if (chain[i].time > cutoff) oldest = i;
    result.last = chain.front().number;
    result.first_kept = chain[oldest].number;
    result.kept = oldest + 1;
    result.dropped = chain.size() - result.kept;
    if (result.dropped > 0) {
        result.first_dropped = chain.back().number;
        result.last_dropped = chain[oldest + 1].number;
    }
    return oldest;
}

// Dropping releases writes the kept ones again: a signed one must be signed again, and only what the
// signing key or allowed_signers signed is.
void require_kept_signable(const Settings& settings, git_repository* repo, const std::vector<Release>& chain,
                           std::size_t oldest) {
    if (!settings.signing_key.empty()) {
        git::check_signing_key(settings.signing_key);
        require_resignable(
            settings, repo,
            std::vector<Release>(chain.begin(), chain.begin() + static_cast<std::ptrdiff_t>(oldest) + 1));
        return;
    }
    for (std::size_t i = 0; i <= oldest; ++i)
        if (git::is_signed(repo, chain[i].commit))
            throw Error("gc: r" + std::to_string(chain[i].number) +
                            " is signed, and dropping older releases writes the kept ones again: "
                            "configure signing_key so they are signed again (nothing was changed)",
                        ExitCode::usage);
}

// Writes the kept releases again, oldest first (each new commit's parent is the one written before it), and
// moves the branch to the new history; returns its tip.
git_oid write_kept_history(const Settings& settings, git_repository* repo, const std::vector<Release>& chain,
                           std::size_t oldest, const git_oid& tip, const GcResult& result) {
    auto sign = release_signer(settings);
    const std::optional<git_oid> origin = history_origin(repo, chain.back().commit);
    if (!origin) throw Error("gc: a commit of the release history is missing (nothing was changed)");
    std::optional<git_oid> parent;
    for (std::size_t i = oldest + 1; i-- > 0;) {
        git::CommitPtr original = git::lookup_commit(repo, chain[i].commit);
        std::optional<std::uint64_t> cut;
        if (i == oldest) cut = result.last_dropped;
        std::string message = rewritten_message(git_commit_message(original.get()), chain[i],
                                                original_id(repo, chain[i].commit), cut, *origin);
        parent = git::rewrite_commit(repo, original.get(), parent, message, sign);
    }
    if (!git::update_ref(repo, primary_ref, *parent, tip,
                         "depsync gc: drop r" + std::to_string(result.first_dropped) + "..r" +
                             std::to_string(result.last_dropped)))
        throw Error("gc: the release branch moved during this run (a publish by plain git?); run again");
    audit({"gc",
           "dropped " + release_name(result.first_dropped) + ".." + release_name(result.last_dropped) + "; " +
               release_name(result.first_kept) + " is the oldest release now",
           std::nullopt, *parent, std::nullopt});
    return *parent;
}

GcResult gc_primary(const Settings& settings, const GcOptions& options) {
    if (options.keep < 1) throw Error("gc: keep must be at least 1 (the current release)", ExitCode::usage);
    StatePaths state(settings.state);
    fs::NodeLock lock(state.lock(), settings.wait);
    NodeRepo node = open_node_repo(settings);
    git_repository* repo = node.repo.get();
    GcResult result;
    if (!options.dry_run) {
        git::clear_leftovers(repo, std::chrono::seconds(2), true);
        complete_interrupted_rollback(settings, repo);
    }
    std::optional<git_oid> tip = git::resolve_ref(repo, primary_ref);
    result.prune.bytes_before = result.prune.bytes_after = git::objects_bytes(repo);
    if (!tip) return result;

    std::vector<Release> chain = release_chain(repo, *tip);
    const std::size_t oldest = oldest_kept(chain, options, result);
    // The releases gc would write again are checked in a dry run too: it refuses what a real run refuses.
    if (result.dropped > 0) require_kept_signable(settings, repo, chain, oldest);
    if (options.dry_run) return result;

    if (result.dropped > 0) tip = write_kept_history(settings, repo, chain, oldest, *tip, result);
    git::OidSet dropped;
    for (std::size_t i = oldest + 1; i < chain.size(); ++i) dropped.insert(chain[i].commit);
    repair_tags(repo, release_chain(repo, *tip), dropped, result);
    const std::uint64_t before = result.prune.bytes_before;
    result.prune = git::prune_repository(repo, {}, git::PruneMode::pack);
    result.prune.bytes_before = before;
    if (result.dropped > 0 && !settings.mirrors.empty()) push_mirrors(settings, repo);
    return result;
}

std::vector<git_oid> node_releases(const StatePaths& state) {
    std::vector<git_oid> out;
    for (const auto& file : {state.deployed(), state.pinned(), state.journal()})
        if (auto r = read_record(file)) out.push_back(r->commit);
    return out;
}

}  // namespace

git::PruneReport prune_peer_repository(const Settings& settings, git_repository* repo) {
    StatePaths state(settings.state);
    std::vector<git_oid> keep = node_releases(state);
    std::optional<git_oid> tip = git::resolve_ref(repo, upstream_ref);
    // Tags of releases that are neither upstream nor run here would keep dropped releases alive.
    for (const std::string& name : git::tag_names(repo)) {
        std::optional<git_oid> target = git::ref_commit(repo, git::tag_ref(name));
        if (!target) continue;
        bool needed = tip && git::contains(repo, *tip, *target);
        for (const git_oid& k : keep) needed = needed || git_oid_equal(&k, &*target);
        if (!needed) git::delete_tag(repo, name);
    }
    return git::prune_repository(repo, keep, git::PruneMode::loose_only);
}

GcResult gc(const Settings& settings, const GcOptions& options) {
    if (settings.role == Role::primary) return gc_primary(settings, options);
    StatePaths state(settings.state);
    fs::NodeLock lock(state.lock(), settings.wait);
    GcResult result;
    result.primary = false;
    git::RepositoryPtr repo = git::open_repository(state.repo());
    if (!repo) return result;
    if (options.dry_run) {
        result.prune.bytes_before = result.prune.bytes_after = git::objects_bytes(repo.get());
        return result;
    }
    git::clear_leftovers(repo.get(), std::chrono::seconds(0));
    result.prune = prune_peer_repository(settings, repo.get());
    return result;
}

}  // namespace depsync::sync
