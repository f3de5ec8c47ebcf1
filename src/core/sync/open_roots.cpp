#include "core/sync/open_roots.hpp"

#include "core/fs/no_follow.hpp"

namespace depsync::sync {

OpenRoots open_roots(const std::vector<Root>& roots) {
    OpenRoots out;
    out.reserve(roots.size());
    for (const Root& r : roots)
        out.push_back(OpenRoot{r.name, r.dir, fs::open_dir_no_symlinks(r.dir, "deployment directory")});
    return out;
}

}  // namespace depsync::sync
