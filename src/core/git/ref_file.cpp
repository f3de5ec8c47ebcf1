#include "core/git/ref_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

#include "core/fs/unique_fd.hpp"
#include "core/git/handle.hpp"

namespace depsync::git {
namespace {

enum class Read { ok, missing, failed };

// Reads at most `limit` bytes of `file`.
Read read_small(const std::filesystem::path& file, std::size_t limit, std::string& out) {
    fs::UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return errno == ENOENT ? Read::missing : Read::failed;
    out.resize(limit);
    std::size_t got = 0;
    while (got < limit) {
        ssize_t n = ::read(fd.get(), out.data() + got, limit - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Read::failed;
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    out.resize(got);
    return Read::ok;
}

}  // namespace

std::optional<git_oid> read_ref_file(const std::filesystem::path& git_dir, const std::string& name) {
    std::string text;
    // A loose ref is 40 hex digits and a newline; git replaces it by renaming, so it is never half-written.
    switch (read_small(git_dir / name, 64, text)) {
        case Read::ok:
            if (text.size() == GIT_OID_HEXSZ + 1 && text.back() == '\n')
                return parse_oid(std::string_view(text).substr(0, GIT_OID_HEXSZ));
            return std::nullopt;  // symbolic ("ref: ...") or not a ref git wrote
        case Read::failed:
            return std::nullopt;
        case Read::missing:
            break;
    }
    // packed-refs: an optional "# pack-refs with: ..." line, then "<hex> <name>" lines, each maybe followed
    // by a "^<hex>" line (the peeled target of an annotated tag).
    constexpr std::size_t packed_limit = 16u << 20;
    if (read_small(git_dir / "packed-refs", packed_limit, text) != Read::ok || text.size() == packed_limit)
        return std::nullopt;
    std::string_view rest(text);
    while (!rest.empty()) {
        std::size_t end = rest.find('\n');
        if (end == std::string_view::npos) return std::nullopt;  // a last line without its newline
        std::string_view line = rest.substr(0, end);
        rest.remove_prefix(end + 1);
        if (line.size() == GIT_OID_HEXSZ + 1 + name.size() && line[GIT_OID_HEXSZ] == ' ' &&
            line.substr(GIT_OID_HEXSZ + 1) == name)
            return parse_oid(line.substr(0, GIT_OID_HEXSZ));
    }
    return std::nullopt;
}

}  // namespace depsync::git
