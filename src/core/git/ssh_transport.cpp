#include "core/git/ssh_transport.hpp"

#include <git2.h>
#include <git2/sys/transport.h>

#include <chrono>
#include <memory>
#include <optional>

#include "core/error.hpp"
#include "core/fs/child_process.hpp"
#include "core/git/handle.hpp"
#include "core/git/remote_url.hpp"

namespace depsync::git {
namespace {

SshTransportConfig config;

struct SshStream;

// What libgit2 holds: its stream struct first, then the way back to ours.
struct StreamHandle {
    git_smart_subtransport_stream parent;
    SshStream* self;
};

// One `ssh HOST git-upload-pack 'PATH'` and the pipes to it.
struct SshStream {
    StreamHandle handle{};
    fs::ChildProcess child;
    SshTarget target;
    std::string program;
    fs::Deadline deadline;

    std::optional<fs::ChildExit> ended;  // how the child ended, once it has
    std::string rest;                    // its stderr after the output ended

    // How the child ended: ended at once after a timeout, else waited for briefly, its stderr kept.
    const fs::ChildExit& end(bool timed_out) {
        if (!ended)
            ended = timed_out ? child.terminate()
                              : child.finish(nullptr, &rest, 64 * 1024, fs::deadline_after(5));
        return *ended;
    }

    // After its output ended: whether the child exited 0.
    bool ended_cleanly() {
        const fs::ChildExit& exit = end(false);
        return !exit.timed_out && exit.exit_code == 0;
    }

    // Why the child stopped talking, recorded for the message; -1 for libgit2.
    int fail(bool timed_out) {
        const fs::ChildExit exit = end(timed_out);
        std::string message;
        if (timed_out || exit.timed_out)
            message = "no answer from " + target.host + " within the timeout of " +
                      std::to_string(config.options.timeout) + " s (config 'timeout')";
        else if (exit.exit_code == 0)
            message = program + " on " + target.host + " ended the connection early";
        else
            message = explain_ssh_failure(config.options, target, program, child.errors_text() + rest,
                                          exit.exit_code);
        git_error_set_str(GIT_ERROR_NET, message.c_str());
        if (config.refuse) config.refuse(message);
        return -1;
    }
};

SshStream* stream_of(git_smart_subtransport_stream* s) {
    return reinterpret_cast<StreamHandle*>(s)->self;
}

int stream_read(git_smart_subtransport_stream* s, char* buffer, size_t size, size_t* bytes_read) {
    SshStream* stream = stream_of(s);
    *bytes_read = 0;
    try {
        fs::StreamStatus status = stream->child.read_output(buffer, size, *bytes_read, stream->deadline);
        if (status == fs::StreamStatus::done) return 0;
        // The end of the stream is 0 bytes to libgit2, as its own transports give it: a server without
        // side-band sends its pack until it closes, and libgit2 takes that end as the pack's. An end that
        // comes early is reported by libgit2; a failed ssh or server is explained here.
        if (status == fs::StreamStatus::closed && stream->ended_cleanly()) return 0;
        return stream->fail(status == fs::StreamStatus::timed_out);
    } catch (const std::exception& e) {
        git_error_set_str(GIT_ERROR_NET, e.what());
        return -1;
    }
}

int stream_write(git_smart_subtransport_stream* s, const char* buffer, size_t len) {
    SshStream* stream = stream_of(s);
    try {
        fs::StreamStatus status = stream->child.write_input(buffer, len, stream->deadline);
        if (status == fs::StreamStatus::done) return 0;
        return stream->fail(status == fs::StreamStatus::timed_out);
    } catch (const std::exception& e) {
        git_error_set_str(GIT_ERROR_NET, e.what());
        return -1;
    }
}

// libgit2's subtransport struct first; the stream the listing opened, owned here.
struct SshSubtransport {
    git_smart_subtransport parent;
    SshStream* current;
};

void stream_free(git_smart_subtransport_stream* s) {
    SshStream* stream = stream_of(s);
    auto* owner = reinterpret_cast<SshSubtransport*>(stream->handle.parent.subtransport);
    // libgit2 frees the stream once it has all it asked for: the server ends once its input ends, and ssh is
    // given a moment to close the connection cleanly before its group is ended.
    stream->child.close_input();
    stream->child.wait(std::chrono::steady_clock::now() + std::chrono::milliseconds(250));
    if (owner && owner->current == stream) owner->current = nullptr;
    delete stream;
}

// The remote command for `url`: git-upload-pack or git-receive-pack with the path as one quoted word.
std::unique_ptr<SshStream> start(const std::string& url, const char* program) {
    RemoteUrl remote = parse_remote_url(url);
    auto stream = std::make_unique<SshStream>();
    stream->target = {remote.user, remote.host, remote.port};
    stream->program = program;
    std::string path = remote.path;
    // ssh://host/~user/path names a path below a home folder, as git reads it.
    if (path.rfind("/~", 0) == 0) path.erase(0, 1);
    std::vector<std::string> argv =
        ssh_argv(config.options, stream->target, std::string(program) + " " + shell_quote(path));
    stream->child =
        fs::ChildProcess::spawn({argv, {}, fs::Secrets::drop}, fs::ChildInput::pipe, fs::ChildOutput::pipes);
    // The ssh client keeps what the server sent in one buffer and moves the rest to its front after every
    // write to the pipe: with 64 KiB per write, a pack of 30 MiB cost it about 0.8 s of CPU in memmove and
    // page faults while this process was busy indexing. 1 MiB per write (the largest pipe an account gets by
    // default) cuts that to a sixteenth.
    stream->child.widen_output_pipe(std::size_t{1} << 20);
    stream->deadline = fs::deadline_after(std::max(1, config.options.timeout));
    stream->handle.self = stream.get();
    stream->handle.parent.read = stream_read;
    stream->handle.parent.write = stream_write;
    stream->handle.parent.free = stream_free;
    return stream;
}

int action(git_smart_subtransport_stream** out, git_smart_subtransport* transport, const char* url,
           git_smart_service_t service) {
    auto* self = reinterpret_cast<SshSubtransport*>(transport);
    *out = nullptr;
    const bool listing = service == GIT_SERVICE_UPLOADPACK_LS || service == GIT_SERVICE_RECEIVEPACK_LS;
    if (!listing) {
        // The request goes over the stream the listing opened (rpc = 0).
        if (!self->current) {
            git_error_set_str(GIT_ERROR_NET, "no ssh connection open for the request");
            return -1;
        }
        *out = &self->current->handle.parent;
        return 0;
    }
    try {
        const bool push = service == GIT_SERVICE_RECEIVEPACK_LS;
        std::unique_ptr<SshStream> stream = start(url, push ? "git-receive-pack" : "git-upload-pack");
        stream->handle.parent.subtransport = transport;
        delete self->current;
        self->current = stream.release();
        *out = &self->current->handle.parent;
        return 0;
    } catch (const std::exception& e) {
        git_error_set_str(GIT_ERROR_NET, e.what());
        if (config.refuse) config.refuse(e.what());
        return -1;
    }
}

int close(git_smart_subtransport*) {
    return 0;
}

void free_subtransport(git_smart_subtransport* transport) {
    auto* self = reinterpret_cast<SshSubtransport*>(transport);
    delete self->current;
    delete self;
}

int create(git_smart_subtransport** out, git_transport*, void*) {
    auto* t = new SshSubtransport{};
    t->parent.action = action;
    t->parent.close = close;
    t->parent.free = free_subtransport;
    *out = &t->parent;
    return 0;
}

git_smart_subtransport_definition definition{create, 0, nullptr};

}  // namespace

void install_ssh_transport(SshTransportConfig c) {
    static bool registered = false;
    config = std::move(c);
    if (registered) return;
    ensure_library();
    check(git_transport_register("ssh", git_transport_smart, &definition), "register the ssh transport");
    registered = true;
}

}  // namespace depsync::git
