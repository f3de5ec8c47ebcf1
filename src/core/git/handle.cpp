#include "core/git/handle.hpp"

#include <atomic>
#include <mutex>

#include "core/error.hpp"

namespace depsync::git {

int check_object(int rc, const std::string& what) {
    if (rc < 0) throw ObjectError("cannot " + what + ": " + last_error_text());
    return rc;
}

std::string last_error_text() {
    const git_error* e = git_error_last();
    return (e != nullptr && e->message != nullptr) ? std::string(e->message) : std::string("unknown error");
}

int check(int rc, const std::string& what) {
    if (rc < 0) throw Error("cannot " + what + ": " + last_error_text());
    return rc;
}

namespace {
std::once_flag library_started;
std::atomic<bool> library_running{false};
}  // namespace

void ensure_library() {
    std::call_once(library_started, [] {
        git_libgit2_init();
        // Depsync writes its own repositories; fsync is handled where it matters (refs, release state).
        git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 1);
        library_running = true;
    });
}

Library::~Library() {
    if (library_running) git_libgit2_shutdown();
}

std::string to_hex(const git_oid& oid) {
    char buf[GIT_OID_HEXSZ + 1];
    git_oid_tostr(buf, sizeof buf, &oid);
    return buf;
}

std::string short_hex(const git_oid& oid) {
    return to_hex(oid).substr(0, 10);
}

git_oid oid_from_hex(const std::string& hex) {
    git_oid oid;
    if (hex.size() != GIT_OID_HEXSZ || git_oid_fromstr(&oid, hex.c_str()) < 0)
        throw Error("invalid object id '" + hex + "'");
    return oid;
}

}  // namespace depsync::git
