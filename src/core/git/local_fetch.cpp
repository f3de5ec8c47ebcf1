#include "core/git/local_fetch.hpp"

#include <sys/stat.h>

#include "core/error.hpp"
#include "core/git/handle.hpp"
#include "core/git/object_writer.hpp"
#include "core/git/repository.hpp"
#include "core/progress.hpp"

namespace depsync::git {
namespace {

class Copier {
  public:
    Copier(git_repository* src, git_repository* dst)
        : m_src(src),
          m_src_objects(repository_dir(src) / "objects"),
          m_writer(repository_dir(dst) / "objects"),
          m_src_odb(open_odb(src, "open source objects")),
          m_dst_odb(open_odb(dst, "open objects")) {}

    void copy_commit(const git_oid& id) {
        if (git_odb_exists(m_dst_odb.get(), &id)) return;
        CommitPtr commit = lookup_commit(m_src, id);
        copy_tree(*git_commit_tree_id(commit.get()));
        store(id);
    }

    // A tag object (annotated tag): its target first, then the tag itself.
    void copy_tag(const git_oid& id) {
        if (git_odb_exists(m_dst_odb.get(), &id)) return;
        git_tag* raw = nullptr;
        if (git_tag_lookup(&raw, m_src, &id) < 0) {
            git_error_clear();
            return;
        }
        git_oid target = *git_tag_target_id(raw);
        git_object_t type = git_tag_target_type(raw);
        git_tag_free(raw);
        if (type == GIT_OBJECT_COMMIT) copy_commit(target);
        if (type == GIT_OBJECT_TAG) copy_tag(target);
        store(id);
    }

    void sync() { m_writer.sync_file_system(); }

  private:
    git_repository* m_src;
    std::filesystem::path m_src_objects;
    ObjectWriter m_writer;
    OdbPtr m_src_odb;
    OdbPtr m_dst_odb;
    Progress m_progress{"fetch: objects"};

    void copy_tree(const git_oid& id) {
        if (git_odb_exists(m_dst_odb.get(), &id)) return;
        git_tree* raw = nullptr;
        if (git_tree_lookup(&raw, m_src, &id) < 0) {
            // An entry of folder mode naming a blob, or a tree libgit2 cannot parse: a hostile release,
            // copied as it is so that the reader refuses it with its reason. Only a missing object fails.
            git_error_clear();
            store(id);
            return;
        }
        TreePtr tree(raw);
        for (std::size_t i = 0, n = git_tree_entrycount(tree.get()); i < n; ++i) {
            const git_tree_entry* e = git_tree_entry_byindex(tree.get(), i);
            switch (git_tree_entry_type(e)) {
                case GIT_OBJECT_TREE:
                    copy_tree(*git_tree_entry_id(e));
                    break;
                case GIT_OBJECT_BLOB:
                    if (!git_odb_exists(m_dst_odb.get(), git_tree_entry_id(e))) store(*git_tree_entry_id(e));
                    break;
                default:
                    break;  // submodule links point outside the repository
            }
        }
        store(id);
    }

    void store(const git_oid& id) {
        std::string hex = to_hex(id);
        std::filesystem::path loose = m_src_objects / hex.substr(0, 2) / hex.substr(2);
        struct stat st {};
        if (::stat(loose.c_str(), &st) == 0) {
            m_writer.adopt_loose(loose, id);
            m_progress.add(1, static_cast<std::uint64_t>(st.st_size));
            return;
        }
        git_odb_object* raw = nullptr;
        check_object(git_odb_read(&raw, m_src_odb.get(), &id), "read object " + short_hex(id));
        OdbObjectPtr obj(raw);
        m_writer.write_raw(git_odb_object_type(obj.get()), git_odb_object_data(obj.get()),
                           git_odb_object_size(obj.get()));
        m_progress.add(1, git_odb_object_size(obj.get()));
    }
};

// The source's tags whose commit this repository holds (the release history was copied first), with their
// tag objects copied; adopt_release_tags sets the refs once the objects are synced. Tags the repository has
// already are not looked at again.
std::vector<RemoteTag> copy_tags(git_repository* src, git_repository* dst, Copier& copier) {
    std::vector<RemoteTag> out;
    OdbPtr dst_odb = open_odb(dst, "open objects");
    for (const std::string& name : tag_names(src)) {
        std::string ref = tag_ref(name);
        std::optional<git_oid> id = resolve_ref(src, ref);
        if (!id) continue;
        std::optional<git_oid> have = resolve_ref(dst, ref);
        if (have && git_oid_equal(&*have, &*id)) continue;
        std::optional<git_oid> commit = peeled_commit(src, *id);
        if (!commit) continue;
        // A commit outside the release history is no release: neither it nor its tag is copied.
        if (!git_odb_exists(dst_odb.get(), &*commit)) continue;
        // A tag that names its commit through a tag object (an annotated tag) brings that object.
        if (!git_oid_equal(&*commit, &*id)) copier.copy_tag(*id);
        out.push_back({ref, *id});
    }
    return out;
}

}  // namespace

FetchOutcome fetch_local(git_repository* repo, const std::filesystem::path& source,
                         const FetchRequest& request) {
    RepositoryPtr src = open_repository(source);
    if (!src) throw Error(source.string() + " is not a git repository", ExitCode::usage);
    std::optional<git_oid> tip = resolve_ref(src.get(), request.remote_ref);
    if (!tip) {
        if (!has_refs(src.get(), source.string())) return FetchOutcome::empty;
        throw Error(source.string() + " is not a depsync repository (it has no " + request.remote_ref + ")",
                    ExitCode::usage);
    }
    std::optional<git_oid> have = resolve_ref(repo, request.local_ref);
    const bool tip_known = have && git_oid_equal(&*have, &*tip);

    Copier copier(src.get(), repo);
    if (!tip_known) {
        git_revwalk* raw_walk = nullptr;
        check(git_revwalk_new(&raw_walk, src.get()), "walk history");
        RevwalkPtr walk(raw_walk);
        git_revwalk_sorting(walk.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE);
        check(git_revwalk_push(walk.get(), &*tip), "walk history");
        // Commits we already hold (and so their whole history) need not be walked.
        if (have) {
            OdbPtr src_odb = open_odb(src.get(), "open source objects");
            if (git_odb_exists(src_odb.get(), &*have)) git_revwalk_hide(walk.get(), &*have);
        }
        git_oid id;
        while (git_revwalk_next(&id, walk.get()) == 0) copier.copy_commit(id);
    }
    // Tags too, also when no release came: an operator may tag an old release on the primary at any time.
    std::vector<RemoteTag> tags = copy_tags(src.get(), repo, copier);
    copier.sync();
    adopt_release_tags(repo, tags, *tip);
    if (tip_known) return FetchOutcome::unchanged;
    update_ref(repo, request.local_ref, *tip, have, "depsync fetch");
    return FetchOutcome::updated;
}

}  // namespace depsync::git
