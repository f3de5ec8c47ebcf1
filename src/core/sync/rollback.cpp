#include "core/sync/rollback.hpp"

#include <spdlog/spdlog.h>

#include "core/error.hpp"
#include "core/fs/lock.hpp"
#include "core/git/repository.hpp"
#include "core/git/signing.hpp"
#include "core/sync/audit.hpp"
#include "core/sync/deploy.hpp"
#include "core/sync/history.hpp"
#include "core/sync/node_repo.hpp"
#include "core/sync/node_state.hpp"
#include "core/sync/publish.hpp"

namespace depsync::sync {
namespace {

// Moves the branch to the rollback commit (it must still sit on `parent`) and tags it.
void point_branch(git_repository* repo, const git_oid& commit, const git_oid& parent, std::uint64_t number) {
    if (!git::update_ref(repo, primary_ref, commit, parent, "depsync rollback"))
        throw Error(
            "cannot roll back: the release branch moved during this run (another publisher?); run again");
    tag_release(repo, number, commit);
}

}  // namespace

void complete_interrupted_rollback(const Settings& settings, git_repository* repo) {
    StatePaths state(settings.state);
    std::optional<DeployedRecord> journal = read_record(state.journal());
    if (!journal) return;
    std::optional<git_oid> head = git::resolve_ref(repo, primary_ref);
    git::CommitPtr c = git::lookup_commit(repo, journal->commit);
    bool pending = head && git_commit_parentcount(c.get()) == 1 &&
                   git_oid_equal(git_commit_parent_id(c.get(), 0), &*head);
    if (pending) {
        spdlog::warn("completing rollback r{} that was interrupted", journal->release);
        DeployRequest request;
        request.target = journal->commit;
        request.target_number = journal->release;
        request.from = newest_safe_release(repo, *head, tree_limits(settings));
        request.interrupted = journal->commit;
        request.backup_label = "r" + std::to_string(journal->release) + "-unpublished";
        DeployResult applied = deploy_release(settings, repo, request);
        point_branch(repo, journal->commit, *head, journal->release);
        finish_deploy(settings, {applied.backup_dir});
        return;
    }
    finish_deploy(settings);
}

RollbackResult rollback(const Settings& settings, const RollbackOptions& options) {
    if (settings.role != Role::primary)
        throw Error(
            "cannot roll back: this node is a peer (rollback runs on the primary; "
            "use 'depsync pin REV' to hold a single peer)",
            ExitCode::usage);
    StatePaths state(settings.state);
    fs::NodeLock lock(state.lock(), settings.wait);
    if (!settings.signing_key.empty()) git::check_signing_key(settings.signing_key);
    NodeRepo node = open_node_repo(settings);
    git_repository* repo = node.repo.get();
    complete_interrupted_rollback(settings, repo);
    node.tip = git::resolve_ref(repo, primary_ref);
    node.current = node.tip;

    git_oid restored_id = resolve_release(node, options.rev);
    RollbackResult result;
    result.restored = describe_release(repo, restored_id);
    Release head = describe_release(repo, *node.tip);
    result.release = head;
    if (git_oid_equal(&head.tree, &result.restored.tree)) return result;

    VerifyResult drift = verify_directory(settings, false);
    if (!drift.changes.empty() && !options.force) {
        std::string list;
        for (const auto& c : drift.changes)
            list += (list.empty() ? " " : ", ") + std::string(1, c.status) + " " + c.path;
        throw Error(
            "cannot roll back: the deployment directory has unpublished changes (publish them, or use "
            "--force to save them to backup first):" +
            list);
    }

    ReleaseTrailers trailers{head.number + 1, settings.node, host_name(), result.restored.number,
                             roots_trailer(settings)};
    std::string message =
        options.message.empty() ? "rollback to r" + std::to_string(result.restored.number) : options.message;
    git::CommitFields fields{result.restored.tree,
                             head.commit,
                             format_release_message(message, trailers),
                             settings.node,
                             "depsync@" + trailers.host,
                             release_signer(settings)};
    git_oid commit = git::write_commit(repo, fields);

    DeployRequest request;
    request.target = commit;
    request.target_number = trailers.number;
    // What the directory holds: the branch's release, or below it the newest safe one when plain git pushed
    // an unsafe release that was never applied.
    request.from = newest_safe_release(repo, head.commit, tree_limits(settings));
    request.backup_label = "r" + std::to_string(trailers.number) + "-unpublished";
    DeployResult applied = deploy_release(settings, repo, request);
    point_branch(repo, commit, head.commit, trailers.number);
    finish_deploy(settings, {applied.backup_dir});
    result.created = true;
    result.release = describe_release(repo, commit);
    result.backup_dir = applied.backup_dir;
    audit({"rollback", release_name(trailers.number) + " restores " + release_name(result.restored.number),
           trailers.number, commit, applied.plan.counts});
    return result;
}

}  // namespace depsync::sync
