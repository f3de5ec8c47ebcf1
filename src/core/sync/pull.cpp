#include "core/sync/pull.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <map>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/fs/command.hpp"
#include "core/fs/lock.hpp"
#include "core/git/leftovers.hpp"
#include "core/git/ref_file.hpp"
#include "core/git/remote_url.hpp"
#include "core/git/repository.hpp"
#include "core/sync/audit.hpp"
#include "core/sync/deploy.hpp"
#include "core/sync/gc.hpp"
#include "core/sync/node_repo.hpp"
#include "core/sync/node_state.hpp"
#include "core/sync/retention_cut.hpp"
#include "core/sync/run_record.hpp"
#include "core/sync/transfer.hpp"

namespace depsync::sync {
namespace {

// "r11 -> r12", or "r12" for a node's first release.
std::string transition(const PullResult& r) {
    return (r.from ? release_name(r.from->number) + " -> " : std::string()) + release_name(r.to->number);
}

void require_peer(const Settings& settings, const char* verb) {
    if (settings.role != Role::peer)
        throw Error(std::string("cannot ") + verb + ": this node is the primary (" + verb + " runs on peers)",
                    ExitCode::usage);
    struct stat st {};
    if (::stat(settings.state.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
        throw Error(
            "state folder " + settings.state.string() + " does not exist (run 'depsync init peer' first)",
            ExitCode::usage);
}

// A pull with nothing to do, found without starting libgit2 (which alone costs more than the rest of such a
// run): a local upstream whose branch names the release this node runs, already fetched, and nothing
// pinned, interrupted or set aside. Anything else, or any doubt, takes the ordinary path. The releases in
// the result carry their number and commit only (all an up-to-date result shows).
std::optional<PullResult> up_to_date_at_once(const Settings& settings, const PullOptions& options,
                                             const StatePaths& state) {
    if (options.dry_run || options.to || options.pin) return std::nullopt;
    git::RemoteUrl url = git::parse_remote_url(settings.remote);
    if (url.scheme != git::Scheme::local) return std::nullopt;
    std::error_code ec;
    if (std::filesystem::exists(state.journal(), ec) || std::filesystem::exists(state.pinned(), ec) ||
        std::filesystem::exists(state.damaged_repo(), ec) || ec)
        return std::nullopt;
    std::optional<DeployedRecord> deployed = read_record(state.deployed());
    if (!deployed) return std::nullopt;
    std::optional<git_oid> upstream = git::read_ref_file(url.path, primary_ref);
    std::optional<git_oid> fetched = git::read_ref_file(state.repo(), upstream_ref);
    if (!upstream || !fetched || !git_oid_equal(&*upstream, &deployed->commit) ||
        !git_oid_equal(&*fetched, &deployed->commit))
        return std::nullopt;
    for (const Root& root : roots_of(settings))
        if (!std::filesystem::is_directory(root.dir, ec)) return std::nullopt;
    Release release;
    release.number = deployed->release;
    release.commit = deployed->commit;
    PullResult result;
    result.outcome = PullOutcome::up_to_date;
    result.from = result.to = result.upstream = release;
    return result;
}

// The node's records of what it runs, what an interrupted apply was applying and what it is held at.
struct NodeRecords {
    std::optional<DeployedRecord> deployed, journal, pinned;
};

// A history cut by depsync gc on the primary is followed when it proves it replaces this node's: the
// records move to the same releases in the new history, in memory until the release to apply is trusted
// (record_cut), and never in a dry run.
CutDecision follow_cut(const Settings& settings, NodeRepo& node, NodeRecords& records, PullResult& result) {
    CutDecision cut = plan_retention_cut(settings, node.repo.get(), *node.tip);
    if (!cut.follow) return cut;
    records = NodeRecords{cut.follow->deployed, cut.follow->journal, cut.follow->pinned};
    node.current = records.deployed->commit;
    result.from = describe_release(node.repo.get(), records.deployed->commit);
    result.followed_cut = cut.follow->cut;
    return cut;
}

// Writes the records a followed cut moved. `applied`: the release was applied, so the deployed record is
// written next and the journal removed; only the pinned record's move is left to write (writing the moved
// journal would bring back the interrupted release deploy_release has just replaced).
void record_cut(const CutDecision& cut, const StatePaths& state, const PullOptions& options, bool applied) {
    if (!cut.follow || options.dry_run) return;
    CutFollow moves = *cut.follow;
    if (applied)
        moves.moves.erase(std::remove_if(moves.moves.begin(), moves.moves.end(),
                                         [&](const CutFollow::Move& m) { return m.file != state.pinned(); }),
                          moves.moves.end());
    write_cut_records(moves);
}

// The release to apply: the one --to names, else the pinned one, else the newest.
git_oid choose_target(const NodeRepo& node, const PullOptions& options, const NodeRecords& records,
                      PullResult& result) {
    git_oid target = *node.tip;
    if (options.to) {
        target = resolve_release(node, *options.to);
    } else if (records.pinned) {
        target = records.pinned->commit;
        result.held_reason = records.pinned->reason;
        result.pin_reason = records.pinned->pin_reason;
    }
    result.to = describe_release(node.repo.get(), target);
    return target;
}

// The pinned record `pin` writes: the release, the time of the pin and the operator's reason.
DeployedRecord pin_record(const git_oid& target, std::uint64_t number, const PullOptions& options) {
    DeployedRecord pin = record_now(target, number);
    pin.pin_reason = options.pin_reason;
    return pin;
}

void require_directories(const Settings& settings) {
    for (const Root& root : roots_of(settings))
        if (!std::filesystem::is_directory(root.dir))
            throw Error(
                "deployment directory " + root.dir.string() + " does not exist (create it, then pull again)",
                ExitCode::usage);
}

Error rewritten_history(const DeployedRecord& deployed, const CutDecision& cut) {
    return Error("cannot pull: upstream history no longer contains the deployed release r" +
                 std::to_string(deployed.release) + " (" + git::short_hex(deployed.commit) +
                 "); it was rewritten or is another repository, and is no retention cut of this node's "
                 "history (" +
                 cut.why_not + "). Nothing was applied (" +
                 (cut.without_origin ? "if the primary ran gc with an older depsync, check its history, "
                                       "then run 'depsync pull --accept-rewrite' once; cuts by this "
                                       "version are followed without it"
                                     : "run 'depsync pull --accept-rewrite' to apply it anyway") +
                 ")");
}

// Applies `target` (or plans it, in a dry run) and writes the records.
void apply_target(const Settings& settings, const PullOptions& options, git_repository* repo,
                  const git_oid& target, const NodeRecords& records, const CutDecision& cut,
                  PullResult& result) {
    StatePaths state(settings.state);
    // Only signed releases are applied when allowed signers are configured: checked before anything is
    // touched.
    require_trusted_release(settings, repo, target);
    DeployRequest request;
    request.target = target;
    request.target_number = result.to->number;
    if (records.deployed) {
        request.from = records.deployed->commit;
        request.held_back = {records.deployed->held_back.begin(), records.deployed->held_back.end()};
    }
    if (records.journal) request.interrupted = records.journal->commit;
    request.dry_run = options.dry_run;
    request.policy = settings.local_changes;
    request.backup_label = "r" + std::to_string(result.to->number);
    DeployResult applied = deploy_release(settings, repo, request);
    result.plan = std::move(applied.plan);
    result.backup_dir = applied.backup_dir;
    result.stale_temps_removed = applied.stale_temps_removed;
    if (options.dry_run) {
        result.outcome = PullOutcome::planned;
        return;
    }
    // The records follow a cut only now: a pull refused by the apply (local changes, an unsafe tree)
    // leaves every record as it was, and one killed during it finds the cut again next time.
    record_cut(cut, state, options, true);
    DeployedRecord deployed = record_now(target, result.to->number);
    deployed.held_back = result.plan.held_back;
    write_record(state.deployed(), deployed);
    if (options.pin) write_record(state.pinned(), pin_record(target, result.to->number, options));
    finish_deploy(settings, {result.backup_dir});
    result.outcome = PullOutcome::applied;
    audit({options.pin ? "pin" : "pull", transition(result), result.to->number, target, result.plan.counts});
}

// One pull against the peer's repository (fetched already when this is called).
PullResult pull_once(const Settings& settings, const PullOptions& options, NodeRepo& node) {
    StatePaths state(settings.state);
    git_repository* repo = node.repo.get();

    PullResult result;
    node.tip = git::resolve_ref(repo, upstream_ref);
    NodeRecords records{read_record(state.deployed()), read_record(state.journal()),
                        read_record(state.pinned())};
    if (records.deployed) {
        node.current = records.deployed->commit;
        result.from = describe_release(repo, records.deployed->commit);
    }
    if (!node.tip) {
        result.outcome = PullOutcome::nothing_upstream;
        return result;
    }
    result.upstream = describe_release(repo, *node.tip);
    // Free when the tip is the deployed release.
    const bool deployed_upstream =
        !records.deployed || git::contains(repo, *node.tip, records.deployed->commit);
    CutDecision cut;
    if (!deployed_upstream) cut = follow_cut(settings, node, records, result);

    const git_oid target = choose_target(node, options, records, result);
    spdlog::debug("upstream at {}, this node at {}, target {}", release_name(result.upstream->number),
                  release_name(result.from ? std::optional(result.from->number) : std::nullopt),
                  release_name(result.to->number));
    require_directories(settings);
    if (records.deployed && !records.journal && git_oid_equal(&records.deployed->commit, &target)) {
        // The target is the deployed release: already trusted, or part of the cut's verified history.
        record_cut(cut, state, options, false);
        if (options.pin && !options.dry_run) {
            write_record(state.pinned(), pin_record(target, result.to->number, options));
            audit({"pin", "held at " + release_name(result.to->number), result.to->number, target, {}});
        }
        result.outcome = records.pinned && !options.to ? PullOutcome::pinned : PullOutcome::up_to_date;
        return result;
    }
    if (!deployed_upstream && !cut.follow && !options.accept_rewrite)
        throw rewritten_history(*records.deployed, cut);
    apply_target(settings, options, repo, target, records, cut, result);
    return result;
}

}  // namespace

// Runs on_change after a pull changed something. When it fails and on_change_failure = revert, the node goes
// back to the release it ran before and is held there (a pin with a reason) until the operator unpins it.
void run_on_change(const Settings& settings, NodeRepo& node, PullResult& result) {
    StatePaths state(settings.state);
    std::string list;
    for (const Step* s : steps_in_apply_order(result.plan)) {
        char tag = s->kind == StepKind::write         ? 'W'
                   : s->kind == StepKind::make_dir    ? 'A'
                   : s->kind == StepKind::change_mode ? 'X'
                                                      : 'D';
        list += std::string(1, tag) + " " + s->path + "\n";
    }
    fs::write_file_atomically(state.changed_files(), list, 0600, fs::Fsync::no);
    std::map<std::string, std::string> env{
        {"DEPSYNC_OLD_RELEASE", result.from ? std::to_string(result.from->number) : ""},
        {"DEPSYNC_NEW_RELEASE", std::to_string(result.to->number)},
        {"DEPSYNC_OLD_COMMIT", result.from ? git::to_hex(result.from->commit) : ""},
        {"DEPSYNC_NEW_COMMIT", git::to_hex(result.to->commit)},
        {"DEPSYNC_CHANGED_FILES", state.changed_files().string()},
        {"DEPSYNC_DIR", settings.dir.string()},
        {"DEPSYNC_ROOTS", roots_env(settings)},
        {"DEPSYNC_NODE", settings.node},
    };
    fs::CommandResult run = fs::run_command(settings.on_change, env, settings.hook_timeout);
    if (run.ok()) {
        record_on_change(settings.state, "");
        return;
    }
    std::string what =
        "on_change failed for r" + std::to_string(result.to->number) + " (" + run.describe() + ")";
    for (const std::string& line : run.lines()) spdlog::error("on_change: {}", line);
    record_on_change(settings.state, what);
    result.on_change_error = what;
    if (!settings.revert_on_change_failure || !result.from) return;

    DeployRequest back;
    back.target = result.from->commit;
    back.target_number = result.from->number;
    back.from = result.to->commit;
    back.policy = LocalChanges::overwrite;
    back.backup_label = "r" + std::to_string(result.from->number) + "-revert";
    DeployResult reverted = deploy_release(settings, node.repo.get(), back);
    DeployedRecord held = record_now(result.from->commit, result.from->number);
    write_record(state.deployed(), held);
    held.reason = what + "; reverted to r" + std::to_string(result.from->number);
    write_record(state.pinned(), held);
    finish_deploy(settings, {result.backup_dir, reverted.backup_dir});
    result.outcome = PullOutcome::reverted;
    audit({"pull",
           "reverted to " + release_name(result.from->number) + " after on_change failed for " +
               release_name(result.to->number) + "; held there",
           result.from->number, result.from->commit, reverted.plan.counts});
}

NodeRepo open_and_fetch(const Settings& settings) {
    NodeRepo node;
    node.repo = git::init_bare(StatePaths(settings.state).repo(), release_branch);
    // Only depsync writes a peer's repository, and the node lock is held: any lock file is stale.
    git::clear_leftovers(node.repo.get(), std::chrono::seconds(0));
    spdlog::debug("fetching {} from {}", primary_ref, git::redact_url(settings.remote));
    fetch_upstream(settings, node.repo.get());
    return node;
}

NewestRelease newest_release(const Settings& settings) {
    NewestRelease newest;
    if (settings.role == Role::primary) {
        NodeRepo node = open_node_repo(settings);
        if (node.tip) newest.release = describe_release(node.repo.get(), *node.tip);
        newest.source = "the primary's repository " + settings.repo.string();
        return newest;
    }
    require_peer(settings, "read the remote's newest release");
    const std::string remote = git::redact_url(settings.remote);
    std::optional<NodeRepo> node;
    try {
        fs::NodeLock lock(StatePaths(settings.state).lock(), settings.wait);
        node = open_and_fetch(settings);
        newest.source = "the remote " + remote + " (fetched now)";
    } catch (const Error& e) {
        // A pull holds the lock, or the remote cannot be reached: the copy fetched last still tells.
        node = open_node_repo(settings);
        newest.source = "the copy of " + remote + " fetched last (fetching now failed: " + e.what() + ")";
    }
    if (auto tip = git::resolve_ref(node->repo.get(), upstream_ref))
        newest.release = describe_release(node->repo.get(), *tip);
    return newest;
}

PullResult pull(const Settings& settings, const PullOptions& options) {
    require_peer(settings, options.pin ? "pin" : "pull");
    if (options.pin) check_pin_reason(options.pin_reason);
    StatePaths state(settings.state);
    fs::NodeLock lock(state.lock(), settings.wait);
    if (auto done = up_to_date_at_once(settings, options, state)) return *done;
    NodeRepo node = open_and_fetch(settings);
    PullResult result;
    // Where a damaged copy is set aside; kept after a failed repair (for a look), removed by a pull that
    // works.
    const std::filesystem::path aside = state.damaged_repo();
    try {
        result = pull_once(settings, options, node);
    } catch (const git::ObjectError& e) {
        // Objects are read (and hash-checked) before anything visible changes, so the directory is intact.
        // A damaged copy cannot be fixed by fetching into it (fetch skips objects it believes it has):
        // set it aside and fetch everything again.
        spdlog::warn("the fetched releases in {} are damaged ({}); fetching them again",
                     state.repo().string(), e.what());
        node.repo.reset();
        std::filesystem::remove_all(aside);
        std::filesystem::rename(state.repo(), aside);
        node = open_and_fetch(settings);
        result = pull_once(settings, options, node);
    }
    std::error_code ec;
    std::filesystem::remove_all(aside, ec);
    // After following a cut, the dropped releases' objects go (but those of the release the node runs).
    if (result.followed_cut && !options.dry_run) {
        try {
            git::PruneReport pruned = prune_peer_repository(settings, node.repo.get());
            spdlog::debug("pruned the fetched releases: {} -> {} bytes", pruned.bytes_before,
                          pruned.bytes_after);
        } catch (const Error& e) {
            spdlog::warn("cannot prune the fetched releases after the history cut: {} ('depsync gc' retries)",
                         e.what());
        }
    }
    if (result.outcome == PullOutcome::applied && !result.plan.empty() && !settings.on_change.empty())
        run_on_change(settings, node, result);
    return result;
}

std::optional<std::uint64_t> unpin(const Settings& settings) {
    require_peer(settings, "unpin");
    StatePaths state(settings.state);
    fs::NodeLock lock(state.lock(), settings.wait);
    std::optional<DeployedRecord> pinned = read_record(state.pinned());
    if (!pinned) return std::nullopt;
    std::filesystem::remove(state.pinned());
    audit({"unpin", "was held at " + release_name(pinned->release), pinned->release, pinned->commit, {}});
    return pinned->release;
}

}  // namespace depsync::sync
