#include "core/sync/pull.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <ctime>

#include "core/error.hpp"
#include "core/fs/lock.hpp"
#include "core/git/leftovers.hpp"
#include "core/git/repository.hpp"
#include "core/sync/deploy.hpp"
#include "core/sync/node_repo.hpp"
#include "core/sync/node_state.hpp"
#include "core/sync/transfer.hpp"

namespace depsync::sync {
namespace {

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

// One pull against the peer's repository (fetched already when this is called).
PullResult pull_once(const Settings& settings, const PullOptions& options, NodeRepo& node) {
    StatePaths state(settings.state);
    git_repository* repo = node.repo.get();

    PullResult result;
    node.tip = git::resolve_ref(repo, upstream_ref);
    std::optional<DeployedRecord> deployed = read_record(state.deployed());
    std::optional<DeployedRecord> journal = read_record(state.journal());
    std::optional<DeployedRecord> pinned = read_record(state.pinned());
    if (deployed) {
        node.current = deployed->commit;
        result.from = describe_release(repo, deployed->commit);
    }
    if (!node.tip) {
        result.outcome = PullOutcome::nothing_upstream;
        return result;
    }
    result.upstream = describe_release(repo, *node.tip);

    git_oid target = *node.tip;
    if (options.to) {
        target = resolve_release(node, *options.to);
    } else if (pinned) {
        target = pinned->commit;
    }
    result.to = describe_release(repo, target);
    if (deployed && !journal && git_oid_equal(&deployed->commit, &target)) {
        if (options.pin)
            write_record(state.pinned(), DeployedRecord{target, result.to->number, std::time(nullptr)});
        result.outcome = pinned && !options.to ? PullOutcome::pinned : PullOutcome::up_to_date;
        return result;
    }
    if (deployed && !options.accept_rewrite && !git::contains(repo, *node.tip, deployed->commit))
        throw Error("cannot pull: upstream history no longer contains the deployed release r" +
                    std::to_string(deployed->release) + " (" + git::short_hex(deployed->commit) +
                    "); it was rewritten or is another repository. Nothing was applied (use --accept-rewrite "
                    "to apply it anyway)");

    DeployRequest request;
    request.target = target;
    request.target_number = result.to->number;
    if (deployed) request.from = deployed->commit;
    if (journal) request.interrupted = journal->commit;
    request.dry_run = options.dry_run;
    request.policy = settings.local_changes;
    request.backup_label = "r" + std::to_string(result.to->number);
    DeployResult applied = deploy_release(settings, repo, request);
    result.plan = std::move(applied.plan);
    result.backup_dir = applied.backup_dir;
    result.stale_temps_removed = applied.stale_temps_removed;
    if (options.dry_run) {
        result.outcome = PullOutcome::planned;
        return result;
    }
    write_record(state.deployed(), DeployedRecord{target, result.to->number, std::time(nullptr)});
    if (options.pin)
        write_record(state.pinned(), DeployedRecord{target, result.to->number, std::time(nullptr)});
    finish_deploy(settings);
    result.outcome = PullOutcome::applied;
    return result;
}

}  // namespace

PullResult pull(const Settings& settings, const PullOptions& options) {
    require_peer(settings, options.pin ? "pin" : "pull");
    StatePaths state(settings.state);
    fs::NodeLock lock(state.lock(), settings.wait);
    auto open_and_fetch = [&] {
        NodeRepo node;
        node.repo = git::init_bare(state.repo(), release_branch);
        // Only depsync writes a peer's repository, and the node lock is held: any lock file is stale.
        git::clear_leftovers(node.repo.get(), std::chrono::seconds(0));
        fetch_upstream(settings, node.repo.get());
        return node;
    };
    NodeRepo node = open_and_fetch();
    try {
        return pull_once(settings, options, node);
    } catch (const git::ObjectError& e) {
        // Objects are read (and hash-checked) before anything visible changes, so the directory is intact.
        // A damaged copy cannot be fixed by fetching into it (fetch skips objects it believes it has):
        // set it aside and fetch everything again.
        spdlog::warn("the fetched releases in {} are damaged ({}); fetching them again",
                     state.repo().string(), e.what());
        node.repo.reset();
        std::filesystem::path aside = state.root / "repo.git.damaged";
        std::filesystem::remove_all(aside);
        std::filesystem::rename(state.repo(), aside);
        node = open_and_fetch();
        PullResult result = pull_once(settings, options, node);
        std::filesystem::remove_all(aside);
        return result;
    }
}

std::optional<std::uint64_t> unpin(const Settings& settings) {
    require_peer(settings, "unpin");
    StatePaths state(settings.state);
    fs::NodeLock lock(state.lock(), settings.wait);
    std::optional<DeployedRecord> pinned = read_record(state.pinned());
    if (!pinned) return std::nullopt;
    std::filesystem::remove(state.pinned());
    return pinned->release;
}

}  // namespace depsync::sync
