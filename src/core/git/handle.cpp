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

// Every resident page of a mapped pack counts in the process's RSS. libgit2's 64-bit defaults (1 GiB
// windows, 8 GiB mapped at once) keep a whole received pack mapped while its blobs are read, so a pull
// held the pack in RSS on top of the largest blob. Small windows, few of them mapped at a time, bound
// that part; sequential reads through them cost a few hundred extra mmap calls for a 400 MB pack.
constexpr std::size_t pack_window_bytes = 8u << 20;
constexpr std::size_t pack_mapped_limit_bytes = 32u << 20;

void limit_pack_mappings() {
    git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, pack_window_bytes);
    git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, pack_mapped_limit_bytes);
}
}  // namespace

void ensure_library() {
    std::call_once(library_started, [] {
        git_libgit2_init();
        // Depsync writes its own repositories; fsync is handled where it matters (refs, release state).
        git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 1);
        limit_pack_mappings();
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

std::optional<git_oid> parse_oid(std::string_view hex) {
    if (hex.size() != GIT_OID_HEXSZ) return std::nullopt;
    git_oid oid{};
    for (std::size_t i = 0; i < GIT_OID_HEXSZ; ++i) {
        char c = hex[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0) return std::nullopt;
        oid.id[i / 2] = static_cast<unsigned char>(oid.id[i / 2] | (i % 2 == 0 ? v << 4 : v));
    }
    return oid;
}

git_oid oid_from_hex(const std::string& hex) {
    std::optional<git_oid> oid = parse_oid(hex);
    if (!oid) throw Error("invalid object id '" + hex + "'");
    return *oid;
}

}  // namespace depsync::git
