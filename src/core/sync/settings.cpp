#include "core/sync/settings.hpp"

namespace depsync::sync {

const char* role_name(Role role) {
    return role == Role::primary ? "primary" : "peer";
}

const char* local_changes_name(LocalChanges policy) {
    switch (policy) {
        case LocalChanges::overwrite:
            return "overwrite";
        case LocalChanges::keep:
            return "keep";
        case LocalChanges::refuse:
            return "refuse";
    }
    return "?";
}

}  // namespace depsync::sync
