#pragma once
// The environment every child process of depsync starts with: this process's, without the variables that
// hold secrets. A hook (validate, on_change) may drop to another account, and ssh may forward variables;
// neither must receive the https credentials this process was given.

#include <map>
#include <string>
#include <vector>

namespace depsync::fs {

// The environment variables that carry secrets (read once, by the command line front); no child gets them.
inline constexpr const char* https_token_env = "DEPSYNC_HTTPS_TOKEN";
inline constexpr const char* https_password_env = "DEPSYNC_HTTPS_PASSWORD";
inline constexpr const char* secret_env_names[] = {https_token_env, https_password_env};

// Whether a child may see the secrets: only another run of this program does (it reads them itself and
// passes them to none of its own children).
enum class Secrets { drop, keep };

// A child's environment, built before fork or posix_spawn (nothing is allocated in the child): the current
// environment minus the secrets (unless `secrets` is keep), with `extra` added or replacing what is there.
class ChildEnvironment {
  public:
    explicit ChildEnvironment(const std::map<std::string, std::string>& extra = {},
                              Secrets secrets = Secrets::drop);
    ChildEnvironment(const ChildEnvironment&) = delete;
    ChildEnvironment& operator=(const ChildEnvironment&) = delete;

    // NULL-terminated "NAME=VALUE" strings for execve and posix_spawn; valid while this object lives.
    char* const* envp() const { return m_pointers.data(); }

  private:
    std::vector<std::string> m_entries;
    std::vector<char*> m_pointers;
};

}  // namespace depsync::fs
