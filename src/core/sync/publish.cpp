#include "core/sync/publish.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <future>
#include <iterator>
#include <map>
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
#include "core/sync/audit.hpp"
#include "core/sync/rollback.hpp"
#include "core/sync/run_record.hpp"
#include "core/sync/scan.hpp"
#include "core/sync/stat_cache.hpp"
#include "core/sync/state_record.hpp"

namespace depsync::sync {
namespace {

// ": a.car: incomplete archive (why); b.xml: still being written" (one line: it ends up in one log record).
std::string list_problems(const ScanResult& scan) {
    std::string out;
    auto add = [&out](const std::string& item) { out += (out.empty() ? ": " : "; ") + item; };
    for (const auto& d : scan.incomplete) add(d.path + ": incomplete archive (" + d.defect + ")");
    for (const auto& path : scan.changing) add(path + ": still being written");
    for (const auto& path : scan.recent) add(path + ": still being written");
    return out;
}

// Runs the operator's validate command on the directory as scanned (`diff`: what it changes); a failure
// blocks the release.
void validate_release(const Settings& settings, const std::vector<git::PathChange>& diff,
                      std::uint64_t number) {
    StatePaths state(settings.state);
    std::string list;
    for (const auto& c : diff) list += std::string(1, c.status) + " " + c.path + "\n";
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

// What the phases of one publish share.
struct PublishRun {
    explicit PublishRun(const Settings& s) : settings(s), state(s.state), git_dir(s.repo) {}
    const Settings& settings;
    StatePaths state;
    git::RepositoryPtr repo;        // opened on first use (open_repo)
    std::filesystem::path git_dir;  // the repository's folder
    const fs::PathMatcher* exclude = nullptr;
    git_oid fingerprint{};  // of the roots and patterns, saved with the stat cache
    OpenRoots roots;
    PublishMemory* memory = nullptr;  // a watcher's (PublishOptions::memory)
    // The current release's listing as the stat cache loaded from the state folder holds it (its folders
    // named by their trees), when that cache describes the release the branch names (incremental_base):
    // used instead of reading the release's trees back from the repository.
    const git::Listing* vouched = nullptr;
    git_oid vouched_tree{};
};

// The repository is opened only when there is something to write (or a rollback to complete): a publish
// that finds nothing changed reads the branch from its ref file and never starts libgit2.
git_repository* open_repo(PublishRun& run) {
    if (run.repo) return run.repo.get();
    run.repo = git::open_repository(run.settings.repo);
    if (!run.repo)
        throw Error("cannot publish: no repository at " + run.settings.repo.string() +
                        " (run 'depsync init primary' first)",
                    ExitCode::usage);
    // Plain git may push to this repository too: a lock file younger than 2 s is waited for (a killed
    // publish leaves a fresh one on the branch, and the retry must go through), an older one is stale.
    git::clear_leftovers(run.repo.get(), std::chrono::seconds(2), true);
    return run.repo.get();
}

// A rollback killed half-way (the journal names it) is completed before anything is published. A
// repository that is not a bare one (git_dir is read without libgit2 otherwise) is opened here too.
void finish_interrupted_rollback(PublishRun& run) {
    std::error_code ec;
    const bool bare_layout = std::filesystem::is_directory(run.git_dir / "objects", ec) &&
                             std::filesystem::is_directory(run.git_dir / "refs", ec);
    if (!bare_layout || std::filesystem::exists(run.state.journal(), ec)) {
        complete_interrupted_rollback(run.settings, open_repo(run));
        run.git_dir = git::repository_dir(run.repo.get());
    }
}

// The fast path: the current release when nothing changed since the last publish. One pass over the
// directory against the saved cache (an lstat per entry), and the branch read from its ref file. `walked`
// receives what the pass read, for the scan that follows when something did change.
std::optional<Release> unchanged_since_last_publish(const PublishRun& run, std::optional<TreeRead>& walked) {
    std::optional<CacheSnapshot> snapshot = CacheSnapshot::read(run.state.stat_cache());
    if (!snapshot || !git_oid_equal(&snapshot->fingerprint(), &run.fingerprint)) return std::nullopt;
    walked = read_tree(run.roots, run.exclude);
    if (!tree_unchanged(*walked, *snapshot)) return std::nullopt;
    return unchanged_release(run.state, run.git_dir, snapshot->tree());
}

// The last publish's listing, for a scan that reads only the changed folders: the stat cache was saved by
// the publish of the release the branch still names (the `published` record, the branch and the cache name
// the same tree) with the same roots and patterns, and its listing hashes to that tree (a damaged cache
// would otherwise vouch for blobs the repository lacks). nullopt: the whole directory is read.
std::optional<git::Listing> incremental_base(const PublishRun& run, const StatCache& cache) {
    if (!cache.tree() || !cache.fingerprint() || !git_oid_equal(&*cache.fingerprint(), &run.fingerprint) ||
        !unchanged_release(run.state, run.git_dir, *cache.tree()))
        return std::nullopt;
    git::Listing base = cache.listing();
    // A named root is listed as a folder but not cached.
    for (const OpenRoot& root : run.roots)
        if (!root.name.empty()) base[root.name] = git::Entry{git::EntryKind::directory, {}};
    const git_oid listed = git::tree_id(base);
    if (!git_oid_equal(&listed, &*cache.tree())) {
        spdlog::warn("the stat cache does not match the release it names; reading the whole directory");
        return std::nullopt;
    }
    return base;
}

// The listing a watcher's scan starts from (see IncrementalScan), or null: the whole directory is read. A
// watcher's memory is brought up to date in place (merge_scan); a listing read from the state folder
// (`base`) is copied into the scan's, as the memory then keeps it. That listing, when it names every
// folder's tree, also stands for the current release (run.vouched), whose trees then are not read back from
// the repository: on a publish run by hand too.
const git::Listing* scan_base(PublishRun& run, const PublishOptions& options, const StatCache& cache,
                              bool from_disk, bool partial, std::optional<git::Listing>& base) {
    if (!partial && from_disk && (base = incremental_base(run, cache)) && cache.folders_named()) {
        run.vouched = &*base;
        run.vouched_tree = *cache.tree();
    }
    const git::Listing* listing = nullptr;
    if (partial) {
        listing = &*run.memory->listing;
    } else if (options.changed && base) {
        listing = &*base;
    }
    if (listing) {
        spdlog::debug("reading {} changed folders and {} new subtrees", options.changed->folders.size(),
                      options.changed->subtrees.size());
    } else if (options.changed) {
        spdlog::debug("reading the whole directory: the stat cache does not describe the current release");
    }
    return listing;
}

// An incomplete archive as the waiting publish follows it.
struct WatchedArchive {
    StatKey stat;               // as last seen
    std::int64_t first_ns = 0;  // when this publish first saw it with that stat
    bool quiet = false;         // unchanged for twice `settle` when first seen, and since
};

// Follows the incomplete archives of one scan: an archive that held still for twice `settle` before this
// publish saw it, and for `settle` while it looked, is finished but malformed (the primary runs it as it is,
// so it is published as it is; MI reports it). Twice: a watcher starts a publish `settle` after the last
// change, so a copy that stalls for `settle` must not look finished. One that moves while this publish looks
// is still being written, for the rest of the run. Returns whether `accepted` (the stats a scan takes such
// archives with) grew.
bool follow_archives(const ScanResult& scan, std::int64_t seen_ns, double settle,
                     std::map<std::string, WatchedArchive>& watched,
                     std::map<std::string, StatKey>& accepted) {
    const auto settle_ns = static_cast<std::int64_t>(settle * 1e9);
    bool grew = false;
    for (const ArchiveDefect& d : scan.incomplete) {
        auto [it, added] = watched.try_emplace(d.path);
        WatchedArchive& w = it->second;
        if (added) {
            w = {d.stat, seen_ns, seen_ns - std::max(d.stat.mtime_ns, d.stat.ctime_ns) >= 2 * settle_ns};
        } else if (!(w.stat == d.stat)) {
            w = {d.stat, seen_ns, false};
        }
        if (w.quiet && seen_ns - w.first_ns >= settle_ns && !accepted.count(d.path)) {
            accepted[d.path] = d.stat;
            grew = true;
        }
    }
    return grew;
}

std::vector<std::pair<std::string, std::string>> malformed_of(const ScanResult& scan) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const ArchiveDefect& d : scan.malformed) out.emplace_back(d.path, d.defect);
    return out;
}

// What this run read replaces what the last publish recorded: a later scan's cache hit on a listed path is
// the file this run read (a repaired archive read while it was recent is not reported from the old record).
void learn_malformed(std::map<std::string, std::string>& known, const ScanResult& scan) {
    for (auto it = known.begin(); it != known.end();)
        it = scan.listing.count(it->first) ? known.erase(it) : std::next(it);
    for (const ArchiveDefect& d : scan.malformed) known[d.path] = d.defect;
}

// True while a file is still being written: changing or recent files, incomplete archives not quiet.
bool writers_active(const ScanResult& scan, const std::map<std::string, WatchedArchive>& watched) {
    if (!scan.changing.empty() || !scan.recent.empty()) return true;
    for (const ArchiveDefect& d : scan.incomplete)
        if (!watched.at(d.path).quiet) return true;
    return false;
}

// Scans until every file holds still. Files still being copied in are waited for, briefly; publishing them
// half-written is never an option. A file modified in the last 200 ms may still be growing: look again
// until it holds still. The files get a second look even when the first scan alone outlasted `settle` (a
// large tree on a busy machine). Malformed archives that hold still are taken as they are (follow_archives).
ScanResult settled_scan(const PublishRun& run, ScanOptions options, StatCache& cache,
                        const TreeRead* walked) {
    const Settings& settings = run.settings;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(settings.settle);
    std::map<std::string, WatchedArchive> watched;
    std::map<std::string, StatKey> accepted;
    options.accept_malformed = &accepted;
    std::map<std::string, std::string> known;
    if (options.known_malformed) known = *options.known_malformed;
    options.known_malformed = &known;
    std::int64_t seen_ns = now_ns();
    ScanResult scan = scan_roots(run.roots, options, cache, walked);
    const bool partial = options.incremental && options.incremental->partial;
    bool looked_again = false;
    while (!scan.incomplete.empty() || !scan.changing.empty() || !scan.recent.empty()) {
        // An archive just taken as it is is listed by a scan at once.
        bool accept_now = follow_archives(scan, seen_ns, settings.settle, watched, accepted);
        if (!accept_now && looked_again && std::chrono::steady_clock::now() >= deadline &&
            writers_active(scan, watched)) {
            // The cache may now vouch for an archive taken as it is: the record must name it first.
            record_malformed_archives(settings.state, malformed_of(scan));
            cache.save(run.state.stat_cache());
            char waited[32];
            std::snprintf(waited, sizeof waited, "%g", settings.settle);
            throw Error("cannot publish: files are incomplete after waiting " + std::string(waited) +
                        " s; nothing was published (retry when the copy has finished)" + list_problems(scan));
        }
        if (!accept_now) {
            spdlog::debug("waiting for files still being written{}", list_problems(scan));
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        learn_malformed(known, scan);
        seen_ns = now_ns();
        ScanResult next = scan_roots(run.roots, options, cache);
        // A partial scan's cache keeps what it does not see: a file an earlier look listed and this one
        // does not (removed, or now being written) is forgotten here, as a full scan drops it.
        if (partial)
            for (const auto& kv : scan.listing)
                if (!next.listing.count(kv.first)) cache.erase(kv.first);
        scan = std::move(next);
        looked_again = true;
    }
    return scan;
}

// The release the branch names, with what could be read of its listing.
struct CurrentRelease {
    std::optional<git_oid> head;          // the branch (none in a new repository)
    std::optional<Release> release;       // the release it names
    git::Listing read;                    // its listing as read from the repository
    const git::Listing* known = nullptr;  // or the listing a watcher's last publish scanned for its tree
    const git::Listing& listing() const { return known ? *known : read; }
};

// The current release's blobs are in the repository: only the others are checked before a tree names
// them. A current release pushed by plain git that no node applies (an unsafe one) is replaced by this
// publish: its listing is what could be read of it, used only for that check and the counts.
CurrentRelease current_release(PublishRun& run) {
    CurrentRelease current;
    current.head = git::resolve_ref(open_repo(run), primary_ref);
    if (!current.head) return current;
    current.release = describe_release(run.repo.get(), *current.head);
    const Release& r = *current.release;
    // Trees are named by their content: the listing this watcher published as that tree is the tree's.
    if (run.memory && run.memory->listing && git_oid_equal(&run.memory->tree, &r.tree)) {
        current.known = &*run.memory->listing;
        return current;
    }
    if (run.vouched && git_oid_equal(&run.vouched_tree, &r.tree)) {
        current.known = run.vouched;
        return current;
    }
    git::InspectedTree read = git::inspect_tree(run.repo.get(), r.tree, tree_limits(run.settings));
    if (read.defect)
        spdlog::warn("the current release r{} ({}) is unsafe ({}); this publish replaces it", r.number,
                     git::short_hex(r.commit), read.defect->text());
    current.read = std::move(read.listing);
    return current;
}

// The stat cache now describes `tree`: saved with it, or for a watcher kept in its memory (saved once idle).
void keep_cache(const PublishRun& run, const StatCache& cache, const git_oid& tree) {
    if (!run.memory) {
        cache.save(run.state.stat_cache(), &tree, &run.fingerprint);
        return;
    }
    run.memory->tree = tree;
    run.memory->fingerprint = run.fingerprint;
    run.memory->unsaved = true;
}

// The stat cache a publish reads and updates: a watcher's own once it has one for these roots and patterns
// (never older than the state folder's copy, which this watcher wrote), otherwise the state folder's, which
// a watcher keeps from then on. `from_disk`: loaded now, so its saved tags (tree, fingerprint) are current.
StatCache& stat_cache_of(const PublishRun& run, std::optional<StatCache>& local, bool& from_disk) {
    PublishMemory* m = run.memory;
    if (m && m->cache && git_oid_equal(&m->fingerprint, &run.fingerprint)) return *m->cache;
    from_disk = true;
    if (!m) return local.emplace(StatCache::load(run.state.stat_cache()));
    m->cache = StatCache::load(run.state.stat_cache());
    m->listing.reset();
    m->trees.clear();
    m->unsaved = false;
    return *m->cache;
}

// A watcher's memory when it still describes the current release (see PublishMemory).
bool memory_current(const PublishRun& run) {
    const PublishMemory* m = run.memory;
    return m && m->cache && m->listing && git_oid_equal(&m->fingerprint, &run.fingerprint) &&
           unchanged_release(run.state, run.git_dir, m->tree);
}

// Forgets a watcher's memory unless the publish ran to its end: a scan that stopped half-way left the cache
// holding entries of another tree than the one the memory names.
struct MemoryGuard {
    PublishMemory* memory;
    bool done = false;
    ~MemoryGuard() {
        if (!memory || done) return;
        memory->cache.reset();
        memory->listing.reset();
        memory->trees.clear();
        memory->unsaved = false;
    }
};

// The directory as the settled scan read it.
struct Scanned {
    const git::Listing& listing;
    // Set when `listing` is a watcher's memory brought up to date by a partial scan: what it changed from
    // the current release, which the memory's listing no longer holds.
    const std::vector<git::EntryChange>* changes = nullptr;
};

// Writes the trees of the scanned directory: with the changes known, only the folders above them (the
// watcher's memory knows the other trees); otherwise all of them, which a watcher then remembers.
// `ids` receives the tree of every folder (a watcher's are its memory's, and hold the other folders').
git_oid write_release_tree(const PublishRun& run, const CurrentRelease& current, const Scanned& scanned,
                           git::TreeIds& ids, git::ObjectWriter& writer) {
    git_repository* repo = run.repo.get();
    if (scanned.changes) {
        ids.forget(*scanned.changes);
        return ids.write(repo, scanned.listing, *scanned.changes, &writer);
    }
    ids.clear();
    return git::write_tree(repo, scanned.listing, &current.listing(), &writer, &ids);
}

// The release is checked the way a peer will read it: a path or symlink peers would refuse (a link
// pointing outside the tree) is refused here, before it becomes a release every peer rejects.
void check_release(const PublishRun& run, const Scanned& scanned) {
    try {
        if (scanned.changes) {
            git::validate_changes(run.repo.get(), scanned.listing, *scanned.changes,
                                  tree_limits(run.settings));
        } else {
            git::validate_listing(run.repo.get(), scanned.listing, tree_limits(run.settings));
        }
    } catch (const git::ObjectError&) {
        throw;
    } catch (const Error& e) {
        throw Error(std::string("cannot publish: ") + e.what());
    }
}

// Writes the scanned directory as the next release, unless its tree is the current release's.
PublishResult commit_release(PublishRun& run, const PublishOptions& options, const Scanned& scanned,
                             std::size_t hashed, StatCache& cache, git::ObjectWriter& writer) {
    const Settings& settings = run.settings;
    PublishResult result;
    const CurrentRelease current = current_release(run);
    git_repository* repo = run.repo.get();
    git::TreeIds own_ids;
    git::TreeIds& ids = run.memory ? run.memory->trees : own_ids;
    git_oid tree = write_release_tree(run, current, scanned, ids, writer);
    // The cache then lists the release's trees too: the next publish reads the current release from it.
    cache.name_folders(ids);
    if (current.release && git_oid_equal(&current.release->tree, &tree)) {
        // A publish killed after moving the branch and before tagging left the release without its tag
        // (and `published` behind, which brings the run here): the tag is made now.
        if (current.release->number > 0) tag_release(repo, current.release->number, current.release->commit);
        keep_cache(run, cache, tree);
        write_published(run.state, *current.release);
        result.release = current.release;
        result.mirrors = push_mirrors(settings, repo);
        return result;
    }
    check_release(run, scanned);
    result.counts = scanned.changes ? git::count_changes(*scanned.changes)
                                    : git::count_changes(current.listing(), scanned.listing);
    ReleaseTrailers trailers{current.release ? current.release->number + 1 : 1, settings.node, host_name(),
                             std::nullopt, roots_trailer(settings)};
    if (!settings.validate.empty())
        validate_release(settings,
                         scanned.changes ? git::diff_changes(*scanned.changes)
                                         : git::diff_listings(current.listing(), scanned.listing),
                         trailers.number);
    git::CommitFields fields{tree,
                             current.head,
                             format_release_message(options.message, trailers),
                             settings.node,
                             "depsync@" + trailers.host,
                             release_signer(settings)};
    git_oid commit = git::write_commit(repo, fields);
    // Only what the release adds is flushed (its new blobs and trees, the commit, their folders), not the
    // whole file system: a syncfs also wrote out every unrelated dirty page (logs, artifacts just copied).
    writer.must_flush(commit);
    writer.sync();
    // The branch is the publish point: a peer sees the release only once every object is in place; the
    // branch itself is flushed last, so a crash never leaves it naming objects that were lost.
    if (!git::update_ref(repo, primary_ref, commit, current.head, "depsync publish"))
        throw Error(
            "cannot publish: the release branch moved during this run (another publisher?); run again");
    git::flush_ref(repo, primary_ref);
    tag_release(repo, trailers.number, commit);
    keep_cache(run, cache, tree);
    result.published = true;
    result.release = describe_release(repo, commit);
    write_published(run.state, *result.release);
    result.mirrors = push_mirrors(settings, repo);
    spdlog::debug("published r{} ({} files hashed)", trailers.number, hashed);
    audit({"publish", release_name(trailers.number), trailers.number, commit, result.counts});
    return result;
}

}  // namespace

void PublishMemory::save(const Settings& settings) {
    if (!unsaved || !cache) return;
    cache->save(StatePaths(settings.state).stat_cache(), &tree, &fingerprint);
    unsaved = false;
}

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) < 0) return "unknown";
    return buf;
}

PublishResult publish(const Settings& settings, const PublishOptions& options) {
    if (settings.role != Role::primary)
        throw Error("cannot publish: this node is a peer (publish runs on the primary)", ExitCode::usage);
    PublishRun run(settings);
    fs::NodeLock lock(run.state.lock(), settings.wait);
    // A key that cannot sign is found before anything is written.
    if (!settings.signing_key.empty()) git::check_signing_key(settings.signing_key);
    finish_interrupted_rollback(run);
    git::ObjectWriter writer(run.git_dir / "objects");
    const std::vector<std::string> patterns = untouchable_patterns(settings);
    const fs::PathMatcher exclude(patterns);
    run.exclude = &exclude;
    run.fingerprint = scan_fingerprint(roots_of(settings), patterns);
    // Each root is opened once, without following symlinks: every scan of this run reads through it.
    run.roots = open_roots(roots_of(settings));

    // The common case first: nothing changed since the last publish. A watcher names what changed instead.
    std::optional<TreeRead> walked;  // what the check read: the first scan below uses it instead of walking
    std::optional<Release> same;
    if (!options.changed) same = unchanged_since_last_publish(run, walked);
    if (same) {
        PublishResult result;
        result.release = same;
        result.malformed = read_run_record(settings.state).malformed_archives;
        result.mirrors = push_mirrors(settings, run.git_dir, same->commit);
        return result;
    }
    // Something changed: libgit2 will be needed. Its start (mbedTLS parses the system CA bundle) runs
    // beside the scan instead of after it.
    std::future<void> library = std::async(std::launch::async, git::ensure_library);
    run.memory = options.memory;
    MemoryGuard guard{options.memory};
    const bool warm = memory_current(run);
    std::optional<StatCache> loaded;
    bool from_disk = false;
    StatCache& cache = stat_cache_of(run, loaded, from_disk);
    ScanOptions scan_options;
    scan_options.exclude = &exclude;
    scan_options.writer = &writer;
    scan_options.check_archives = true;
    scan_options.refuse_foreign_links = true;
    if (!settings.owner.empty()) scan_options.owner = fs::parse_owner(settings.owner).uid;
    const RunRecord last = read_run_record(settings.state);
    const std::map<std::string, std::string> known(last.malformed_archives.begin(),
                                                   last.malformed_archives.end());
    scan_options.known_malformed = &known;
    const bool partial = options.changed && warm;
    std::optional<git::Listing> base;
    IncrementalScan incremental;
    if (const git::Listing* base_listing = scan_base(run, options, cache, from_disk, partial, base)) {
        incremental = {base_listing, options.changed, partial};
        scan_options.incremental = &incremental;
    }
    ScanResult scan = settled_scan(run, scan_options, cache, walked ? &*walked : nullptr);
    for (const auto& p : scan.skipped) spdlog::warn("not published (special file or unsafe name): {}", p);
    spdlog::debug("scanned {} entries, {} files hashed", scan.listing.size(), scan.hashed);
    // Recorded before the stat cache is saved: a later publish that finds the file in the cache learns from
    // this record that it is malformed.
    std::vector<std::pair<std::string, std::string>> malformed = malformed_of(scan);
    for (const auto& [path, defect] : malformed)
        spdlog::warn("{} is a malformed archive ({}); it is published as it is", path, defect);
    record_malformed_archives(settings.state, malformed);
    std::vector<git::EntryChange> changes;
    if (partial) changes = merge_scan(*run.memory->listing, scan, cache);
    const Scanned scanned = partial ? Scanned{*run.memory->listing, &changes} : Scanned{scan.listing};
    PublishResult result = commit_release(run, options, scanned, scan.hashed, cache, writer);
    if (run.memory && !partial) run.memory->listing = std::move(scan.listing);
    guard.done = true;
    result.malformed = std::move(malformed);
    return result;
}

}  // namespace depsync::sync
