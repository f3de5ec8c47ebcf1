#pragma once
// An unprivileged account made for one test and removed when it ends: the deployment directory's owner (the
// application server's account) in the local-account tests. Creating one needs root.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace depsync::testing {

// The depsync-swapper tool of this build (defined, like depsync_bin, by the end-to-end suite).
std::string swapper_bin();

class LocalAccount {
  public:
    // Why the account cannot be created here (not root, no useradd), or nullopt when it can.
    static std::optional<std::string> unavailable();

    // Runs useradd for a fresh system account with its own group; throws std::runtime_error on failure.
    LocalAccount();
    ~LocalAccount();  // userdel
    LocalAccount(const LocalAccount&) = delete;
    LocalAccount& operator=(const LocalAccount&) = delete;

    const std::string& name() const { return m_name; }
    uid_t uid() const { return m_uid; }
    gid_t gid() const { return m_gid; }

    // Gives `path` (and, with `recursive`, everything below it) to the account, without following links.
    void give(const std::filesystem::path& path, bool recursive = true) const;
    // The arguments that make depsync-swapper act as this account.
    std::vector<std::string> swapper_args() const;

  private:
    std::string m_name;
    uid_t m_uid = 0;
    gid_t m_gid = 0;
};

}  // namespace depsync::testing
