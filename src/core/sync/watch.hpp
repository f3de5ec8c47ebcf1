#pragma once
// watch (primary): publish by itself when the deployment directory changes. inotify reports every change; a
// release is made once the tree has been quiet for `settle` seconds, so a burst of copies becomes one
// release, and only when every archive is complete (publish refuses half-written ones; the watcher then tries
// again). Errors are logged and the watcher keeps running. SIGTERM or SIGINT stop it between releases.

#include <functional>
#include <string>

#include "core/sync/publish.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

struct WatchOptions {
    std::string message = "published by depsync watch";
};

// Runs until SIGTERM or SIGINT. `on_publish` is called after every publish attempt that did not throw.
void watch(const Settings& settings, const WatchOptions& options,
           const std::function<void(const PublishResult&)>& on_publish);

}  // namespace depsync::sync
