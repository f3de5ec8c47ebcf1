#include "core/git/prune.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/git/handle.hpp"
#include "core/git/repository.hpp"
#include "support/random_util.hpp"
#include "support/temp_dir.hpp"

namespace stdfs = std::filesystem;
using depsync::git::PruneMode;
using depsync::git::to_hex;
using depsync::testing::patterned;
using depsync::testing::TempDir;

namespace {

git_oid write_blob(git_repository* repo, const std::string& content) {
    git_oid id;
    depsync::git::check(git_blob_create_from_buffer(&id, repo, content.data(), content.size()), "write blob");
    return id;
}

// A tree of the blobs (named f0, f1, ...) and a commit on refs/heads/main naming it.
void commit_blobs(git_repository* repo, const std::vector<git_oid>& blobs) {
    git_treebuilder* raw = nullptr;
    depsync::git::check(git_treebuilder_new(&raw, repo, nullptr), "start tree");
    depsync::git::TreeBuilderPtr builder(raw);
    for (std::size_t i = 0; i < blobs.size(); ++i)
        depsync::git::check(git_treebuilder_insert(nullptr, builder.get(), ("f" + std::to_string(i)).c_str(),
                                                   &blobs[i], GIT_FILEMODE_BLOB),
                            "add to tree");
    git_oid tree_id;
    depsync::git::check(git_treebuilder_write(&tree_id, builder.get()), "write tree");
    git_tree* tree = nullptr;
    depsync::git::check(git_tree_lookup(&tree, repo, &tree_id), "read tree");
    depsync::git::TreePtr owned_tree(tree);
    git_signature* sig = nullptr;
    depsync::git::check(git_signature_new(&sig, "t", "t@example.invalid", 1, 0), "signature");
    depsync::git::SignaturePtr owned_sig(sig);
    git_oid commit;
    depsync::git::check(
        git_commit_create(&commit, repo, "refs/heads/main", sig, sig, nullptr, "m", tree, 0, nullptr),
        "commit");
}

std::string read_object(git_repository* repo, const git_oid& id) {
    git_odb* raw = nullptr;
    depsync::git::check(git_repository_odb(&raw, repo), "open objects");
    depsync::git::OdbPtr odb(raw);
    git_odb_object* obj = nullptr;
    depsync::git::check(git_odb_read(&obj, odb.get(), &id), "read object");
    depsync::git::OdbObjectPtr owned(obj);
    return std::string(static_cast<const char*>(git_odb_object_data(obj)), git_odb_object_size(obj));
}

stdfs::path loose_path(git_repository* repo, const git_oid& id) {
    std::string hex = to_hex(id);
    return stdfs::path(git_repository_path(repo)) / "objects" / hex.substr(0, 2) / hex.substr(2);
}

}  // namespace

TEST_CASE("pack mode packs loose blobs larger than its read buffer with their content unchanged") {
    TempDir tmp;
    depsync::git::RepositoryPtr repo = depsync::git::init_bare(tmp.path() / "r.git", "main");
    // Several read chunks, an archive-looking blob (stored, not deflated), a small and an empty one.
    const std::string big = patterned((3u << 20) + 12345, 1);
    const std::string zip = "PK\x03\x04" + patterned((2u << 20) + 7, 2);
    const std::vector<std::string> contents = {big, zip, "small\n", ""};
    std::vector<git_oid> ids;
    for (const std::string& c : contents) ids.push_back(write_blob(repo.get(), c));
    commit_blobs(repo.get(), ids);

    depsync::git::PruneReport report = depsync::git::prune_repository(repo.get(), {}, PruneMode::pack);

    CHECK(report.objects_packed == report.reachable);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        CHECK_FALSE(stdfs::exists(loose_path(repo.get(), ids[i])));
        CHECK(read_object(repo.get(), ids[i]) == contents[i]);
    }
}

TEST_CASE("pack mode stops at a loose object whose content does not match its name and deletes nothing") {
    TempDir tmp;
    depsync::git::RepositoryPtr repo = depsync::git::init_bare(tmp.path() / "r.git", "main");
    git_oid good = write_blob(repo.get(), "good\n");
    git_oid damaged = write_blob(repo.get(), patterned(100000, 3));
    git_oid other = write_blob(repo.get(), patterned(100000, 4));
    commit_blobs(repo.get(), {good, damaged});
    // A valid loose object under the wrong name: only its hash tells.
    stdfs::path damaged_file = loose_path(repo.get(), damaged);
    stdfs::permissions(damaged_file, stdfs::perms::owner_write, stdfs::perm_options::add);
    stdfs::copy_file(loose_path(repo.get(), other), damaged_file, stdfs::copy_options::overwrite_existing);

    CHECK_THROWS_AS(depsync::git::prune_repository(repo.get(), {}, PruneMode::pack),
                    depsync::git::ObjectError);

    CHECK(stdfs::exists(loose_path(repo.get(), good)));
    CHECK(stdfs::exists(damaged_file));
}
