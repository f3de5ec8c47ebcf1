#pragma once
// Releases: the commits of the release branch, numbered r1, r2, ... The number, publishing node and host,
// and for rollbacks the restored release, travel as trailers in the commit message; a commit pushed by plain
// git without trailers (or whose number is not greater than its first parent's) is numbered one above its
// first parent.

#include <git2.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/git/signing.hpp"
#include "core/git/tree_io.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

inline constexpr const char* release_branch = "main";
inline constexpr const char* primary_ref = "refs/heads/main";
inline constexpr const char* upstream_ref = "refs/remotes/origin/main";

struct Release {
    std::uint64_t number = 0;
    git_oid commit{};
    git_oid tree{};
    std::int64_t time = 0;  // commit time, seconds since the epoch
    std::string node;
    std::string host;
    std::string subject;  // first line of the message
    std::optional<std::uint64_t> restores;
    std::string roots;  // "server,tenants" for a release of several named roots; empty for a single tree
    // Set on the oldest release kept by `depsync gc`: every release up to this number was dropped.
    std::optional<std::uint64_t> cut;
};

Release describe_release(git_repository* repo, const git_oid& commit);

// What reading one release may cost on this node (max_entries).
git::TreeLimits tree_limits(const Settings& settings);

struct ReleaseTrailers {
    std::uint64_t number = 0;
    std::string node;
    std::string host;
    std::optional<std::uint64_t> restores;
    std::string roots;
};

// The Depsync-Roots trailer value of a node's configuration ("" for a single directory).
std::string roots_trailer(const Settings& settings);
std::string format_release_message(const std::string& message, const ReleaseTrailers& trailers);

// A signer for CommitFields::sign when the node has a signing key, else an empty function.
std::function<std::string(const std::string&)> release_signer(const Settings& settings);

// The release's signature checked against allowed_signers; nothing when the node checks no signatures (no
// allowed_signers configured). verify, log and the apply all check signatures through this one function.
std::optional<git::SignatureCheck> release_signature(const Settings& settings, git_repository* repo,
                                                     const git_oid& commit);

// Throws Error naming the commit and the reason unless the release is signed by an allowed key
// (a no-op when no allowed_signers file is configured).
void require_trusted_release(const Settings& settings, git_repository* repo, const git_oid& commit);

// The trailers of a commit message, git's way: its last paragraph, when that is not the first paragraph and
// every one of its lines is `Token: value` (a token of letters, digits and '-'); none otherwise. Lines
// elsewhere in the message never count, so a release message cannot add trailers above depsync's own block.
std::vector<std::pair<std::string, std::string>> message_trailers(const std::string& message);
// The value of the last `key` trailer of a commit message (see message_trailers).
std::optional<std::string> message_trailer(const std::string& message, const std::string& key);
// A release number as a trailer holds it: plain decimal digits, no sign or leading zero, 1 to 10^15 - 1.
std::optional<std::uint64_t> release_number_text(std::string_view text);

// Points tag rN at `commit`. A tag rN that names another commit (plain git, a killed run) is reported and
// moved.
void tag_release(git_repository* repo, std::uint64_t number, const git_oid& commit);

std::string release_tag(std::uint64_t number);                  // "refs/tags/r<N>"
std::string release_name(std::optional<std::uint64_t> number);  // "rN", or "none"

}  // namespace depsync::sync
