// The unit test binary's one libgit2 initialisation, as main owns it in depsync itself.

#include "core/git/handle.hpp"

namespace {
const depsync::git::Library library;
}  // namespace
