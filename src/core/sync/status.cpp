#include "core/sync/status.hpp"

#include "core/error.hpp"
#include "core/git/repository.hpp"
#include "core/sync/history.hpp"
#include "core/sync/node_state.hpp"

namespace depsync::sync {

namespace {
std::optional<std::size_t> drift_count(const Settings& settings) {
    return verify_directory(settings, false).changes.size();
}
}  // namespace

NodeStatus read_status(const Settings& settings) {
    NodeStatus s;
    s.role = settings.role;
    s.node = settings.node;
    s.dir = settings.dir.string();
    for (const Root& r : settings.roots) s.dir += (s.dir.empty() ? "" : " ") + r.name + "=" + r.dir.string();
    StatePaths state(settings.state);
    s.run = read_run_record(settings.state);
    if (settings.role == Role::primary) {
        git::RepositoryPtr repo = git::open_repository(settings.repo);
        if (!repo)
            throw Error("no repository at " + settings.repo.string() + " (run 'depsync init primary' first)",
                        ExitCode::usage);
        if (auto head = git::resolve_ref(repo.get(), primary_ref)) {
            s.release = describe_release(repo.get(), *head);
            s.drift = drift_count(settings);  // unpublished changes
        }
        s.releases_behind = 0;  // the primary defines the newest release
        return s;
    }
    git::RepositoryPtr repo = git::open_repository(state.repo());
    std::optional<DeployedRecord> deployed = read_record(state.deployed());
    s.interrupted = std::filesystem::exists(state.journal());
    std::optional<DeployedRecord> pin = read_record(state.pinned());
    if (pin) {
        s.pinned = true;
        s.pinned_release = pin->release;
        s.pinned_at = pin->applied_at;
        s.pin_reason = pin->pin_reason.substr(0, max_pin_reason);  // pin bounds it; a hand edit is cut
        s.on_pin = deployed && !s.interrupted && git_oid_equal(&deployed->commit, &pin->commit);
        s.held = !pin->reason.empty();
        s.held_reason = pin->reason;
    }
    if (!repo) return s;
    if (deployed) {
        s.held_back = deployed->held_back.size();
        s.release = describe_release(repo.get(), deployed->commit);
        s.drift = drift_count(settings);
    }
    if (auto up = git::resolve_ref(repo.get(), upstream_ref)) s.upstream = describe_release(repo.get(), *up);
    if (s.upstream) {
        std::uint64_t deployed_number = s.release ? s.release->number : 0;
        s.releases_behind = s.upstream->number > deployed_number ? s.upstream->number - deployed_number : 0;
    }
    return s;
}

}  // namespace depsync::sync
