#include "support/fault_util.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "core/fs/zip_check.hpp"
#include "support/random_util.hpp"
#include "support/synapse_xml.hpp"
#include "support/tree_gen.hpp"

namespace depsync::testing {
namespace {

namespace stdfs = std::filesystem;

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::string_view temp_prefix = ".depsync-tmp.";

struct XmlHome {
    const char* folder;  // below synapse-configs/default
    XmlKind kind;
    const char* suffix;
};

// Folders the bulk of the XML goes to; templates, tasks, imports and inbound-endpoints are left to the
// mutations (emptied, removed, created) and to stay empty.
const XmlHome xml_homes[] = {
    {"api", XmlKind::api, "API"},
    {"endpoints", XmlKind::endpoint, "EP"},
    {"proxy-services", XmlKind::proxy, "Proxy"},
    {"local-entries", XmlKind::local_entry, "Config"},
    {"sequences", XmlKind::sequence, "Sequence"},
    {"message-stores", XmlKind::message_store, "Store"},
};

std::string read_all(const stdfs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void write_all(const stdfs::path& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string app_name(std::size_t index) {
    return std::string(business_noun(index % business_noun_count())) + "Svc" + std::to_string(index);
}

std::vector<stdfs::path> sorted_files(const stdfs::path& dir, const std::string& extension) {
    std::vector<stdfs::path> out;
    for (const auto& e : stdfs::recursive_directory_iterator(dir))
        if (e.is_regular_file() && e.path().extension() == extension) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

bool is_car(const std::string& name) {
    return name.size() > 4 && name.compare(name.size() - 4, 4, ".car") == 0;
}

}  // namespace

// --- Release trees -----------------------------------------------------------------------------------------

std::size_t build_fault_tree(const stdfs::path& root, std::uint64_t seed, const FaultTreeShape& shape) {
    // The small profile gives the layout, its empty folders, binaries and a few artifacts.
    generate_tree(root, Profile::small, seed);
    Rng rng(seed * 7919 + 1);
    const stdfs::path apps = root / "carbonapps";
    for (std::size_t i = 0; i < shape.capps; ++i) {
        const std::string version = "1.0." + std::to_string(i % 7);
        write_car(apps / (app_name(i) + "_" + version + ".car"), app_name(i), version,
                  log_uniform(rng, 100 * KiB, 5 * MiB / 2), rng);
    }
    for (std::size_t i = 0; i < shape.big_capps; ++i)
        write_car(apps / ("Bulk" + std::to_string(i) + "_2.0.0.car"), "Bulk" + std::to_string(i), "2.0.0",
                  shape.big_capp_bytes, rng);
    const std::size_t homes = sizeof xml_homes / sizeof xml_homes[0];
    for (std::size_t i = 0; i < shape.xml_files; ++i) {
        const XmlHome& home = xml_homes[i % homes];
        const std::string name = app_name(i) + home.suffix;
        const stdfs::path dir = root / "synapse-configs/default" / home.folder;
        write_all(dir / (name + ".xml"),
                  make_xml_artifact(home.kind, name, log_uniform(rng, 300, 6 * KiB), rng));
    }
    // Files for the mutations to empty and remove whole folders.
    write_small_files(root / "synapse-configs/default/templates", "Template", 6, 900, seed + 1);
    write_small_files(root / "synapse-configs/default/tasks", "Task", 4, 700, seed + 2);
    std::size_t files = 0;
    for (const auto& e : stdfs::recursive_directory_iterator(root))
        if (!e.is_directory()) ++files;
    return files;
}

std::string mutate_fault_tree(const stdfs::path& root, std::uint64_t seed) {
    Rng rng(seed);
    std::ostringstream summary;
    std::size_t bumped = 0, rebuilt = 0, deleted = 0;
    for (int i = 0; i < 14; ++i, ++bumped) bump_version(root, rng);
    for (int i = 0; i < 12; ++i, ++rebuilt) rebuild_in_place(root, rng);
    for (int i = 0; i < 6; ++i, ++deleted) delete_app(root, rng);
    const stdfs::path apps = root / "carbonapps";
    for (int i = 0; i < 4; ++i) {
        std::string app = "Added" + std::to_string(seed % 1000) + "x" + std::to_string(i);
        write_car(apps / (app + "_1.0.0.car"), app, "1.0.0", log_uniform(rng, 200 * KiB, 2 * MiB), rng);
    }
    edit_xml(root, 150, rng);
    // Delete 100 XML files, add 100 new ones.
    std::vector<stdfs::path> xml = sorted_files(root / "synapse-configs/default/api", ".xml");
    for (std::size_t i = 0; i < 100 && !xml.empty(); ++i) {
        std::size_t k = static_cast<std::size_t>(rng() % xml.size());
        stdfs::remove(xml[k]);
        xml.erase(xml.begin() + static_cast<std::ptrdiff_t>(k));
    }
    write_small_files(root / "synapse-configs/default/endpoints", "New" + std::to_string(seed % 1000) + "EP",
                      100, 1500, seed + 3);
    // One folder emptied (kept), one removed with its files, one created with files.
    const stdfs::path templates = root / "synapse-configs/default/templates";
    const stdfs::path tasks = root / "synapse-configs/default/tasks";
    const stdfs::path inbound = root / "synapse-configs/default/inbound-endpoints";
    std::string folders;
    if (!stdfs::is_empty(templates)) {
        empty_folder(root, "synapse-configs/default/templates");
        folders += " emptied templates;";
    } else {
        write_small_files(templates, "Template", 6, 900, seed + 4);
        folders += " filled templates;";
    }
    if (stdfs::exists(tasks)) {
        stdfs::remove_all(tasks);
        folders += " removed tasks/;";
    } else {
        write_small_files(tasks, "Task", 4, 700, seed + 5);
        folders += " created tasks/;";
    }
    const stdfs::path nested = inbound / ("batch" + std::to_string(seed % 1000));
    write_small_files(nested, "Inbound", 3, 600, seed + 6);
    // The executable flips its exec bit.
    const stdfs::path script = root / "class-mediators/run-check.sh";
    if (stdfs::exists(script)) {
        auto perms = stdfs::status(script).permissions();
        bool exec = (perms & stdfs::perms::owner_exec) != stdfs::perms::none;
        stdfs::permissions(script, exec ? stdfs::perms(0644) : stdfs::perms(0755));
    }
    summary << "bumped " << bumped << ", rebuilt " << rebuilt << ", deleted " << deleted
            << " CApps, added 4; edited 150 XML, deleted 100, added 100;" << folders
            << " created inbound-endpoints/" << nested.filename().string() << "; flipped an exec bit";
    return summary.str();
}

void write_small_files(const stdfs::path& folder, const std::string& prefix, std::size_t count,
                       std::size_t bytes, std::uint64_t seed) {
    stdfs::create_directories(folder);
    Rng rng(seed);
    for (std::size_t i = 0; i < count; ++i) {
        const std::string name = prefix + std::to_string(i);
        write_all(folder / (name + ".xml"), make_xml_artifact(XmlKind::endpoint, name, bytes, rng));
    }
}

// --- What a hot-deploying reader sees ----------------------------------------------------------------------

ArchiveWatcher::ArchiveWatcher(stdfs::path dir) : m_dir(std::move(dir)) {
    m_thread = std::thread([this] {
        while (!m_stop.load()) {
            int fd = ::open(m_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd >= 0) {
                sweep(fd, "");
                ::close(fd);
            }
            ++m_sweeps;
            // A short pause leaves the CPU to depsync on a 2-core machine; a sweep still starts every few ms.
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
}

ArchiveWatcher::~ArchiveWatcher() {
    stop();
}

void ArchiveWatcher::stop() {
    m_stop.store(true);
    if (m_thread.joinable()) m_thread.join();
}

std::vector<std::string> ArchiveWatcher::defects() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_defects;
}

void ArchiveWatcher::sweep(int dir_fd, const std::string& prefix) {
    int dup = ::dup(dir_fd);
    if (dup < 0) return;
    DIR* d = ::fdopendir(dup);
    if (!d) {
        ::close(dup);
        return;
    }
    std::vector<std::pair<std::string, unsigned char>> entries;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        // Dot-entries are invisible to the deployer: depsync's temp files live there.
        if (name.empty() || name[0] == '.') continue;
        entries.emplace_back(std::move(name), e->d_type);
    }
    ::closedir(d);
    for (const auto& [name, type] : entries) {
        if (m_stop.load()) return;
        const std::string path = prefix.empty() ? name : prefix + "/" + name;
        if (type == DT_DIR) {
            int sub = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) continue;  // removed meanwhile
            sweep(sub, path);
            ::close(sub);
        } else if (type == DT_REG && is_car(name)) {
            int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) continue;  // removed meanwhile: the deployer would not see it either
            std::optional<std::string> defect = fs::find_zip_defect(fd);
            ::close(fd);
            ++m_checked;
            if (defect) {
                std::lock_guard<std::mutex> lock(m_mutex);
                m_defects.push_back(path + ": " + *defect);
            }
        }
    }
}

std::vector<std::string> invalid_archives(const stdfs::path& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = stdfs::recursive_directory_iterator(dir, ec);
         !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (name[0] == '.') {
            if (it->is_directory()) it.disable_recursion_pending();
            continue;
        }
        if (!it->is_regular_file() || it->is_symlink() || !is_car(name)) continue;
        int fd = ::open(it->path().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            out.push_back(it->path().string() + ": cannot open: " + std::strerror(errno));
            continue;
        }
        if (auto defect = fs::find_zip_defect(fd)) out.push_back(it->path().string() + ": " + *defect);
        ::close(fd);
    }
    return out;
}

// --- Describing trees quickly ------------------------------------------------------------------------------

namespace {

// The same two FNV-1a variants as tree_compare's digest, so that listings compare with describe_tree's.
std::string fnv_digest(const stdfs::path& file, std::uint64_t& hashed) {
    int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open " + file.string() + ": " + std::strerror(errno));
    std::uint64_t h1 = 14695981039346656037ULL, h2 = 0x84222325cbf29ce4ULL;
    std::vector<unsigned char> buffer(1 << 16);
    for (;;) {
        ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::close(fd);
            throw std::runtime_error("cannot read " + file.string() + ": " + std::strerror(errno));
        }
        if (n == 0) break;
        hashed += static_cast<std::uint64_t>(n);
        for (ssize_t i = 0; i < n; ++i) {
            h1 = (h1 ^ buffer[static_cast<std::size_t>(i)]) * 1099511628211ULL;
            h2 = (h2 ^ buffer[static_cast<std::size_t>(i)]) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
        }
    }
    ::close(fd);
    char hex[40];
    std::snprintf(hex, sizeof hex, "%016llx%016llx", static_cast<unsigned long long>(h1),
                  static_cast<unsigned long long>(h2));
    return hex;
}

std::int64_t nanoseconds(const timespec& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

}  // namespace

bool TreeDescriber::Key::operator<(const Key& o) const {
    return std::tie(dev, ino, size, mtime, ctime) < std::tie(o.dev, o.ino, o.size, o.mtime, o.ctime);
}

TreeListing TreeDescriber::describe(const stdfs::path& root) {
    TreeListing out;
    walk(root, "", out);
    return out;
}

void TreeDescriber::walk(const stdfs::path& root, const std::string& prefix, TreeListing& out) {
    const stdfs::path dir = prefix.empty() ? root : root / prefix;
    DIR* d = ::opendir(dir.c_str());
    if (!d) throw std::runtime_error("cannot list " + dir.string() + ": " + std::strerror(errno));
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
    for (const std::string& name : names) {
        const std::string rel = prefix.empty() ? name : prefix + "/" + name;
        const stdfs::path full = root / rel;
        struct stat st {};
        if (::lstat(full.c_str(), &st) < 0)
            throw std::runtime_error("cannot stat " + full.string() + ": " + std::strerror(errno));
        NodeInfo info;
        info.mode = st.st_mode & 07777;
        info.inode = static_cast<std::uint64_t>(st.st_ino);
        info.mtime_ns = nanoseconds(st.st_mtim);
        if (S_ISDIR(st.st_mode)) {
            info.type = NodeType::directory;
        } else if (S_ISREG(st.st_mode)) {
            info.type = NodeType::file;
            info.size = static_cast<std::uint64_t>(st.st_size);
            Key key{static_cast<std::uint64_t>(st.st_dev), info.inode, info.size, info.mtime_ns,
                    nanoseconds(st.st_ctim)};
            auto hit = m_digests.find(key);
            if (hit != m_digests.end()) {
                info.content = hit->second;
            } else {
                info.content = fnv_digest(full, m_hashed);
                m_digests.emplace(key, info.content);
            }
        } else if (S_ISLNK(st.st_mode)) {
            info.type = NodeType::symlink;
            std::string target(static_cast<std::size_t>(st.st_size) + 256, '\0');
            ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
            if (n < 0) throw std::runtime_error("cannot read link " + full.string());
            target.resize(static_cast<std::size_t>(n));
            info.content = target;
        }
        out[rel] = info;
        if (info.type == NodeType::directory) walk(root, rel, out);
    }
}

// --- Old or new, never partial -----------------------------------------------------------------------------

bool is_depsync_temp(const std::string& relative_path) {
    std::size_t start = 0;
    for (;;) {
        if (relative_path.compare(start, temp_prefix.size(), temp_prefix) == 0) return true;
        std::size_t slash = relative_path.find('/', start);
        if (slash == std::string::npos) return false;
        start = slash + 1;
    }
}

std::vector<std::string> temp_files_in(const stdfs::path& dir) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = stdfs::recursive_directory_iterator(dir, ec);
         !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
        std::string rel = it->path().lexically_relative(dir).generic_string();
        if (is_depsync_temp(rel)) out.push_back(rel);
    }
    return out;
}

TreeListing without_temps(const TreeListing& listing) {
    TreeListing out;
    for (const auto& [path, info] : listing)
        if (!is_depsync_temp(path)) out.emplace(path, info);
    return out;
}

std::vector<std::string> old_or_new_violations(const TreeListing& now, const TreeListing& old_tree,
                                               const TreeListing& new_tree) {
    auto same = [](const NodeInfo& a, const NodeInfo& b) {
        if (a.type != b.type) return false;
        if (a.type == NodeType::directory) return true;
        if (a.content != b.content || a.size != b.size) return false;
        return a.type != NodeType::file || ((a.mode & 0100) == (b.mode & 0100));
    };
    std::vector<std::string> out;
    std::set<std::string> paths;
    for (const auto* l : {&now, &old_tree, &new_tree})
        for (const auto& kv : *l) paths.insert(kv.first);
    for (const std::string& p : paths) {
        if (is_depsync_temp(p)) continue;
        auto n = now.find(p);
        auto o = old_tree.find(p);
        auto w = new_tree.find(p);
        bool in_old = o != old_tree.end(), in_new = w != new_tree.end();
        if (n == now.end()) {
            if (in_old && in_new) out.push_back(p + ": missing, although both releases have it");
            continue;
        }
        if (!in_old && !in_new) {
            out.push_back(p + ": in neither release (" + node_type_name(n->second.type) + ")");
            continue;
        }
        if ((in_old && same(n->second, o->second)) || (in_new && same(n->second, w->second))) continue;
        out.push_back(p + ": neither the old nor the new content (" + node_type_name(n->second.type) + ", " +
                      std::to_string(n->second.size) + " bytes)");
    }
    return out;
}

// --- Repositories ------------------------------------------------------------------------------------------

ProcessResult run_git(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"git"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, {{"GIT_CONFIG_NOSYSTEM", "1"},
                      {"GIT_CONFIG_GLOBAL", "/dev/null"},
                      {"GIT_AUTHOR_NAME", "Plain Git"},
                      {"GIT_AUTHOR_EMAIL", "plain@example.com"},
                      {"GIT_COMMITTER_NAME", "Plain Git"},
                      {"GIT_COMMITTER_EMAIL", "plain@example.com"},
                      {"GIT_TERMINAL_PROMPT", "0"}});
}

std::vector<std::string> fsck_problems(const stdfs::path& repo) {
    ProcessResult r = run_git({"-C", repo.string(), "fsck", "--strict", "--no-dangling", "--no-progress"});
    std::vector<std::string> out;
    std::istringstream lines(r.out + r.err);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line.rfind("dangling ", 0) == 0 || line.rfind("notice: ", 0) == 0 ||
            line.rfind("Checking ", 0) == 0)
            continue;
        out.push_back(line);
    }
    if (r.exit_code != 0) out.push_back("git fsck exited with " + std::to_string(r.exit_code));
    return out;
}

std::vector<std::string> repo_leftovers(const stdfs::path& repo) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = stdfs::recursive_directory_iterator(repo, ec);
         !ec && it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
        const std::string name = it->path().filename().string();
        const std::string parent = it->path().parent_path().filename().string();
        bool lock = name.size() > 5 && name.compare(name.size() - 5, 5, ".lock") == 0;
        bool tmp_object = parent == "objects" && name.rfind("tmp_", 0) == 0;
        bool tmp_pack = parent == "pack" && name.rfind("pack_git2_", 0) == 0;
        if (lock || tmp_object || tmp_pack)
            out.push_back(it->path().lexically_relative(repo).generic_string());
    }
    return out;
}

std::optional<stdfs::path> loose_object_path(const stdfs::path& repo, const std::string& oid) {
    stdfs::path p = repo / "objects" / oid.substr(0, 2) / oid.substr(2);
    if (stdfs::exists(p)) return p;
    return std::nullopt;
}

void flip_bytes(const stdfs::path& file, std::size_t count, Inode inode) {
    std::string content = read_all(file);
    if (content.size() < count + 64)
        throw std::runtime_error("cannot damage " + file.string() + ": too small");
    std::size_t start = content.size() / 2;
    for (std::size_t i = 0; i < count; ++i) content[start + i * 7 % (content.size() - start)] ^= 0x5a;
    if (inode == Inode::same) {
        stdfs::permissions(file, stdfs::perms::owner_write, stdfs::perm_options::add);
        int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) throw std::runtime_error("cannot open " + file.string() + ": " + std::strerror(errno));
        ssize_t n = ::pwrite(fd, content.data(), content.size(), 0);
        ::close(fd);
        if (n != static_cast<ssize_t>(content.size()))
            throw std::runtime_error("cannot write " + file.string());
        return;
    }
    stdfs::path tmp = file;
    tmp += ".damaged";
    write_all(tmp, content);
    stdfs::rename(tmp, file);
}

void age_file(const stdfs::path& file, int seconds_ago) {
    auto when = stdfs::file_time_type::clock::now() - std::chrono::seconds(seconds_ago);
    stdfs::last_write_time(file, when);
}

// --- A tmpfs mounted by the test ---------------------------------------------------------------------------

TmpfsMount::TmpfsMount(stdfs::path dir, unsigned size_mib) : m_dir(std::move(dir)) {
    stdfs::create_directories(m_dir);
    std::string options = "size=" + std::to_string(size_mib) + "m,mode=0755";
    if (::mount("tmpfs", m_dir.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) < 0) {
        m_error = std::string("cannot mount tmpfs on ") + m_dir.string() + ": " + std::strerror(errno);
        return;
    }
    m_mounted = true;
}

TmpfsMount::~TmpfsMount() {
    if (m_mounted) ::umount2(m_dir.c_str(), MNT_DETACH);
}

void TmpfsMount::resize(unsigned size_mib) {
    std::string options = "size=" + std::to_string(size_mib) + "m";
    if (::mount("tmpfs", m_dir.c_str(), "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV, options.c_str()) < 0)
        throw std::runtime_error("cannot remount " + m_dir.string() + ": " + std::strerror(errno));
}

std::uint64_t TmpfsMount::free_bytes() const {
    struct statvfs vfs {};
    if (::statvfs(m_dir.c_str(), &vfs) < 0) throw std::runtime_error("cannot statvfs " + m_dir.string());
    return static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
}

// --- Small things ------------------------------------------------------------------------------------------

double now_seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace depsync::testing
