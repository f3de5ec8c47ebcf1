#pragma once
// Who owns what a root run creates in a deployment directory: the directory's owner (or the configured
// `owner`), so the application server can still rewrite the files it rewrites.

#include <sys/types.h>

#include <optional>
#include <string>

namespace depsync::fs {

struct Owner {
    uid_t uid = 0;
    gid_t gid = 0;
};

// "USER" or "USER:GROUP" (names or numbers; USER alone takes the user's primary group). Throws Error(usage)
// for an unknown user or group.
Owner parse_owner(const std::string& spec);

// The owner entries created below the folder `root_fd` get: `configured` when set, else the folder's owner.
// nullopt when this process is not root: it cannot give files away, and what it creates is its own anyway.
std::optional<Owner> owner_for_created(int root_fd, const std::string& configured);

}  // namespace depsync::fs
