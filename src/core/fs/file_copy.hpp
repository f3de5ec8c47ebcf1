#pragma once
// Copying a file's content between two descriptors without filling holes: only the data ranges of a sparse
// file (SEEK_DATA/SEEK_HOLE) are read and written, so a 2 GiB file of holes costs nothing on the target.

namespace depsync::fs {

// Copies `in` (from offset 0) to `out` (empty, opened for writing) and sets `out`'s size to `in`'s.
// Returns 0, or the errno of the first failure (ENOSPC when the target fills up); `out` is then partial and
// the caller removes it.
int copy_sparse(int in, int out);

}  // namespace depsync::fs
