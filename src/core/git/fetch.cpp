#include "core/git/fetch.hpp"

#include "core/error.hpp"
#include "core/git/handle.hpp"
#include "core/git/repository.hpp"

namespace depsync::git {
namespace {

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
    git_remote* raw = nullptr;
    check(git_remote_create_anonymous(&raw, repo, url.c_str()), "use remote " + redact_url(url));
    Connection conn(RemotePtr{raw});
    git_remote_callbacks callbacks = session.callbacks();
    if (git_remote_connect(conn.remote.get(), dir, &callbacks, nullptr, nullptr) < 0)
        session.fail("connect to " + redact_url(url));
    return conn;
}

}  // namespace

FetchOutcome fetch_branch(git_repository* repo, TransportSession& session, const FetchRequest& request) {
    const std::string& url = session.url_text();
    Connection conn = connect(repo, session, url, GIT_DIRECTION_FETCH);

    const git_remote_head** heads = nullptr;
    std::size_t count = 0;
    check(git_remote_ls(&heads, &count, conn.remote.get()), "list refs of " + redact_url(url));
    std::optional<git_oid> tip;
    for (std::size_t i = 0; i < count; ++i)
        if (request.remote_ref == heads[i]->name) tip = heads[i]->oid;
    if (!tip) {
        if (count == 0) return FetchOutcome::empty;
        throw Error(redact_url(url) + " is not a depsync repository (it has no " + request.remote_ref + ")",
                    ExitCode::usage);
    }
    std::optional<git_oid> have = resolve_ref(repo, request.local_ref);
    if (have && git_oid_equal(&*have, &*tip)) return FetchOutcome::unchanged;

    // Tags come along so that REV can name them on a peer.
    std::string spec = "+" + request.remote_ref + ":" + request.local_ref;
    std::string tags = "+refs/tags/*:refs/tags/*";
    char* spec_ptrs[2] = {spec.data(), tags.data()};
    git_strarray refspecs{spec_ptrs, 2};
    git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
    opts.callbacks = session.callbacks();
    opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    opts.prune = GIT_FETCH_NO_PRUNE;
    if (git_remote_download(conn.remote.get(), &refspecs, &opts) < 0)
        session.fail("fetch from " + redact_url(url));
    // Anonymous remotes do not update refs on their own; the tip is set only once its objects are complete.
    update_ref(repo, request.local_ref, *tip, have, "depsync fetch");
    return FetchOutcome::updated;
}

void push_refs(git_repository* repo, TransportSession& session, const std::vector<std::string>& refspecs) {
    const std::string& url = session.url_text();
    git_remote* raw = nullptr;
    check(git_remote_create_anonymous(&raw, repo, url.c_str()), "use remote " + redact_url(url));
    RemotePtr remote(raw);
    std::vector<char*> ptrs;
    std::vector<std::string> owned = refspecs;
    for (auto& s : owned) ptrs.push_back(s.data());
    git_strarray specs{ptrs.data(), ptrs.size()};
    git_push_options opts = GIT_PUSH_OPTIONS_INIT;
    opts.callbacks = session.callbacks();
    if (git_remote_push(remote.get(), &specs, &opts) < 0) session.fail("push to " + redact_url(url));
    if (!session.push_rejections().empty())
        throw Error("cannot push to " + redact_url(url) + ": the remote refused " +
                    session.push_rejections());
}

}  // namespace depsync::git
