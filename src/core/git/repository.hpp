#pragma once
// Opening and creating repositories, reading refs and commits, and compare-and-swap ref updates.

#include <git2.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "core/git/handle.hpp"

namespace depsync::git {

// Opens an existing repository (bare or not) at exactly `path`; nullopt-like empty pointer when there is
// none.
RepositoryPtr open_repository(const std::filesystem::path& path);

// Creates a bare repository whose HEAD names `branch` (e.g. "main"); opens it when it exists already.
RepositoryPtr init_bare(const std::filesystem::path& path, const std::string& branch);

std::optional<git_oid> resolve_ref(git_repository* repo, const std::string& name);

struct CommitFields {
    git_oid tree{};
    std::optional<git_oid> parent;
    std::string message;
    std::string author_name;
    std::string author_email;
    // When set, the commit is signed: it receives the commit text and returns the armored signature.
    std::function<std::string(const std::string&)> sign;
};

// Writes a commit object (no ref is touched).
git_oid write_commit(git_repository* repo, const CommitFields& fields);

// Writes a copy of `original` with another parent (none: a root commit) and message, keeping its tree,
// author and committer (names, addresses and times). `sign` as in CommitFields.
git_oid rewrite_commit(git_repository* repo, const git_commit* original, const std::optional<git_oid>& parent,
                       const std::string& message,
                       const std::function<std::string(const std::string&)>& sign = {});

// Points `ref` at `target` only if it still points at `expected` (nullopt: only if it does not exist).
// Returns false when another writer moved it first.
bool update_ref(git_repository* repo, const std::string& ref, const git_oid& target,
                const std::optional<git_oid>& expected, const std::string& log_message);

CommitPtr lookup_commit(git_repository* repo, const git_oid& id);

// True when `ancestor` is `commit` or one of its ancestors.
bool contains(git_repository* repo, const git_oid& commit, const git_oid& ancestor);

}  // namespace depsync::git
