#include "support/tree_compare.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <stdexcept>

namespace depsync::testing {
namespace {

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("cannot " + what + ": " + std::strerror(errno));
}

// Two independent 64-bit FNV-1a variants: a collision between the few hundred files of a test is not a risk.
std::string digest_of_file(const std::filesystem::path& file) {
    int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) fail("open " + file.string());
    std::uint64_t h1 = 14695981039346656037ULL, h2 = 0x84222325cbf29ce4ULL;
    unsigned char buffer[65536];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::close(fd);
            fail("read " + file.string());
        }
        if (n == 0) break;
        for (ssize_t i = 0; i < n; ++i) {
            h1 = (h1 ^ buffer[i]) * 1099511628211ULL;
            h2 = (h2 ^ buffer[i]) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
        }
    }
    ::close(fd);
    char hex[40];
    std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(h1),
                  static_cast<unsigned long long>(h2));
    return hex;
}

std::string link_target(const std::filesystem::path& link, std::size_t size_hint) {
    std::string target(size_hint + 256, '\0');
    ssize_t n = ::readlink(link.c_str(), target.data(), target.size());
    if (n < 0) fail("read link " + link.string());
    target.resize(static_cast<std::size_t>(n));
    return target;
}

void describe_into(const std::filesystem::path& root, const std::string& prefix, const PathFilter& skip,
                   TreeListing& out) {
    std::filesystem::path dir = prefix.empty() ? root : root / prefix;
    DIR* d = ::opendir(dir.c_str());
    if (!d) fail("list " + dir.string());
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
    for (const std::string& name : names) {
        std::string rel = prefix.empty() ? name : prefix + "/" + name;
        if (skip && skip(rel)) continue;
        std::filesystem::path full = root / rel;
        struct stat st {};
        if (::lstat(full.c_str(), &st) < 0) fail("stat " + full.string());
        NodeInfo info;
        info.mode = st.st_mode & 07777;
        info.inode = static_cast<std::uint64_t>(st.st_ino);
        info.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
        if (S_ISDIR(st.st_mode)) {
            info.type = NodeType::directory;
        } else if (S_ISREG(st.st_mode)) {
            info.type = NodeType::file;
            info.size = static_cast<std::uint64_t>(st.st_size);
            info.content = digest_of_file(full);
        } else if (S_ISLNK(st.st_mode)) {
            info.type = NodeType::symlink;
            info.content = link_target(full, static_cast<std::size_t>(st.st_size));
        }
        out[rel] = info;
        if (info.type == NodeType::directory) describe_into(root, rel, skip, out);
    }
}

std::string octal(mode_t mode) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode));
    return buf;
}

}  // namespace

const char* node_type_name(NodeType type) {
    switch (type) {
        case NodeType::file:
            return "file";
        case NodeType::directory:
            return "folder";
        case NodeType::symlink:
            return "symlink";
        case NodeType::other:
            return "special file";
    }
    return "?";
}

TreeListing describe_tree(const std::filesystem::path& root, const PathFilter& skip) {
    TreeListing out;
    describe_into(root, "", skip, out);
    return out;
}

std::vector<std::string> diff_trees(const TreeListing& a, const TreeListing& b, const PathFilter& ignore,
                                    ModeCheck modes) {
    std::set<std::string> paths;
    for (const auto& kv : a) paths.insert(kv.first);
    for (const auto& kv : b) paths.insert(kv.first);
    std::vector<std::string> lines;
    for (const std::string& path : paths) {
        if (ignore && ignore(path)) continue;
        auto ia = a.find(path);
        auto ib = b.find(path);
        if (ib == b.end()) {
            lines.push_back("only in A: " + path + " (" + node_type_name(ia->second.type) + ")");
            continue;
        }
        if (ia == a.end()) {
            lines.push_back("only in B: " + path + " (" + node_type_name(ib->second.type) + ")");
            continue;
        }
        const NodeInfo& x = ia->second;
        const NodeInfo& y = ib->second;
        if (x.type != y.type) {
            lines.push_back(path + ": " + node_type_name(x.type) + " in A, " + node_type_name(y.type) +
                            " in B");
            continue;
        }
        if (x.type == NodeType::file && (x.size != y.size || x.content != y.content))
            lines.push_back(path + ": content differs (" + std::to_string(x.size) + " vs " +
                            std::to_string(y.size) + " bytes)");
        if (x.type == NodeType::symlink && x.content != y.content)
            lines.push_back(path + ": symlink to '" + x.content + "' in A, to '" + y.content + "' in B");
        if (modes == ModeCheck::exact && x.mode != y.mode)
            lines.push_back(path + ": mode " + octal(x.mode) + " in A, " + octal(y.mode) + " in B");
        if (modes == ModeCheck::exec_bit && x.type == NodeType::file && ((x.mode ^ y.mode) & S_IXUSR))
            lines.push_back(path + ": " + ((x.mode & S_IXUSR) ? "executable" : "not executable") + " in A, " +
                            ((y.mode & S_IXUSR) ? "executable" : "not executable") + " in B");
    }
    return lines;
}

std::vector<std::string> diff_trees(const std::filesystem::path& a, const std::filesystem::path& b,
                                    const PathFilter& ignore, ModeCheck modes) {
    return diff_trees(describe_tree(a), describe_tree(b), ignore, modes);
}

std::string format_differences(const std::vector<std::string>& lines) {
    if (lines.empty()) return "(same)";
    std::string out;
    for (const auto& line : lines) out += "\n  " + line;
    return out;
}

}  // namespace depsync::testing
