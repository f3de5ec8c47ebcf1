#pragma once
// Receiving a fetched pack in large pieces.

#include <git2.h>

#include <cstddef>

namespace depsync::git {

// The default size of the pieces handed to libgit2's indexer.
constexpr std::size_t pack_piece_bytes = 8u << 20;

// Adds to `repo`'s object database a backend that receives packs (and does nothing else): the bytes a fetch
// downloads go to libgit2's indexer, into the repository's pack folder, `piece_bytes` at a time instead of
// one side-band packet (under 64 KiB) at a time. The indexer maps, copies and unmaps the pack file on every
// append, and drops every window it reads through: per packet, that was thousands of munmaps for one
// initial pull, each a TLB shoot-down across CPUs. The pack, its index and its checks are libgit2's.
// Call once per repository handle, before the fetch.
void receive_packs_in_pieces(git_repository* repo, std::size_t piece_bytes = pack_piece_bytes);

}  // namespace depsync::git
