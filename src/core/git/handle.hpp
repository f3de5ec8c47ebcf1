#pragma once
// Move-only owners for libgit2 handles and the one place return codes are checked.

#include <git2.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace depsync::git {

template <typename T, void (*Free)(T*)>
struct Deleter {
    void operator()(T* p) const { Free(p); }
};

template <typename T, void (*Free)(T*)>
using Handle = std::unique_ptr<T, Deleter<T, Free>>;

using RepositoryPtr = Handle<git_repository, git_repository_free>;
using OdbPtr = Handle<git_odb, git_odb_free>;
using TreePtr = Handle<git_tree, git_tree_free>;
using CommitPtr = Handle<git_commit, git_commit_free>;
using BlobPtr = Handle<git_blob, git_blob_free>;
using ReferencePtr = Handle<git_reference, git_reference_free>;
using RemotePtr = Handle<git_remote, git_remote_free>;
using TreeBuilderPtr = Handle<git_treebuilder, git_treebuilder_free>;
using OdbObjectPtr = Handle<git_odb_object, git_odb_object_free>;
using SignaturePtr = Handle<git_signature, git_signature_free>;
using RevwalkPtr = Handle<git_revwalk, git_revwalk_free>;
using ObjectPtr = Handle<git_object, git_object_free>;
using DiffPtr = Handle<git_diff, git_diff_free>;
using ConfigPtr = Handle<git_config, git_config_free>;

// Throws depsync::Error("cannot <what>: <libgit2 message>") when rc < 0; returns rc otherwise.
// The libgit2 message is copied at once: it is thread-local and goes stale on the next call.
int check(int rc, const std::string& what);

// A stored object could not be read: missing, damaged, or failing its hash check. A peer repairs its copy by
// fetching again; nothing visible has changed when this is thrown during an apply.
class ObjectError : public Error {
  public:
    using Error::Error;
};

// Like check(), but throws ObjectError: for reads of objects that must exist.
int check_object(int rc, const std::string& what);

// The text of the last libgit2 error, copied ("unknown error" when there is none).
std::string last_error_text();

// Starts libgit2 once, on first use; idempotent and thread-safe. Opening or creating a repository calls it,
// and so does every other entry into libgit2 that does not start from a repository handle. Starting costs
// about 5 ms (mbedTLS parses the system CA bundle), which runs that end without opening a repository (a
// no-op pull or publish) never pay.
void ensure_library();

// Shuts libgit2 down at the end of the process when it was started; exactly one lives in main (and in each
// test binary).
class Library {
  public:
    Library() = default;
    ~Library();
    Library(const Library&) = delete;
    Library& operator=(const Library&) = delete;
};

std::string to_hex(const git_oid& oid);
std::string short_hex(const git_oid& oid);
// Parses 40 hex digits without libgit2 (usable before it starts); nullopt for anything else.
std::optional<git_oid> parse_oid(std::string_view hex);
// As parse_oid, throwing Error for anything but 40 hex digits.
git_oid oid_from_hex(const std::string& hex);

}  // namespace depsync::git
