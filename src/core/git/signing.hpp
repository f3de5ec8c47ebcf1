#pragma once
// Release signatures in git's own ssh format: the commit's `gpgsig` header holds an armored SSHSIG signature
// (namespace "git") over the commit without that header, so `git verify-commit` with gpg.format=ssh agrees.
// Signing and verifying use the system's `ssh-keygen -Y`, the reference implementation of the format.

#include <git2.h>

#include <filesystem>
#include <string>

namespace depsync::git {

// Throws Error(usage) unless `key` is a readable ed25519 or ecdsa private key usable without a passphrase.
void check_signing_key(const std::filesystem::path& key);

// The public half of a private key as an allowed-signers key field ("ssh-ed25519 AAAA..."), derived from the
// key itself (`ssh-keygen -y`), not from a .pub file that could belong to another key.
std::string ssh_public_key(const std::filesystem::path& key);

// The armored signature of `data` made with `key`; temp files go to `workdir` (a private folder).
std::string ssh_sign(const std::string& data, const std::filesystem::path& key,
                     const std::filesystem::path& workdir);

enum class SignatureState { unsigned_commit, good, unknown_key, bad };

struct SignatureCheck {
    SignatureState state = SignatureState::unsigned_commit;
    std::string principal;  // who signed (from allowed_signers), when known
    std::string detail;     // ssh-keygen's words when it refused
};

// Checks the commit's signature against an allowed-signers file (git's format); throws Error(usage) when that
// file is missing or unreadable, whether or not the commit is signed.
SignatureCheck verify_commit_signature(git_repository* repo, const git_oid& commit,
                                       const std::filesystem::path& allowed_signers,
                                       const std::filesystem::path& workdir);

const char* signature_state_name(SignatureState state);

// True when the commit carries a signature of any kind (a commit that cannot be read counts as unsigned).
bool is_signed(git_repository* repo, const git_oid& commit);

}  // namespace depsync::git
