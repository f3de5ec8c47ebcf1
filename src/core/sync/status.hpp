#pragma once
// status: which release this node runs, read from local state only (no network).

#include <optional>
#include <string>

#include "core/sync/release.hpp"
#include "core/sync/run_record.hpp"
#include "core/sync/settings.hpp"

namespace depsync::sync {

struct NodeStatus {
    Role role = Role::peer;
    std::string node;
    std::string dir;
    std::optional<Release> release;               // deployed (peer) or current (primary)
    std::optional<Release> upstream;              // peer: newest release fetched
    bool interrupted = false;                     // an apply was interrupted; the next pull completes it
    bool pinned = false;                          // peer: held at its release until 'depsync unpin'
    std::optional<std::uint64_t> pinned_release;  // peer: the release the pin (or hold) names
    std::int64_t pinned_at = 0;                   // when the pin (or hold) was set, unix seconds
    std::string pin_reason;                       // the operator's reason (pin --reason); empty: none given
    bool on_pin = false;                          // pinned, and the directory holds the pinned release
    std::optional<std::size_t> drift;  // paths that differ locally from the release (verify's count)
    std::size_t held_back = 0;         // peer: paths a kept local change holds over the release's change
    bool held = false;                 // peer: pinned by a failed on_change (held_reason says why)
    std::string held_reason;
    std::optional<std::uint64_t> releases_behind;  // peer: upstream number - deployed number
    RunRecord run;                                 // the last runs' facts (STATE/last-run)
};

NodeStatus read_status(const Settings& settings);

}  // namespace depsync::sync
