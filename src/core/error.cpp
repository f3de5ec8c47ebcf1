#include "core/error.hpp"

#include <cerrno>
#include <cstring>

namespace depsync {

void throw_errno(const std::string& what, int err) {
    throw Error("cannot " + what + ": " + std::strerror(err));
}

void throw_errno(const std::string& what) {
    throw_errno(what, errno);
}

}  // namespace depsync
