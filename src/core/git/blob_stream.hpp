#pragma once
// Reading blobs without holding large ones in memory when the object database allows it.

#include <git2.h>

#include <cstdint>
#include <functional>
#include <string>

namespace depsync::git {

// Size of a blob from its header, without reading the content. Both functions throw Error (not ObjectError)
// when the object is not a blob: a release whose file entry names a tree is malformed, not damaged.
std::uint64_t blob_size(git_odb* odb, const git_oid& id);

// Calls `sink` with successive chunks of the blob's content. Loose objects are streamed in chunks; packed
// ones are read whole (libgit2 1.5 has no streaming reads from packs). Either way the content is checked
// against `id`: ObjectError when it does not match, after the sink has seen it (write it somewhere
// invisible until this returns).
void read_blob(git_odb* odb, const git_oid& id, const std::function<void(const char*, std::size_t)>& sink);

// The whole content of a small blob (a symlink's target), through read_blob.
std::string read_small_blob(git_odb* odb, const git_oid& id);

}  // namespace depsync::git
