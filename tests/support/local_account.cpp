#include "support/local_account.hpp"

#include <pwd.h>
#include <unistd.h>

#include <stdexcept>

#include "support/process.hpp"

namespace depsync::testing {

std::optional<std::string> LocalAccount::unavailable() {
    if (::geteuid() != 0) return "the suite does not run as root (creating the server's account needs root)";
    if (::access("/usr/sbin/useradd", X_OK) != 0) return "useradd is not installed";
    return std::nullopt;
}

LocalAccount::LocalAccount()
    : m_name("dsync" + std::to_string(::getpid()) + "x" + std::to_string(::time(nullptr) % 100000)) {
    ProcessResult r = run({"/usr/sbin/useradd", "--system", "--no-create-home", "--user-group", "--shell",
                           "/usr/sbin/nologin", m_name});
    if (r.exit_code != 0) throw std::runtime_error("cannot create account " + m_name + ": " + r.err);
    passwd* pw = ::getpwnam(m_name.c_str());
    if (!pw) {
        run({"/usr/sbin/userdel", m_name});
        throw std::runtime_error("account " + m_name + " was created but cannot be looked up");
    }
    m_uid = pw->pw_uid;
    m_gid = pw->pw_gid;
}

LocalAccount::~LocalAccount() {
    run({"/usr/sbin/userdel", m_name});
}

void LocalAccount::give(const std::filesystem::path& path, bool recursive) const {
    auto own = [&](const std::filesystem::path& p) {
        if (::lchown(p.c_str(), m_uid, m_gid) < 0)
            throw std::runtime_error("cannot give " + p.string() + " to " + m_name);
    };
    own(path);
    if (!recursive || std::filesystem::is_symlink(path) || !std::filesystem::is_directory(path)) return;
    for (const auto& e : std::filesystem::recursive_directory_iterator(path)) own(e.path());
}

std::vector<std::string> LocalAccount::swapper_args() const {
    return {swapper_bin(), "--uid", std::to_string(m_uid), "--gid", std::to_string(m_gid)};
}

}  // namespace depsync::testing
