#include "core/git/fetch.hpp"

#include <cstring>
#include <set>

#include "core/error.hpp"
#include "core/git/handle.hpp"
#include "core/git/pack_receiver.hpp"
#include "core/git/repository.hpp"
#include "core/progress.hpp"

namespace depsync::git {
namespace {

// More refs than a release repository could ever have (a branch and a tag per release): a server that
// advertises more is refused before anything is downloaded.
constexpr std::size_t max_remote_refs = 100000;

// The progress line of the fetch under way (fetches run one at a time, in a child process).
Progress* fetch_progress = nullptr;

struct Connection {
    RemotePtr remote;
    explicit Connection(RemotePtr r) : remote(std::move(r)) {}
    Connection(Connection&&) = default;
    ~Connection() {
        if (remote) git_remote_disconnect(remote.get());
    }
};

Connection connect(git_repository* repo, TransportSession& session, const std::string& url,
                   git_direction dir) {
    Connection conn(nullptr);
    git_remote_callbacks callbacks = session.callbacks();
    git_remote* raw = nullptr;
    check(repo ? git_remote_create_anonymous(&raw, repo, url.c_str())
               : git_remote_create_detached(&raw, url.c_str()),
          "use remote " + redact_url(url));
    conn.remote.reset(raw);
    if (git_remote_connect(conn.remote.get(), dir, &callbacks, nullptr, nullptr) < 0)
        session.fail("connect to " + redact_url(url));
    return conn;
}

struct OidLess {
    bool operator()(const git_oid& a, const git_oid& b) const { return git_oid_cmp(&a, &b) < 0; }
};

// Every commit of `tip`'s history, read in one walk.
std::set<git_oid, OidLess> history_of(git_repository* repo, const git_oid& tip) {
    git_revwalk* raw = nullptr;
    check(git_revwalk_new(&raw, repo), "walk history");
    RevwalkPtr walk(raw);
    check(git_revwalk_push(walk.get(), &tip), "walk history");
    std::set<git_oid, OidLess> out;
    git_oid id;
    while (git_revwalk_next(&id, walk.get()) == 0) out.insert(id);
    return out;
}

bool ends_with(const char* s, const char* suffix) {
    std::size_t n = std::strlen(s), m = std::strlen(suffix);
    return n >= m && std::strcmp(s + n - m, suffix) == 0;
}

}  // namespace

void adopt_release_tags(git_repository* repo, const std::vector<RemoteTag>& tags, const git_oid& tip) {
    std::optional<std::set<git_oid, OidLess>> history;  // walked once, and only when a tag needs it
    for (const RemoteTag& tag : tags) {
        std::optional<git_oid> have = resolve_ref(repo, tag.ref);
        if (have && git_oid_equal(&*have, &tag.id)) continue;
        int valid = 0;
        if (git_reference_name_is_valid(&valid, tag.ref.c_str()) < 0 || !valid) {
            git_error_clear();
            continue;
        }
        std::optional<git_oid> commit = peeled_commit(repo, tag.id);
        if (!commit) continue;
        if (!git_oid_equal(&*commit, &tip)) {
            if (!history) history = history_of(repo, tip);
            if (history->count(*commit) == 0) continue;
        }
        git_reference* raw = nullptr;
        check(git_reference_create(&raw, repo, tag.ref.c_str(), &tag.id, 1, "depsync fetch tags"),
              "update " + tag.ref);
        git_reference_free(raw);
    }
}

std::optional<git_oid> remote_tip(TransportSession& session, const std::string& remote_ref) {
    ensure_library();  // no repository was opened in this process
    const std::string& url = session.url_text();
    Connection conn = connect(nullptr, session, url, GIT_DIRECTION_FETCH);
    const git_remote_head** heads = nullptr;
    std::size_t count = 0;
    check(git_remote_ls(&heads, &count, conn.remote.get()), "list refs of " + redact_url(url));
    for (std::size_t i = 0; i < count; ++i)
        if (remote_ref == heads[i]->name) return heads[i]->oid;
    if (count == 0) return std::nullopt;
    throw Error(redact_url(url) + " is not a depsync repository (it has no " + remote_ref + ")",
                ExitCode::usage);
}

FetchOutcome fetch_branch(git_repository* repo, TransportSession& session, const FetchRequest& request) {
    const std::string& url = session.url_text();
    Connection conn = connect(repo, session, url, GIT_DIRECTION_FETCH);

    const git_remote_head** heads = nullptr;
    std::size_t count = 0;
    check(git_remote_ls(&heads, &count, conn.remote.get()), "list refs of " + redact_url(url));
    if (count > max_remote_refs)
        throw Error("cannot fetch from " + redact_url(url) + ": the server advertises " +
                    std::to_string(count) + " refs, more than the " + std::to_string(max_remote_refs) +
                    " a release repository can have; refused, nothing was downloaded");
    std::optional<git_oid> tip;
    std::vector<RemoteTag> tags;
    for (std::size_t i = 0; i < count; ++i) {
        const char* name = heads[i]->name;
        if (request.remote_ref == name) tip = heads[i]->oid;
        // "refs/tags/NAME^{}" lines only tell what an annotated tag peels to.
        if (std::strncmp(name, tags_prefix, std::strlen(tags_prefix)) == 0 && !ends_with(name, "^{}"))
            tags.push_back({name, heads[i]->oid});
    }
    if (!tip) {
        if (count == 0) return FetchOutcome::empty;
        throw Error(redact_url(url) + " is not a depsync repository (it has no " + request.remote_ref + ")",
                    ExitCode::usage);
    }
    std::optional<git_oid> have = resolve_ref(repo, request.local_ref);
    const bool tip_known = have && git_oid_equal(&*have, &*tip);
    // A tag made on the primary after its last release names objects a peer has, or brings a tag object.
    OdbPtr odb = open_odb(repo, "open objects");
    bool tag_objects_missing = false;
    for (const RemoteTag& tag : tags)
        tag_objects_missing = tag_objects_missing || !git_odb_exists(odb.get(), &tag.id);

    if (!tip_known || tag_objects_missing) {
        std::string spec = "+" + request.remote_ref + ":" + request.local_ref;
        std::string tag_spec = "+" + tag_ref("*") + ":" + tag_ref("*");
        char* spec_ptrs[2] = {spec.data(), tag_spec.data()};
        git_strarray refspecs{spec_ptrs, 2};
        git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
        opts.callbacks = session.callbacks();
        opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
        opts.prune = GIT_FETCH_NO_PRUNE;
        // The payload is the session's; the progress line is reached through a pointer of this fetch.
        Progress progress("fetch: objects");
        fetch_progress = &progress;
        opts.callbacks.transfer_progress = [](const git_indexer_progress* stats, void* payload) {
            if (fetch_progress) {
                fetch_progress->set_totals(stats->total_objects, 0);
                fetch_progress->set(stats->received_objects, stats->received_bytes);
            }
            return static_cast<TransportSession*>(payload)->check_received(stats->received_bytes);
        };
        receive_packs_in_pieces(repo);
        int rc = git_remote_download(conn.remote.get(), &refspecs, &opts);
        fetch_progress = nullptr;
        if (rc < 0) session.fail("fetch from " + redact_url(url));
    }
    // Anonymous remotes do not update refs on their own; refs are set only once their objects are complete.
    adopt_release_tags(repo, tags, *tip);
    if (tip_known) return FetchOutcome::unchanged;
    update_ref(repo, request.local_ref, *tip, have, "depsync fetch");
    return FetchOutcome::updated;
}

void push_refs(git_repository* repo, TransportSession& session, const std::vector<std::string>& refspecs) {
    const std::string& url = session.url_text();
    Connection conn = connect(repo, session, url, GIT_DIRECTION_PUSH);
    std::vector<char*> ptrs;
    std::vector<std::string> owned = refspecs;
    for (auto& s : owned) ptrs.push_back(s.data());
    git_strarray specs{ptrs.data(), ptrs.size()};
    git_push_options opts = GIT_PUSH_OPTIONS_INIT;
    opts.callbacks = session.callbacks();
    // An anonymous remote has no remote-tracking refs, so git_remote_push's update of them is not needed.
    if (git_remote_upload(conn.remote.get(), &specs, &opts) < 0) session.fail("push to " + redact_url(url));
    if (!session.push_rejections().empty())
        throw Error("cannot push to " + redact_url(url) + ": the remote refused " +
                    session.push_rejections());
}

}  // namespace depsync::git
