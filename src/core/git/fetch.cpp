#include "core/git/fetch.hpp"

#include "core/error.hpp"
#include "core/git/handle.hpp"
#include "core/git/repository.hpp"

namespace depsync::git {
namespace {

struct Connection {
    RemotePtr remote;
    ~Connection() {
        if (remote) git_remote_disconnect(remote.get());
    }
};

}  // namespace

FetchOutcome fetch_branch(git_repository* repo, const FetchRequest& request) {
    git_remote* raw = nullptr;
    check(git_remote_create_anonymous(&raw, repo, request.url.c_str()), "use remote " + request.url);
    Connection conn{RemotePtr(raw)};
    git_remote_callbacks callbacks = GIT_REMOTE_CALLBACKS_INIT;
    check(git_remote_connect(conn.remote.get(), GIT_DIRECTION_FETCH, &callbacks, nullptr, nullptr),
          "connect to " + request.url);

    const git_remote_head** heads = nullptr;
    std::size_t count = 0;
    check(git_remote_ls(&heads, &count, conn.remote.get()), "list refs of " + request.url);
    std::optional<git_oid> tip;
    for (std::size_t i = 0; i < count; ++i)
        if (request.remote_ref == heads[i]->name) tip = heads[i]->oid;
    if (!tip) {
        if (count == 0) return FetchOutcome::empty;
        throw Error(request.url + " is not a depsync repository (it has no " + request.remote_ref + ")",
                    ExitCode::usage);
    }
    std::optional<git_oid> have = resolve_ref(repo, request.local_ref);
    if (have && git_oid_equal(&*have, &*tip)) return FetchOutcome::unchanged;

    std::string spec = "+" + request.remote_ref + ":" + request.local_ref;
    char* spec_ptr = spec.data();
    git_strarray refspecs{&spec_ptr, 1};
    git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
    opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
    opts.prune = GIT_FETCH_NO_PRUNE;
    check(git_remote_download(conn.remote.get(), &refspecs, &opts), "fetch from " + request.url);
    // Anonymous remotes do not update refs on their own; the tip is set only once its objects are complete.
    update_ref(repo, request.local_ref, *tip, have, "depsync fetch");
    return FetchOutcome::updated;
}

}  // namespace depsync::git
