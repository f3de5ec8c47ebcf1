#include "core/sync/publish.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/fs/command.hpp"
#include "core/fs/lock.hpp"
#include "core/fs/owner.hpp"
#include "core/git/leftovers.hpp"
#include "core/git/object_writer.hpp"
#include "core/git/ref_file.hpp"
#include "core/git/repository.hpp"
#include "core/git/signing.hpp"
#include "core/sync/rollback.hpp"
#include "core/sync/scan.hpp"
#include "core/sync/stat_cache.hpp"
#include "core/sync/state_record.hpp"

namespace depsync::sync {
namespace {

// ": a.car: incomplete archive (why); b.xml: still being written" (one line: it ends up in one log record).
std::string list_problems(const ScanResult& scan) {
    std::string out;
    auto add = [&out](const std::string& item) { out += (out.empty() ? ": " : "; ") + item; };
    for (const auto& [path, why] : scan.incomplete) add(path + ": incomplete archive (" + why + ")");
    for (const auto& path : scan.changing) add(path + ": still being written");
    for (const auto& path : scan.recent) add(path + ": still being written");
    return out;
}

// Runs the operator's validate command on the directory as scanned; a failure blocks the release.
void validate_release(const Settings& settings, const git::Listing& previous, const git::Listing& next,
                      std::uint64_t number) {
    StatePaths state(settings.state);
    std::string list;
    for (const auto& c : git::diff_listings(previous, next))
        list += std::string(1, c.status) + " " + c.path + "\n";
    fs::write_file_atomically(state.changed_files(), list, 0600, fs::Fsync::no);
    fs::CommandResult run = fs::run_command(settings.validate,
                                            {{"DEPSYNC_DIR", settings.dir.string()},
                                             {"DEPSYNC_ROOTS", roots_env(settings)},
                                             {"DEPSYNC_RELEASE", std::to_string(number)},
                                             {"DEPSYNC_CHANGED_FILES", state.changed_files().string()},
                                             {"DEPSYNC_NODE", settings.node}},
                                            settings.hook_timeout);
    if (run.ok()) return;
    for (const std::string& line : run.lines()) spdlog::error("validate: {}", line);
    throw Error("cannot publish: validate failed (" + run.describe() + "); nothing was published" +
                (run.output.empty() ? std::string() : " (its output is above)"));
}

// The state file `published`: which tree and number the release the branch pointed at after this node's
// last publish has. It lets a publish that finds the directory unchanged end without opening the
// repository: the branch is read from its ref file, and the record counts only when it names that commit.
// Only an accelerator: a missing, damaged or outdated record sends the run the ordinary way, which
// rewrites it.
void write_published(const StatePaths& state, const Release& release) {
    StateRecord fields;
    fields.set("commit", release.commit).set("tree", release.tree).set("release", release.number);
    write_state_record(state.published(), fields, fs::Fsync::no);
}

// The current release when the branch still points where `published` says and its tree is `tree`.
std::optional<Release> unchanged_release(const StatePaths& state, const std::filesystem::path& git_dir,
                                         const git_oid& tree) {
    std::optional<git_oid> head = git::read_ref_file(git_dir, primary_ref);
    if (!head) return std::nullopt;
    Release release;
    try {
        std::optional<StateRecord> fields = read_state_record(state.published());
        if (!fields) return std::nullopt;
        std::optional<git_oid> commit = fields->get_oid("commit"), recorded_tree = fields->get_oid("tree");
        std::optional<std::uint64_t> number = fields->get_unsigned("release");
        if (!commit || !recorded_tree || !number || *number == 0 || !git_oid_equal(&*commit, &*head) ||
            !git_oid_equal(&*recorded_tree, &tree))
            return std::nullopt;
        release.commit = *commit;
        release.number = *number;
    } catch (const Error&) {
        return std::nullopt;
    }
    release.tree = tree;
    return release;
}

}  // namespace

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) < 0) return "unknown";
    return buf;
}

PublishResult publish(const Settings& settings, const PublishOptions& options) {
    if (settings.role != Role::primary)
        throw Error("cannot publish: this node is a peer (publish runs on the primary)", ExitCode::usage);
    StatePaths state(settings.state);
    fs::NodeLock lock(state.lock(), settings.wait);
    // A key that cannot sign is found before anything is written.
    if (!settings.signing_key.empty()) git::check_signing_key(settings.signing_key);

    // The repository is opened only when there is something to write (or a rollback to complete): a publish
    // that finds nothing changed reads the branch from its ref file and never starts libgit2.
    git::RepositoryPtr repo;
    auto open_repo = [&]() -> git_repository* {
        if (repo) return repo.get();
        repo = git::open_repository(settings.repo);
        if (!repo)
            throw Error("cannot publish: no repository at " + settings.repo.string() +
                            " (run 'depsync init primary' first)",
                        ExitCode::usage);
        // Plain git may push to this repository too: a lock file younger than 2 s is waited for (a killed
        // publish leaves a fresh one on the branch, and the retry must go through), an older one is stale.
        git::clear_leftovers(repo.get(), std::chrono::seconds(2), true);
        return repo.get();
    };
    std::error_code ec;
    std::filesystem::path git_dir = settings.repo;
    const bool bare_layout = std::filesystem::is_directory(git_dir / "objects", ec) &&
                             std::filesystem::is_directory(git_dir / "refs", ec);
    if (!bare_layout || std::filesystem::exists(state.journal(), ec)) {
        complete_interrupted_rollback(settings, open_repo());
        git_dir = git_repository_path(repo.get());
    }
    git::ObjectWriter writer(git_dir / "objects");
    std::vector<std::string> patterns = settings.exclude;
    patterns.insert(patterns.end(), settings.node_local.begin(), settings.node_local.end());
    fs::PathMatcher exclude(patterns);

    // The common case first: nothing changed since the last publish. One pass over the directory against
    // the saved cache (an lstat per entry), and the branch read from its ref file.
    const git_oid fingerprint = scan_fingerprint(roots_of(settings), patterns);
    // Each root is opened once, without following symlinks: every scan of this run reads through it.
    const OpenRoots roots = open_roots(roots_of(settings));
    PublishResult result;
    std::optional<TreeRead> walked;  // what the check read: the first scan below uses it instead of walking
    if (std::optional<CacheSnapshot> snapshot = CacheSnapshot::read(state.stat_cache());
        snapshot && git_oid_equal(&snapshot->fingerprint(), &fingerprint)) {
        walked = read_tree(roots, &exclude);
        std::optional<Release> same;
        if (tree_unchanged(*walked, *snapshot) &&
            (same = unchanged_release(state, git_dir, snapshot->tree()))) {
            result.release = same;
            result.mirrors = push_mirrors(settings, git_dir, same->commit);
            return result;
        }
    }

    StatCache cache = StatCache::load(state.stat_cache());
    ScanOptions scan_options;
    scan_options.exclude = &exclude;
    scan_options.writer = &writer;
    scan_options.check_archives = true;
    scan_options.refuse_foreign_links = true;
    if (!settings.owner.empty()) scan_options.owner = fs::parse_owner(settings.owner).uid;

    // Files still being copied in are waited for, briefly; publishing them half-written is never an option.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(settings.settle);
    ScanResult scan = scan_roots(roots, scan_options, cache, walked ? &*walked : nullptr);
    // A file modified in the last 200 ms may still be growing: look again until it holds still. The files
    // get a second look even when the first scan alone outlasted `settle` (a large tree on a busy machine).
    bool looked_again = false;
    while (!scan.incomplete.empty() || !scan.changing.empty() || !scan.recent.empty()) {
        if (looked_again && std::chrono::steady_clock::now() >= deadline) {
            cache.save(state.stat_cache());
            char waited[32];
            std::snprintf(waited, sizeof waited, "%g", settings.settle);
            throw Error("cannot publish: files are incomplete after waiting " + std::string(waited) +
                        " s; nothing was published (retry when the copy has finished)" + list_problems(scan));
        }
        spdlog::info("waiting for files still being written:{}", list_problems(scan));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        scan = scan_roots(roots, scan_options, cache);
        looked_again = true;
    }
    for (const auto& p : scan.skipped) spdlog::warn("not published (special file or unsafe name): {}", p);

    std::optional<git_oid> head = git::resolve_ref(open_repo(), primary_ref);
    std::optional<Release> current;
    if (head) current = describe_release(repo.get(), *head);
    // The current release's blobs are in the repository: only the others are checked before a tree names
    // them. A current release pushed by plain git that no node applies (an unsafe one) is replaced by this
    // publish: its listing is what could be read of it, used only for that check and the counts.
    git::Listing previous;
    if (current) {
        git::InspectedTree read = git::inspect_tree(repo.get(), current->tree, tree_limits(settings));
        if (read.defect)
            spdlog::warn("the current release r{} ({}) is unsafe ({}); this publish replaces it",
                         current->number, git::short_hex(current->commit), read.defect->text());
        previous = std::move(read.listing);
    }
    git_oid tree = git::write_tree(repo.get(), scan.listing, &previous);
    if (current && git_oid_equal(&current->tree, &tree)) {
        cache.save(state.stat_cache(), &tree, &fingerprint);
        write_published(state, *current);
        result.release = current;
        result.mirrors = push_mirrors(settings, repo.get());
        return result;
    }

    // The release is checked the way a peer will read it: a path or symlink peers would refuse (a link
    // pointing outside the tree) is refused here, before it becomes a release every peer rejects.
    try {
        git::validate_listing(repo.get(), scan.listing, tree_limits(settings));
    } catch (const git::ObjectError&) {
        throw;
    } catch (const Error& e) {
        throw Error(std::string("cannot publish: ") + e.what());
    }
    result.counts = git::count_changes(previous, scan.listing);
    ReleaseTrailers trailers{current ? current->number + 1 : 1, settings.node, host_name(), std::nullopt,
                             roots_trailer(settings)};
    if (!settings.validate.empty()) validate_release(settings, previous, scan.listing, trailers.number);
    git::CommitFields fields{tree,
                             head,
                             format_release_message(options.message, trailers),
                             settings.node,
                             "depsync@" + trailers.host,
                             release_signer(settings)};
    git_oid commit = git::write_commit(repo.get(), fields);
    writer.sync();
    // The branch is the publish point: a peer sees the release only once every object is in place.
    if (!git::update_ref(repo.get(), primary_ref, commit, head, "depsync publish"))
        throw Error(
            "cannot publish: the release branch moved during this run (another publisher?); run again");
    tag_release(repo.get(), trailers.number, commit);
    cache.save(state.stat_cache(), &tree, &fingerprint);
    result.published = true;
    result.release = describe_release(repo.get(), commit);
    write_published(state, *result.release);
    result.mirrors = push_mirrors(settings, repo.get());
    spdlog::info("published r{} ({} files hashed)", trailers.number, scan.hashed);
    return result;
}

}  // namespace depsync::sync
