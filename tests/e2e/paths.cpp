// The build's paths, which CMake gives to the end-to-end suite only (see tests/CMakeLists.txt).

#include "support/local_account.hpp"
#include "support/process.hpp"

namespace depsync::testing {

std::string depsync_bin() {
    return DEPSYNC_BIN;
}
std::string testgen_bin() {
    return DEPSYNC_TESTGEN_BIN;
}
std::string swapper_bin() {
    return DEPSYNC_SWAPPER_BIN;
}
std::string source_dir() {
    return DEPSYNC_SOURCE_DIR;
}
std::string build_dir() {
    return DEPSYNC_BUILD_DIR;
}

}  // namespace depsync::testing
