// depsync-swapper: what the deployment directory's owner can do to a root run, timed as an attacker would.
// Drops to the given account, optionally waits (inotify) until the watched file is opened by someone else,
// then carries out its actions at once and exits. With --hold-open (root only: fanotify) the opener is held
// in its open() until the actions are done, which makes the timing exact; the actions still run as the
// account.
//
//   depsync-swapper --uid U --gid G [--wait-open FILE | --hold-open FILE] [--ready FLAG] [--timeout SECONDS]
//                   ACTION...
//   ACTION: rename FROM TO | symlink TARGET LINK | fifo-over PATH (a FIFO renamed over PATH)
//
// --ready FLAG is created once the watch is in place (the test starts depsync after it appears). Exit 0 when
// every action succeeded, 1 on a failed action, 2 when the wait timed out, 3 on bad arguments.

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int fail(const char* what, const std::string& path) {
    std::fprintf(stderr, "depsync-swapper: %s %s: %s\n", what, path.c_str(), std::strerror(errno));
    return 1;
}

int act(const std::vector<std::string>& args, std::size_t i) {
    for (; i < args.size(); ++i) {
        const std::string& verb = args[i];
        if (verb == "rename" && i + 2 < args.size()) {
            if (::rename(args[i + 1].c_str(), args[i + 2].c_str()) < 0) return fail("rename", args[i + 1]);
            i += 2;
        } else if (verb == "symlink" && i + 2 < args.size()) {
            if (::symlink(args[i + 1].c_str(), args[i + 2].c_str()) < 0) return fail("symlink", args[i + 2]);
            i += 2;
        } else if (verb == "fifo-over" && i + 1 < args.size()) {
            std::string tmp = args[i + 1] + ".fifo";
            if (::mkfifo(tmp.c_str(), 0644) < 0) return fail("mkfifo", tmp);
            if (::rename(tmp.c_str(), args[i + 1].c_str()) < 0) return fail("rename", tmp);
            i += 1;
        } else {
            return 3;
        }
    }
    return 0;
}

bool flag(const std::string& ready) {
    if (ready.empty()) return true;
    int fd = ::open(ready.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return false;
    ::close(fd);
    return true;
}

// Holds the first open of `file` by another process until the actions are done (as the account).
int hold_open(const std::string& file, const std::string& ready, long timeout, long uid, long gid,
              const std::vector<std::string>& args, std::size_t i) {
    int fan = ::fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_LARGEFILE);
    if (fan < 0 || ::fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, file.c_str()) < 0)
        return fail("fanotify", file);
    if (!flag(ready)) return fail("create", ready);
    pollfd p{fan, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout * 1000)) <= 0) return 2;
    fanotify_event_metadata event{};
    if (::read(fan, &event, sizeof event) < static_cast<ssize_t>(sizeof event)) return fail("read", file);
    int rc = 0;
    if (::setgroups(0, nullptr) < 0 || ::setegid(static_cast<gid_t>(gid)) < 0 ||
        ::seteuid(static_cast<uid_t>(uid)) < 0)
        rc = fail("seteuid", std::to_string(uid));
    else
        rc = act(args, i);
    if (::seteuid(0) < 0) rc = fail("seteuid", "0");
    fanotify_response allow{event.fd, FAN_ALLOW};
    if (::write(fan, &allow, sizeof allow) < 0) rc = fail("answer", file);
    ::close(event.fd);
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    long uid = -1, gid = -1, timeout = 60;
    std::string watch, hold, ready;
    std::size_t i = 0;
    for (; i + 1 < args.size() && args[i].rfind("--", 0) == 0; i += 2) {
        if (args[i] == "--uid")
            uid = std::atol(args[i + 1].c_str());
        else if (args[i] == "--gid")
            gid = std::atol(args[i + 1].c_str());
        else if (args[i] == "--wait-open")
            watch = args[i + 1];
        else if (args[i] == "--hold-open")
            hold = args[i + 1];
        else if (args[i] == "--ready")
            ready = args[i + 1];
        else if (args[i] == "--timeout")
            timeout = std::atol(args[i + 1].c_str());
        else
            return 3;
    }
    if (!hold.empty()) return hold_open(hold, ready, timeout, uid, gid, args, i);
    if (gid >= 0 && (::setgroups(0, nullptr) < 0 || ::setgid(static_cast<gid_t>(gid)) < 0))
        return fail("setgid", std::to_string(gid));
    if (uid >= 0 && ::setuid(static_cast<uid_t>(uid)) < 0) return fail("setuid", std::to_string(uid));

    if (!watch.empty()) {
        int in = ::inotify_init1(IN_CLOEXEC);
        if (in < 0 || ::inotify_add_watch(in, watch.c_str(), IN_OPEN) < 0) return fail("watch", watch);
        if (!flag(ready)) return fail("create", ready);
        pollfd p{in, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout * 1000)) <= 0) return 2;
    } else if (!flag(ready)) {
        return fail("create", ready);
    }
    return act(args, i);
}
