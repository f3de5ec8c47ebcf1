#include "core/fs/owner.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>

#include "core/error.hpp"

namespace depsync::fs {
namespace {

std::optional<unsigned long> number(const std::string& text) {
    unsigned long n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return n;
}

}  // namespace

Owner parse_owner(const std::string& spec) {
    auto colon = spec.find(':');
    std::string user = spec.substr(0, colon);
    std::string group = colon == std::string::npos ? std::string() : spec.substr(colon + 1);
    Owner owner;
    if (const passwd* pw = ::getpwnam(user.c_str())) {
        owner.uid = pw->pw_uid;
        owner.gid = pw->pw_gid;
    } else if (auto n = number(user)) {
        owner.uid = static_cast<uid_t>(*n);
        const passwd* by_id = ::getpwuid(owner.uid);
        if (!by_id && group.empty())
            throw Error("invalid owner '" + spec + "': user id " + user + " has no account (give USER:GROUP)",
                        ExitCode::usage);
        if (by_id) owner.gid = by_id->pw_gid;
    } else {
        throw Error("invalid owner '" + spec + "': no user '" + user + "' (expected USER or USER:GROUP)",
                    ExitCode::usage);
    }
    if (!group.empty()) {
        if (const struct group* gr = ::getgrnam(group.c_str()))
            owner.gid = gr->gr_gid;
        else if (auto n = number(group))
            owner.gid = static_cast<gid_t>(*n);
        else
            throw Error("invalid owner '" + spec + "': no group '" + group + "'", ExitCode::usage);
    }
    return owner;
}

std::optional<Owner> owner_for_created(int root_fd, const std::string& configured) {
    if (::geteuid() != 0) return std::nullopt;
    if (!configured.empty()) return parse_owner(configured);
    struct stat st {};
    if (::fstat(root_fd, &st) < 0) throw_errno("stat the deployment directory");
    return Owner{st.st_uid, st.st_gid};
}

}  // namespace depsync::fs
