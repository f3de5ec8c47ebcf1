#include "core/sync/scan.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <optional>

#include <spdlog/spdlog.h>

#include "core/error.hpp"
#include "core/fs/no_follow.hpp"
#include "core/fs/path_safety.hpp"
#include "core/fs/unique_fd.hpp"
#include "core/fs/zip_check.hpp"
#include "core/progress.hpp"

namespace depsync::sync {
namespace {

// Which folders an incremental scan reads: the changed ones, everything below a new subtree, the folders
// above them (to reach them), and any folder the base listing does not hold as a folder.
class ReadPlan {
  public:
    explicit ReadPlan(const IncrementalScan& incremental) : m_incremental(incremental) {
        for (const auto* set : {&incremental.changed->folders, &incremental.changed->subtrees})
            for (const std::string& path : *set) add_with_parents(path);
    }

    // False when the folder's entries are the base listing's.
    bool reads(const std::string& path) const {
        if (m_visit.count(path)) return true;
        for (auto slash = path.find('/');; slash = path.find('/', slash + 1)) {
            if (m_incremental.changed->subtrees.count(path.substr(0, slash))) return true;
            if (slash == std::string::npos) break;
        }
        auto it = m_incremental.base->find(path);
        return it == m_incremental.base->end() || it->second.kind != git::EntryKind::directory;
    }

  private:
    const IncrementalScan& m_incremental;
    std::set<std::string> m_visit;

    void add_with_parents(std::string path) {
        for (;;) {
            if (!m_visit.insert(path).second) return;
            auto slash = path.rfind('/');
            if (slash == std::string::npos) break;
            path.resize(slash);
        }
        m_visit.insert("");
    }
};

class Scanner {
  public:
    Scanner(const ScanOptions& options, StatCache& cache, std::size_t strip, uid_t owner,
            const ReadPlan* plan)
        : m_options(options), m_cache(cache), m_strip(strip), m_owner(owner), m_plan(plan) {}

    ScanResult result;

    // Lists the folder open at `dir_fd`. `read`: this folder as read_tree read it just before, or null.
    void scan_dir(int dir_fd, const std::string& prefix, const FolderRead* read = nullptr) {
        FolderRead own;
        if (!read || read->unreadable) {
            own.path = prefix;
            own.strip = m_strip;
            if (!read_folder(dir_fd, own, m_options.exclude)) throw_errno("read folder " + prefix);
            read = &own;
        }
        if (m_plan) result.read_folders.insert(prefix);
        for (std::size_t i = 0; i < read->names.size(); ++i) {
            const std::string& name = read->names[i];
            std::string path = prefix.empty() ? name : prefix + "/" + name;
            const struct stat& st = read->stats[i].st;
            switch (read->classes[i]) {
                case EntryClass::vanished:  // removed while we looked
                    break;
                case EntryClass::stat_failed:
                    throw_errno("stat " + path, read->stats[i].error);
                case EntryClass::temp:
                    if (m_options.remove_stale_temps && ::unlinkat(dir_fd, name.c_str(), 0) == 0)
                        ++result.stale_temps_removed;
                    break;
                case EntryClass::excluded:
                    for (auto slash = path.rfind('/'); slash != std::string::npos && slash > 0;
                         slash = path.rfind('/', slash - 1))
                        result.holds_excluded.insert(path.substr(0, slash));
                    break;
                case EntryClass::unnamable:
                case EntryClass::special:
                    result.skipped.push_back(path);
                    break;
                case EntryClass::folder:
                    scan_folder(dir_fd, name, std::move(path), st,
                                i < read->below.size() ? read->below[i].get() : nullptr);
                    break;
                case EntryClass::symlink:
                    scan_symlink(dir_fd, name, std::move(path), st);
                    break;
                case EntryClass::file:
                    if (m_options.refuse_foreign_links && st.st_nlink > 1 && st.st_uid != m_owner) {
                        spdlog::warn(
                            "not published: {} has {} hard links and belongs to uid {}, not to the "
                            "directory's owner (uid {})",
                            path, st.st_nlink, st.st_uid, m_owner);
                        break;
                    }
                    scan_file(dir_fd, name, std::move(path), st);
                    break;
            }
        }
    }

    // An unchanged folder of an incremental scan: everything below it as the base listing holds it.
    void take_from_base(const std::string& folder) {
        const std::string prefix = folder + "/";
        const git::Listing& base = *m_options.incremental->base;
        if (m_options.incremental->partial) return report_known_malformed_below(prefix);
        auto hint = result.listing.end();
        for (auto it = base.lower_bound(prefix);
             it != base.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
            if (const CachedFile* cached = m_cache.keep(it->first))
                report_known_malformed(it->first, cached->stat);
            hint = std::next(result.listing.emplace_hint(hint, it->first, it->second));
        }
    }

  private:
    const ScanOptions& m_options;
    StatCache& m_cache;
    std::size_t m_strip;     // length of "name/" for a named root
    uid_t m_owner;           // the root's owner: whose files may have several links
    const ReadPlan* m_plan;  // an incremental scan's, or null: every folder is read
    std::int64_t m_start = now_ns();
    Progress m_progress{m_options.writer ? "publish: reading changed files" : "comparing files"};

    // An incomplete archive is listed (as a malformed one) only when publish accepted it with this very stat,
    // or in a comparison, which must see the file as it is.
    bool taken_as_it_is(const ArchiveDefect& found) const {
        if (m_options.accept_every_malformed) return true;
        if (!m_options.accept_malformed) return false;
        auto it = m_options.accept_malformed->find(found.path);
        return it != m_options.accept_malformed->end() && it->second == found.stat;
    }

    // A cache hit is the file the last publish read: when that publish found it malformed, it still is.
    void report_known_malformed(const std::string& path, const StatKey& key) {
        if (!m_options.check_archives || !m_options.known_malformed) return;
        auto it = m_options.known_malformed->find(path);
        if (it != m_options.known_malformed->end()) result.malformed.push_back({path, it->second, key});
    }

    // A partial scan lists nothing of a folder it does not read, but the archives the last publish found
    // malformed there are still malformed while the cache vouches for them.
    void report_known_malformed_below(const std::string& prefix) {
        if (!m_options.check_archives || !m_options.known_malformed) return;
        const git::Listing& base = *m_options.incremental->base;
        for (auto it = m_options.known_malformed->lower_bound(prefix);
             it != m_options.known_malformed->end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
            if (const CachedFile* cached = base.count(it->first) ? m_cache.keep(it->first) : nullptr)
                result.malformed.push_back({it->first, it->second, cached->stat});
    }

    // `below`: the folder as read_tree read it, or null (then it is opened and read here).
    void scan_folder(int dir_fd, const std::string& name, std::string path, const struct stat& st,
                     const FolderRead* below) {
        fs::UniqueFd sub;
        if (!below && !(m_plan && !m_plan->reads(path))) {
            sub = open_folder(dir_fd, name);
            if (!sub) throw_errno("open folder " + path);
        }
        m_cache.put_other(path, StatKey::of(st), git::EntryKind::directory, {}, m_start);
        result.listing.emplace(path, git::Entry{git::EntryKind::directory, {}});
        if (m_plan && !m_plan->reads(path)) return take_from_base(path);
        scan_dir(below ? below->fd.get() : sub.get(), path, below);
    }

    void scan_symlink(int dir_fd, const std::string& name, std::string path, const struct stat& st) {
        std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
        ssize_t n = ::readlinkat(dir_fd, name.c_str(), target.data(), target.size());
        if (n < 0) throw_errno("read symlink " + path);
        target.resize(static_cast<std::size_t>(n));
        git_oid oid = m_options.writer ? m_options.writer->write_blob(target) : git::hash_blob(target);
        m_cache.put_other(path, StatKey::of(st), git::EntryKind::symlink, oid, m_start);
        result.listing.emplace(std::move(path), git::Entry{git::EntryKind::symlink, oid});
    }

    void scan_file(int dir_fd, const std::string& name, std::string path, const struct stat& st) {
        git::EntryKind kind = (st.st_mode & S_IXUSR) ? git::EntryKind::executable : git::EntryKind::file;
        StatKey key = StatKey::of(st);
        if (!m_options.full) {
            if (const CachedFile* hit = m_cache.find(path, key)) {
                report_known_malformed(path, key);
                result.listing.emplace(std::move(path), git::Entry{kind, hit->oid});
                return;
            }
        }
        // Non-blocking, no symlink, and only the regular file just listed: something put in its place (a FIFO
        // would block this open forever) is not read.
        std::string refused;
        fs::UniqueFd fd = fs::open_listed_file(dir_fd, name, st, refused);
        if (!fd) {
            if (refused.empty() && errno == ENOENT) return;  // removed while we looked
            if (refused.empty()) throw_errno("open " + path);
            // Read as a file that changed: publish looks again (and skips a FIFO or device then), a
            // comparison lists it as differing from every release.
            spdlog::warn("{} was not read: {}", path, refused);
            result.changing.push_back(path);
            if (!m_options.writer) result.listing[path] = git::Entry{kind, {}};
            return;
        }
        if (m_options.check_archives && fs::is_archive_name(name)) {
            if (auto defect = fs::find_zip_defect(fd.get())) {
                ArchiveDefect found{path, *defect, key};
                if (!taken_as_it_is(found)) {
                    result.incomplete.push_back(std::move(found));
                    return;
                }
                result.malformed.push_back(std::move(found));
            }
        }
        git_oid oid;
        try {
            bool archive = fs::is_archive_name(name);
            oid = m_options.writer
                      ? m_options.writer->write_blob(
                            fd.get(), key.size, archive ? git::Compression::store : git::Compression::fast)
                      : git::hash_blob(fd.get(), key.size);
        } catch (const git::FileChanged&) {
            result.changing.push_back(path);
            // When only comparing, a file being written differs from any release: list it with a null id.
            if (!m_options.writer) result.listing[path] = git::Entry{kind, {}};
            return;
        }
        struct stat after {};
        if (::fstat(fd.get(), &after) < 0) throw_errno("stat " + path);
        StatKey after_key = StatKey::of(after);
        if (!(after_key == key)) {
            result.changing.push_back(path);
            return;
        }
        ++result.hashed;
        m_progress.add(1, key.size);
        if (key.mtime_ns >= now_ns() - 200'000'000) result.recent.push_back(path);
        m_cache.put(path, key, oid, m_start);
        result.listing.emplace(std::move(path), git::Entry{kind, oid});
    }
};

}  // namespace

ScanResult scan_roots(const OpenRoots& roots, const ScanOptions& options, StatCache& cache,
                      const TreeRead* read) {
    ScanResult total;
    std::optional<ReadPlan> plan;
    if (options.incremental) plan.emplace(*options.incremental);
    // A partial scan leaves the entries it does not read as they are: merge_scan drops what is gone.
    const bool partial = options.incremental && options.incremental->partial;
    if (!partial) cache.forget_seen();
    for (const OpenRoot& root : roots) {
        uid_t owner = 0;
        if (options.owner) {
            owner = *options.owner;
        } else {
            struct stat st {};
            if (::fstat(root.fd.get(), &st) < 0) throw_errno("stat " + root.dir.string());
            owner = st.st_uid;
        }
        Scanner scanner(options, cache, root.name.empty() ? 0 : root.name.size() + 1, owner,
                        plan ? &*plan : nullptr);
        if (!root.name.empty()) total.listing[root.name] = git::Entry{git::EntryKind::directory, {}};
        if (plan && !root.name.empty() && !plan->reads(root.name)) {
            scanner.take_from_base(root.name);
            total.listing.merge(scanner.result.listing);
            total.malformed.insert(total.malformed.end(), scanner.result.malformed.begin(),
                                   scanner.result.malformed.end());
            continue;
        }
        const FolderRead* walked = nullptr;
        if (read)
            for (const auto& top : read->tops)
                if (top->path == root.name) walked = top.get();
        scanner.scan_dir(root.fd.get(), root.name, walked);
        ScanResult& r = scanner.result;
        total.listing.merge(r.listing);
        total.changing.insert(total.changing.end(), r.changing.begin(), r.changing.end());
        total.recent.insert(total.recent.end(), r.recent.begin(), r.recent.end());
        total.incomplete.insert(total.incomplete.end(), r.incomplete.begin(), r.incomplete.end());
        total.malformed.insert(total.malformed.end(), r.malformed.begin(), r.malformed.end());
        total.skipped.insert(total.skipped.end(), r.skipped.begin(), r.skipped.end());
        total.hashed += r.hashed;
        total.holds_excluded.merge(r.holds_excluded);
        total.stale_temps_removed += r.stale_temps_removed;
        total.read_folders.merge(r.read_folders);
    }
    std::size_t dropped = partial ? 0 : cache.drop_unseen();
    total.cache_changed = total.hashed > 0 || dropped > 0;
    return total;
}

git_oid scan_fingerprint(const std::vector<Root>& roots, const std::vector<std::string>& patterns) {
    std::string text = std::to_string(roots.size()) + " roots";
    for (const Root& r : roots) text += '\0' + r.name + '\0' + r.dir.string();
    text += '\0' + std::to_string(patterns.size()) + " patterns";
    for (const auto& p : patterns) text += '\0' + p;
    // Not a cryptographic hash: only ever compared with what this node saved itself, and SHA-1 would cost
    // OpenSSL's start-up (several ms) in a run that hashes nothing else. Two FNV-1a streams and the length.
    std::uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL;
    for (char c : text) {
        a = (a ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
        b = (b ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
        b ^= b >> 29;
    }
    git_oid id{};
    auto length = static_cast<std::uint32_t>(text.size());
    std::memcpy(id.id, &a, 8);
    std::memcpy(id.id + 8, &b, 8);
    std::memcpy(id.id + 16, &length, 4);
    return id;
}

ScanResult scan_tree(const std::filesystem::path& root, const ScanOptions& options, StatCache& cache) {
    return scan_roots(open_roots({Root{"", root}}), options, cache);
}

}  // namespace depsync::sync
