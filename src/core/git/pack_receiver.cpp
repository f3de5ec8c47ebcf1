#include "core/git/pack_receiver.hpp"

#include <git2/sys/odb_backend.h>

#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/git/handle.hpp"
#include "core/git/repository.hpp"

namespace depsync::git {
namespace {

// Above libgit2's own loose (1) and pack (2) backends: git_odb_write_pack takes the first backend that can.
constexpr int receiver_priority = 100;

struct PieceBackend {
    git_odb_backend base;  // first: libgit2 hands back a pointer to it
    std::string pack_folder;
    std::size_t piece_bytes;
};
static_assert(std::is_standard_layout_v<PieceBackend>);

struct PieceWritepack {
    git_odb_writepack base;  // first, as above
    git_indexer* indexer = nullptr;
    std::vector<char> pending;  // received bytes not yet handed to the indexer
};
static_assert(std::is_standard_layout_v<PieceWritepack>);

PieceWritepack* writepack_of(git_odb_writepack* w) {
    return reinterpret_cast<PieceWritepack*>(w);
}

int hand_over(PieceWritepack* w, git_indexer_progress* stats) {
    if (w->pending.empty()) return 0;
    int rc = git_indexer_append(w->indexer, w->pending.data(), w->pending.size(), stats);
    w->pending.clear();
    return rc;
}

int append(git_odb_writepack* base, const void* data, std::size_t size, git_indexer_progress* stats) {
    PieceWritepack* w = writepack_of(base);
    const std::size_t piece = w->pending.capacity();
    if (w->pending.size() + size > piece) {
        if (int rc = hand_over(w, stats); rc < 0) return rc;
        // A piece larger than the buffer goes straight through.
        if (size >= piece) return git_indexer_append(w->indexer, data, size, stats);
    }
    const char* bytes = static_cast<const char*>(data);
    w->pending.insert(w->pending.end(), bytes, bytes + size);
    return 0;
}

int commit(git_odb_writepack* base, git_indexer_progress* stats) {
    PieceWritepack* w = writepack_of(base);
    if (int rc = hand_over(w, stats); rc < 0) return rc;
    return git_indexer_commit(w->indexer, stats);
}

void free_writepack(git_odb_writepack* base) {
    PieceWritepack* w = writepack_of(base);
    git_indexer_free(w->indexer);
    delete w;
}

int writepack(git_odb_writepack** out, git_odb_backend* backend, git_odb* odb, git_indexer_progress_cb cb,
              void* payload) {
    *out = nullptr;
    const auto* self = reinterpret_cast<PieceBackend*>(backend);
    auto* w = new (std::nothrow) PieceWritepack;
    if (w == nullptr) {
        git_error_set_oom();
        return -1;
    }
    git_indexer_options opts = GIT_INDEXER_OPTIONS_INIT;
    opts.progress_cb = cb;
    opts.progress_cb_payload = payload;
    if (git_indexer_new(&w->indexer, self->pack_folder.c_str(), 0, odb, &opts) < 0) {
        delete w;
        return -1;
    }
    try {
        w->pending.reserve(self->piece_bytes);
    } catch (const std::bad_alloc&) {
        git_indexer_free(w->indexer);
        delete w;
        git_error_set_oom();
        return -1;
    }
    w->base.backend = backend;
    w->base.append = append;
    w->base.commit = commit;
    w->base.free = free_writepack;
    *out = &w->base;
    return 0;
}

// git_odb_foreach calls every backend's foreach without checking for one: this backend holds no objects.
int foreach_none(git_odb_backend*, git_odb_foreach_cb, void*) {
    return 0;
}

void free_backend(git_odb_backend* backend) {
    delete reinterpret_cast<PieceBackend*>(backend);
}

}  // namespace

void receive_packs_in_pieces(git_repository* repo, std::size_t piece_bytes) {
    git_buf objects = GIT_BUF_INIT;
    check(git_repository_item_path(&objects, repo, GIT_REPOSITORY_ITEM_OBJECTS), "find the object folder");
    std::string folder(objects.ptr, objects.size);
    git_buf_dispose(&objects);
    if (folder.empty() || folder.back() != '/') folder += '/';
    folder += "pack";

    auto backend = std::make_unique<PieceBackend>();
    check(git_odb_init_backend(&backend->base, GIT_ODB_BACKEND_VERSION), "set up the pack receiver");
    backend->pack_folder = std::move(folder);
    backend->piece_bytes = piece_bytes == 0 ? 1 : piece_bytes;
    backend->base.writepack = writepack;
    backend->base.foreach = foreach_none;
    backend->base.free = free_backend;
    OdbPtr odb = open_odb(repo, "open objects");
    check(git_odb_add_backend(odb.get(), &backend->base, receiver_priority), "set up the pack receiver");
    backend.release();  // the object database frees it (free_backend)
}

}  // namespace depsync::git
