#include "core/fs/safe_tree.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/error.hpp"
#include "core/fs/no_follow.hpp"

namespace depsync::fs {

std::string parent_path_of(const std::string& rel) {
    auto slash = rel.rfind('/');
    return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

std::string name_of(const std::string& rel) {
    auto slash = rel.rfind('/');
    return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

SafeTree::SafeTree(const std::filesystem::path& root)
    : m_root(root), m_root_fd(open_dir_no_symlinks(root, "deployment directory")) {}

SafeTree::SafeTree(int root_fd, const std::filesystem::path& root)
    : m_root(root), m_root_fd(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0)) {
    if (!m_root_fd) throw_errno("open deployment directory " + root.string());
}

int SafeTree::dir_if_exists(const std::string& rel) {
    if (rel.empty()) return m_root_fd.get();
    auto it = m_dirs.find(rel);
    if (it != m_dirs.end()) return it->second.get();
    std::string parent = parent_path_of(rel);
    int parent_fd = dir_if_exists(parent);
    if (parent_fd < 0) return -1;
    int fd = ::openat(parent_fd, name_of(rel).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        // A link or a file where a folder belongs is never followed: the caller removes it or refuses.
        if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR) return -1;
        throw_errno("open folder " + (m_root / rel).string());
    }
    if (m_dirs.size() > 512) m_dirs.clear();
    return m_dirs.emplace(rel, UniqueFd(fd)).first->second.get();
}

int SafeTree::dir(const std::string& rel) {
    int fd = dir_if_exists(rel);
    if (fd < 0)
        throw Error("cannot write into " + (m_root / rel).string() +
                    ": it is missing, or is a symlink or a file rather than a folder");
    return fd;
}

void SafeTree::make_dir(const std::string& rel, unsigned mode) {
    int parent = dir(parent_path_of(rel));
    // Created closed (0700) and opened without following a link: the owner and the mode are set on the
    // folder this call made, never on whatever might be put at its name.
    if (::mkdirat(parent, name_of(rel).c_str(), 0700) < 0) {
        if (errno == EEXIST) {
            struct stat st {};
            if (::fstatat(parent, name_of(rel).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
                return;
        }
        throw_errno("create folder " + (m_root / rel).string());
    }
    UniqueFd fd(::openat(parent, name_of(rel).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw_errno("open folder " + (m_root / rel).string());
    adopt(fd.get(), rel, mode);
}

void SafeTree::adopt(int fd, const std::string& rel, unsigned mode) {
    if (m_owner && ::fchown(fd, m_owner->uid, m_owner->gid) < 0)
        throw_errno("set the owner of " + (m_root / rel).string());
    if (::fchmod(fd, static_cast<mode_t>(mode)) < 0)
        throw_errno("set the mode of " + (m_root / rel).string());
}

void SafeTree::adopt_link(int dir_fd, const std::string& name, const std::string& rel) {
    if (m_owner && ::fchownat(dir_fd, name.c_str(), m_owner->uid, m_owner->gid, AT_SYMLINK_NOFOLLOW) < 0)
        throw_errno("set the owner of " + (m_root / rel).string());
}

void SafeTree::remove_file(const std::string& rel) {
    int parent = dir_if_exists(parent_path_of(rel));
    if (parent < 0) return;
    if (::unlinkat(parent, name_of(rel).c_str(), 0) < 0 && errno != ENOENT)
        throw_errno("remove " + (m_root / rel).string());
}

bool SafeTree::remove_dir(const std::string& rel) {
    m_dirs.erase(rel);
    int parent = dir_if_exists(parent_path_of(rel));
    if (parent < 0) return true;
    if (::unlinkat(parent, name_of(rel).c_str(), AT_REMOVEDIR) < 0) {
        if (errno == ENOENT) return true;
        if (errno == ENOTEMPTY || errno == EEXIST) return false;
        throw_errno("remove folder " + (m_root / rel).string());
    }
    return true;
}

void SafeTree::rename_into_place(const std::string& tmp_parent, const std::string& tmp_name,
                                 const std::string& parent, const std::string& final_name) {
    int from = dir(tmp_parent);
    int to = dir(parent);
    if (::renameat(from, tmp_name.c_str(), to, final_name.c_str()) < 0) {
        std::string rel = parent.empty() ? final_name : parent + "/" + final_name;
        throw_errno("move " + (m_root / rel).string() + " into place");
    }
}

void SafeTree::forget() {
    m_dirs.clear();
}

void SafeTree::sync() {
    if (::syncfs(m_root_fd.get()) < 0) throw_errno("sync " + m_root.string());
}

}  // namespace depsync::fs
