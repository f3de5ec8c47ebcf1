#include "core/git/repository.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.hpp"

namespace depsync::git {
namespace {

// "alice (uid 1001)", or "uid 1001" for an id without an account.
std::string describe_user(uid_t uid) {
    struct passwd pw {};
    struct passwd* found = nullptr;
    char buffer[4096];
    std::string id = "uid " + std::to_string(uid);
    if (::getpwuid_r(uid, &pw, buffer, sizeof buffer, &found) == 0 && found != nullptr)
        return std::string(found->pw_name) + " (" + id + ")";
    return id;
}

// libgit2 refuses a repository whose folder another user owns (git's safe.directory rule). 1.5.1 reports
// that as "not found" (with a message about the missing safe.directory setting), later versions as
// GIT_EOWNER: either way a repository that is there, owned by someone else, is reported as what it is.
void refuse_foreign_owner(const std::filesystem::path& path) {
    struct stat folder {};
    struct stat head {};
    if (::stat(path.c_str(), &folder) != 0 || !S_ISDIR(folder.st_mode)) return;
    bool bare = ::stat((path / "HEAD").c_str(), &head) == 0;
    bool with_workdir = ::stat((path / ".git").c_str(), &head) == 0;
    if ((!bare && !with_workdir) || folder.st_uid == ::geteuid()) return;
    std::string owner = describe_user(folder.st_uid);
    std::string runner = describe_user(::geteuid());
    git_error_clear();
    throw Error("cannot open repository " + path.string() + ": it is owned by " + owner +
                    " and this run is " + runner +
                    "; git refuses another user's repository (its safe.directory rule). Run depsync as " +
                    owner.substr(0, owner.find(' ')) + ", or give the repository to this user (chown -R " +
                    runner.substr(0, runner.find(' ')) + " " + path.string() + ")",
                ExitCode::usage);
}

}  // namespace

RepositoryPtr open_repository(const std::filesystem::path& path) {
    ensure_library();
    git_repository* raw = nullptr;
    int rc = git_repository_open_ext(&raw, path.c_str(), GIT_REPOSITORY_OPEN_NO_SEARCH, nullptr);
    if (rc == GIT_EOWNER ||
        (rc == GIT_ENOTFOUND && last_error_text().find("safe.directory") != std::string::npos))
        refuse_foreign_owner(path);
    if (rc == GIT_ENOTFOUND) return RepositoryPtr();
    check(rc, "open repository " + path.string());
    return RepositoryPtr(raw);
}

RepositoryPtr init_bare(const std::filesystem::path& path, const std::string& branch) {
    if (auto existing = open_repository(path)) return existing;
    git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
    opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH | GIT_REPOSITORY_INIT_NO_REINIT;
    std::string head = "refs/heads/" + branch;
    opts.initial_head = head.c_str();
    git_repository* raw = nullptr;
    check(git_repository_init_ext(&raw, path.c_str(), &opts), "create repository " + path.string());
    return RepositoryPtr(raw);
}

std::optional<git_oid> resolve_ref(git_repository* repo, const std::string& name) {
    git_oid oid;
    int rc = git_reference_name_to_id(&oid, repo, name.c_str());
    if (rc == GIT_ENOTFOUND) return std::nullopt;
    check(rc, "read ref " + name);
    return oid;
}

namespace {

using Signer = std::function<std::string(const std::string&)>;

// Writes a commit of `tree` on `parent` (none: a root commit), signed when `sign` is set.
git_oid create_commit(git_repository* repo, const git_signature* author, const git_signature* committer,
                      const char* encoding, const std::string& message, const git_tree* tree,
                      const std::optional<git_oid>& parent, const Signer& sign) {
    CommitPtr parent_commit;
    const git_commit* parents[1] = {nullptr};
    std::size_t parent_count = 0;
    if (parent) {
        parent_commit = lookup_commit(repo, *parent);
        parents[0] = parent_commit.get();
        parent_count = 1;
    }
    git_oid id;
    if (!sign) {
        check(git_commit_create(&id, repo, nullptr, author, committer, encoding, message.c_str(), tree,
                                parent_count, parents),
              "write commit");
        return id;
    }
    git_buf buffer = GIT_BUF_INIT;
    check(git_commit_create_buffer(&buffer, repo, author, committer, encoding, message.c_str(), tree,
                                   parent_count, parents),
          "prepare commit");
    std::string content(buffer.ptr, buffer.size);
    git_buf_dispose(&buffer);
    std::string signature = sign(content);
    check(git_commit_create_with_signature(&id, repo, content.c_str(), signature.c_str(), "gpgsig"),
          "write signed commit");
    return id;
}

}  // namespace

git_oid write_commit(git_repository* repo, const CommitFields& fields) {
    git_signature* sig = nullptr;
    check(git_signature_now(&sig, fields.author_name.c_str(), fields.author_email.c_str()),
          "create signature");
    SignaturePtr owned_sig(sig);
    git_tree* tree = nullptr;
    check(git_tree_lookup(&tree, repo, &fields.tree), "read tree " + short_hex(fields.tree));
    TreePtr owned_tree(tree);
    return create_commit(repo, sig, sig, "UTF-8", fields.message, tree, fields.parent, fields.sign);
}

git_oid rewrite_commit(git_repository* repo, const git_commit* original, const std::optional<git_oid>& parent,
                       const std::string& message, const Signer& sign) {
    git_tree* tree = nullptr;
    check_object(git_commit_tree(&tree, original), "read tree of " + short_hex(*git_commit_id(original)));
    TreePtr owned_tree(tree);
    return create_commit(repo, git_commit_author(original), git_commit_committer(original),
                         git_commit_message_encoding(original), message, tree, parent, sign);
}

bool update_ref(git_repository* repo, const std::string& ref, const git_oid& target,
                const std::optional<git_oid>& expected, const std::string& log_message) {
    git_reference* raw = nullptr;
    int rc;
    if (expected) {
        rc = git_reference_create_matching(&raw, repo, ref.c_str(), &target, 1, &*expected,
                                           log_message.c_str());
    } else {
        rc = git_reference_create(&raw, repo, ref.c_str(), &target, 0, log_message.c_str());
    }
    ReferencePtr owned(raw);
    if (rc == GIT_EMODIFIED || rc == GIT_EEXISTS) return false;
    check(rc, "update " + ref);
    return true;
}

void flush_ref(git_repository* repo, const std::string& ref) {
    const std::filesystem::path git_dir = repository_dir(repo);
    auto flush = [](const std::filesystem::path& path, int flags) {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
        if (fd < 0) throw_errno("open " + path.string() + " to flush it");
        int rc = ::fsync(fd);
        int err = errno;
        ::close(fd);
        if (rc < 0) throw_errno("flush " + path.string() + " to disk", err);
    };
    flush(git_dir / ref, O_NOFOLLOW);
    for (std::filesystem::path folder = std::filesystem::path(ref).parent_path(); !folder.empty();
         folder = folder.parent_path())
        flush(git_dir / folder, O_DIRECTORY);
}

CommitPtr lookup_commit(git_repository* repo, const git_oid& id) {
    git_commit* raw = nullptr;
    check_object(git_commit_lookup(&raw, repo, &id), "read commit " + short_hex(id));
    return CommitPtr(raw);
}

bool contains(git_repository* repo, const git_oid& commit, const git_oid& ancestor) {
    if (git_oid_equal(&commit, &ancestor)) return true;
    int rc = git_graph_descendant_of(repo, &commit, &ancestor);
    check(rc, "compare history");
    return rc == 1;
}

}  // namespace depsync::git

namespace depsync::git {

std::string tag_ref(const std::string& name) {
    return tags_prefix + name;
}

std::filesystem::path repository_dir(git_repository* repo) {
    return git_repository_path(repo);
}

OdbPtr open_odb(git_repository* repo, const std::string& what) {
    git_odb* raw = nullptr;
    check(git_repository_odb(&raw, repo), what);
    return OdbPtr(raw);
}

std::vector<std::string> tag_names(git_repository* repo) {
    git_strarray names{nullptr, 0};
    check(git_tag_list(&names, repo), "list tags");
    std::vector<std::string> out(names.strings, names.strings + names.count);
    git_strarray_dispose(&names);
    return out;
}

bool has_refs(git_repository* repo, const std::string& what) {
    git_reference_iterator* it = nullptr;
    check(git_reference_iterator_new(&it, repo), "list refs of " + what);
    git_reference* ref = nullptr;
    const bool any = git_reference_next(&ref, it) == 0;
    if (ref) git_reference_free(ref);
    git_reference_iterator_free(it);
    git_error_clear();
    return any;
}

std::optional<RefValue> read_ref(git_repository* repo, const std::string& name) {
    git_reference* raw = nullptr;
    int rc = git_reference_lookup(&raw, repo, name.c_str());
    if (rc == GIT_ENOTFOUND) {
        git_error_clear();
        return std::nullopt;
    }
    check(rc, "read " + name);
    ReferencePtr ref(raw);
    RefValue value;
    if (const git_oid* target = git_reference_target(raw)) value.target = *target;
    if (const char* symbolic = git_reference_symbolic_target(raw)) value.symbolic = symbolic;
    return value;
}

void set_ref(git_repository* repo, const std::string& ref, const git_oid& target,
             const std::string& log_message, const std::string& what) {
    git_reference* raw = nullptr;
    check(git_reference_create(&raw, repo, ref.c_str(), &target, 1, log_message.c_str()), what);
    git_reference_free(raw);
}

void delete_tag(git_repository* repo, const std::string& name) {
    int rc = git_tag_delete(repo, name.c_str());
    if (rc == GIT_ENOTFOUND) {
        git_error_clear();
        return;
    }
    check(rc, "delete tag " + name);
}

CommitPtr find_commit(git_repository* repo, const git_oid& id) {
    git_commit* raw = nullptr;
    if (git_commit_lookup(&raw, repo, &id) < 0) {
        git_error_clear();
        return CommitPtr();
    }
    return CommitPtr(raw);
}

std::optional<git_oid> first_parent(const git_commit* commit) {
    if (git_commit_parentcount(commit) == 0) return std::nullopt;
    return *git_commit_parent_id(commit, 0);
}

std::optional<git_oid> first_parent(git_repository* repo, const git_oid& commit) {
    return first_parent(lookup_commit(repo, commit).get());
}

git_oid commit_tree(git_repository* repo, const git_oid& commit) {
    return *git_commit_tree_id(lookup_commit(repo, commit).get());
}

std::optional<git_oid> peeled_commit(git_repository* repo, const git_oid& id) {
    git_object* raw = nullptr;
    if (git_object_lookup(&raw, repo, &id, GIT_OBJECT_ANY) < 0) {
        git_error_clear();
        return std::nullopt;
    }
    ObjectPtr obj(raw);
    git_object* peeled = nullptr;
    if (git_object_peel(&peeled, obj.get(), GIT_OBJECT_COMMIT) < 0) {
        git_error_clear();
        return std::nullopt;
    }
    ObjectPtr owned(peeled);
    return *git_object_id(peeled);
}

std::optional<git_oid> ref_commit(git_repository* repo, const std::string& ref) {
    ObjectPtr obj = find_revision(repo, ref + "^{commit}");
    if (!obj) return std::nullopt;
    return *git_object_id(obj.get());
}

ObjectPtr find_revision(git_repository* repo, const std::string& spec) {
    git_object* raw = nullptr;
    if (git_revparse_single(&raw, repo, spec.c_str()) < 0) {
        git_error_clear();
        return ObjectPtr();
    }
    return ObjectPtr(raw);
}

git_oid peel_to_commit(const git_object* object, const std::string& what) {
    git_object* peeled = nullptr;
    check(git_object_peel(&peeled, object, GIT_OBJECT_COMMIT), what);
    ObjectPtr owned(peeled);
    return *git_object_id(peeled);
}

CommitByPrefix commit_by_prefix(git_repository* repo, const std::string& hex) {
    CommitByPrefix out;
    git_oid prefix;
    check(git_oid_fromstrn(&prefix, hex.c_str(), hex.size()), "parse " + hex);
    git_object* raw = nullptr;
    int rc = git_object_lookup_prefix(&raw, repo, &prefix, hex.size(), GIT_OBJECT_COMMIT);
    if (rc < 0) {
        git_error_clear();
        out.match = rc == GIT_EAMBIGUOUS ? PrefixMatch::several : PrefixMatch::none;
        return out;
    }
    ObjectPtr obj(raw);
    out.match = PrefixMatch::one;
    out.id = *git_object_id(raw);
    return out;
}

void set_config(git_repository* repo, const std::vector<std::pair<std::string, std::string>>& values) {
    git_config* raw = nullptr;
    check(git_repository_config(&raw, repo), "open repository config");
    ConfigPtr config(raw);
    for (const auto& [key, value] : values)
        check(git_config_set_string(config.get(), key.c_str(), value.c_str()), "set " + key);
}

}  // namespace depsync::git
