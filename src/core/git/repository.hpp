#pragma once
// Opening and creating repositories, reading refs and commits, compare-and-swap ref updates, and the small
// libgit2 snippets the layers above would otherwise repeat (object database, tags, peeling, first parents).

#include <git2.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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
// Makes the loose ref file update_ref wrote durable: the file, then its folder and each folder above it up
// to the repository's (the rename that replaced it, or the folder a first ref created, is an entry there).
void flush_ref(git_repository* repo, const std::string& ref);

CommitPtr lookup_commit(git_repository* repo, const git_oid& id);

// True when `ancestor` is `commit` or one of its ancestors.
bool contains(git_repository* repo, const git_oid& commit, const git_oid& ancestor);

// Tags are the refs below this prefix.
inline constexpr const char* tags_prefix = "refs/tags/";
// "refs/tags/<name>".
std::string tag_ref(const std::string& name);

// The repository's own folder: the bare repository, or the .git folder of one with a work tree.
std::filesystem::path repository_dir(git_repository* repo);

// The object database, for reads and writes by id. `what` names the step in an error.
OdbPtr open_odb(git_repository* repo, const std::string& what = "open object database");

// The names of the repository's tags (without refs/tags/).
std::vector<std::string> tag_names(git_repository* repo);
// Whether the repository has any ref at all (a new repository has none). `what` names it in the error.
bool has_refs(git_repository* repo, const std::string& what);

// A ref as it is: the id it names, or for a symbolic ref the ref it points to; nullopt when there is none.
struct RefValue {
    std::optional<git_oid> target;
    std::string symbolic;
};
std::optional<RefValue> read_ref(git_repository* repo, const std::string& name);

// Points `ref` at `target` whatever it names now (update_ref is the compare-and-swap). `what` names the step
// in an error.
void set_ref(git_repository* repo, const std::string& ref, const git_oid& target,
             const std::string& log_message, const std::string& what);

// Deletes tag `name`; one that does not exist is no error.
void delete_tag(git_repository* repo, const std::string& name);

// The commit, or nullptr when the repository does not hold it (for ids a hostile history may name).
CommitPtr find_commit(git_repository* repo, const git_oid& id);

// The first parent of a commit; nullopt for a root commit.
std::optional<git_oid> first_parent(const git_commit* commit);
std::optional<git_oid> first_parent(git_repository* repo, const git_oid& commit);

// The tree a commit records.
git_oid commit_tree(git_repository* repo, const git_oid& commit);

// The commit `id` peels to (itself, or what annotated tags name); nullopt when the repository does not hold
// it or it names a tree or blob.
std::optional<git_oid> peeled_commit(git_repository* repo, const git_oid& id);

// The commit a ref names, through annotated tags; nullopt when the ref does not exist, cannot be read or
// names no commit.
std::optional<git_oid> ref_commit(git_repository* repo, const std::string& ref);

// The object a revision names (git's rev syntax, e.g. a ref name); nullptr when it names nothing.
ObjectPtr find_revision(git_repository* repo, const std::string& spec);

// The commit `object` peels to; throws Error("cannot <what>: ...") when it names a tree or blob.
git_oid peel_to_commit(const git_object* object, const std::string& what);

// The commit whose id starts with `hex` (hex digits, at most 40): `several` when more than one does.
enum class PrefixMatch { one, none, several };
struct CommitByPrefix {
    PrefixMatch match = PrefixMatch::none;
    git_oid id{};
};
CommitByPrefix commit_by_prefix(git_repository* repo, const std::string& hex);

// Sets the repository's config values (in its own config file).
void set_config(git_repository* repo, const std::vector<std::pair<std::string, std::string>>& values);

}  // namespace depsync::git
