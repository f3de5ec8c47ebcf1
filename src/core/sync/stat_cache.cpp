#include "core/sync/stat_cache.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string_view>
#include <vector>

#include "core/fs/atomic_file.hpp"
#include "core/git/handle.hpp"

namespace depsync::sync {
namespace {
// Version 1 (still read): text lines "<blob-hex> <mtime-ns> <ctime-ns> <size> <inode> <mode-octal> <racy>
// <path>", files only. Version 2 (written): this line, then binary, native byte order: tree id (20 bytes,
// zero for none), settings fingerprint (20), entry count (8), then per entry mtime-ns (8), ctime-ns (8),
// size (8), inode (8), mode (4), kind (1: 0 file, 1 folder, 2 symlink), racy (1), path length (2), blob id
// (20), the path.
constexpr std::string_view magic = "depsync-statcache 1";
constexpr std::string_view magic2 = "depsync-statcache 2";
constexpr std::size_t header2_size = 20 + 20 + 8;
constexpr std::size_t entry_fixed_size = 8 + 8 + 8 + 8 + 4 + 1 + 1 + 2 + 20;
// Well above the kernel's timestamp granularity (one jiffy, at most 10 ms).
constexpr std::int64_t racy_window_ns = 100'000'000;
}  // namespace

std::int64_t now_ns() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

StatKey StatKey::of(const struct stat& st) {
    StatKey k;
    k.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    k.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
    k.size = static_cast<std::uint64_t>(st.st_size);
    k.ino = static_cast<std::uint64_t>(st.st_ino);
    k.mode = static_cast<std::uint32_t>(st.st_mode);
    return k;
}

namespace {

// Reads a decimal (or, with base 8, octal) number and the one blank after it.
template <typename T>
bool take_number(const char*& p, const char* end, T& out, int base = 10) {
    auto [next, ec] = std::from_chars(p, end, out, base);
    if (ec != std::errc() || next == end || *next != ' ') return false;
    p = next + 1;
    return true;
}

// Version 1: text lines, files only.
bool load_text(std::string_view rest, std::unordered_map<std::string, CachedFile>& files) {
    files.reserve(static_cast<std::size_t>(std::count(rest.begin(), rest.end(), '\n')));
    while (!rest.empty()) {
        // hex mtime ctime size ino mode racy path; exactly one blank before the path, which may itself
        // start with blanks.
        std::size_t eol = rest.find('\n');
        if (eol == std::string_view::npos) return false;
        const char* p = rest.data();
        const char* end = p + eol;
        rest.remove_prefix(eol + 1);
        long long mt = 0, ct = 0;
        unsigned long long size = 0, ino = 0;
        unsigned mode = 0;
        int racy = 0;
        std::optional<git_oid> oid;
        if (end - p < GIT_OID_HEXSZ + 1 || p[GIT_OID_HEXSZ] != ' ' ||
            !(oid = git::parse_oid(std::string_view(p, GIT_OID_HEXSZ))))
            return false;
        p += GIT_OID_HEXSZ + 1;
        if (!take_number(p, end, mt) || !take_number(p, end, ct) || !take_number(p, end, size) ||
            !take_number(p, end, ino) || !take_number(p, end, mode, 8) || !take_number(p, end, racy) ||
            p == end)
            return false;
        CachedFile f;
        f.oid = *oid;
        f.stat = {mt, ct, size, ino, mode};
        f.racy = racy != 0;
        files.emplace(std::string(p, end), f);
    }
    return true;
}

template <typename T>
T take(const char* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

template <typename T>
void append(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// One version 2 entry at data[pos], or false when the data ends or is malformed there.
bool take_entry(std::string_view data, std::size_t& pos, CacheSnapshot::Entry& out, git_oid& oid) {
    if (data.size() - pos < entry_fixed_size) return false;
    const char* p = data.data() + pos;
    out.stat.mtime_ns = take<std::int64_t>(p);
    out.stat.ctime_ns = take<std::int64_t>(p + 8);
    out.stat.size = take<std::uint64_t>(p + 16);
    out.stat.ino = take<std::uint64_t>(p + 24);
    out.stat.mode = take<std::uint32_t>(p + 32);
    auto kind = static_cast<unsigned char>(p[36]);
    auto racy = static_cast<unsigned char>(p[37]);
    auto len = take<std::uint16_t>(p + 38);
    std::memcpy(oid.id, p + 40, GIT_OID_RAWSZ);
    if (kind > 2 || racy > 1 || len == 0 || data.size() - pos - entry_fixed_size < len) return false;
    out.kind = kind == 0   ? git::EntryKind::file
               : kind == 1 ? git::EntryKind::directory
                           : git::EntryKind::symlink;
    out.racy = racy != 0;
    out.path = data.substr(pos + entry_fixed_size, len);
    pos += entry_fixed_size + len;
    return true;
}

}  // namespace

StatCache StatCache::load(const std::filesystem::path& file) {
    StatCache cache;
    std::optional<std::string> text;
    try {
        text = fs::read_file(file);
    } catch (...) {
        return cache;
    }
    if (!text) return cache;
    std::string_view data(*text);
    std::size_t eol = data.find('\n');
    if (eol == std::string_view::npos) return cache;
    std::string_view first = data.substr(0, eol);
    data.remove_prefix(eol + 1);
    if (first == magic) {
        if (!load_text(data, cache.m_files)) return StatCache{};
        return cache;
    }
    if (first != magic2 || data.size() < header2_size) return cache;
    auto count = take<std::uint64_t>(data.data() + 40);
    std::size_t pos = header2_size;
    cache.m_files.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(count, data.size())));
    for (std::uint64_t i = 0; i < count; ++i) {
        CacheSnapshot::Entry e;
        CachedFile f;
        if (!take_entry(data, pos, e, f.oid)) return StatCache{};
        f.stat = e.stat;
        f.racy = e.racy;
        if (e.kind == git::EntryKind::file)
            cache.m_files.emplace(std::string(e.path), f);
        else
            cache.m_others.emplace(std::string(e.path), Other{f, e.kind});
    }
    if (pos != data.size()) return StatCache{};
    CacheTag tree{}, fingerprint{};
    std::memcpy(tree.id, data.data(), GIT_OID_RAWSZ);
    std::memcpy(fingerprint.id, data.data() + 20, GIT_OID_RAWSZ);
    if (!std::all_of(std::begin(tree.id), std::end(tree.id), [](unsigned char c) { return c == 0; })) {
        cache.m_tree = tree;
        cache.m_fingerprint = fingerprint;
    }
    return cache;
}

void StatCache::save(const std::filesystem::path& file, const CacheTag* tree,
                     const CacheTag* fingerprint) const {
    struct Item {
        const std::string* path;
        const CachedFile* entry;
        unsigned char kind;
    };
    std::vector<Item> items;
    items.reserve(m_files.size() + m_others.size());
    for (const auto& [path, f] : m_files) items.push_back({&path, &f, 0});
    for (const auto& [path, o] : m_others)
        items.push_back(
            {&path, &o.entry, static_cast<unsigned char>(o.kind == git::EntryKind::directory ? 1 : 2)});
    // Walk order: each folder's names sorted bytewise, a folder before what it holds. That is the bytewise
    // order of the paths with '/' made the smallest byte, NUL, which no name contains.
    std::size_t key_bytes = 0;
    for (const Item& i : items) key_bytes += i.path->size();
    std::string keys;
    keys.reserve(key_bytes);
    std::vector<std::pair<std::string_view, const Item*>> order;
    order.reserve(items.size());
    for (const Item& i : items) {
        std::size_t at = keys.size();
        keys += *i.path;
        std::replace(keys.begin() + static_cast<std::ptrdiff_t>(at), keys.end(), '/', '\0');
        order.emplace_back(std::string_view(keys.data() + at, i.path->size()), &i);
    }
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

    std::string out(magic2);
    out += '\n';
    out.reserve(out.size() + header2_size + items.size() * entry_fixed_size + key_bytes);
    const CacheTag none{};
    out.append(reinterpret_cast<const char*>((tree && fingerprint ? tree : &none)->id), GIT_OID_RAWSZ);
    out.append(reinterpret_cast<const char*>((tree && fingerprint ? fingerprint : &none)->id), GIT_OID_RAWSZ);
    std::size_t count_at = out.size();
    append<std::uint64_t>(out, 0);
    std::uint64_t count = 0;
    for (const auto& entry : order) {
        const Item& i = *entry.second;
        // A path longer than a folder name can be (PATH_MAX) is not cached: it is hashed each time.
        if (i.path->empty() || i.path->size() > 0xffff) continue;
        const CachedFile& f = *i.entry;
        append<std::int64_t>(out, f.stat.mtime_ns);
        append<std::int64_t>(out, f.stat.ctime_ns);
        append<std::uint64_t>(out, f.stat.size);
        append<std::uint64_t>(out, f.stat.ino);
        append<std::uint32_t>(out, f.stat.mode);
        out += static_cast<char>(i.kind);
        out += static_cast<char>(f.racy ? 1 : 0);
        append<std::uint16_t>(out, static_cast<std::uint16_t>(i.path->size()));
        out.append(reinterpret_cast<const char*>(f.oid.id), GIT_OID_RAWSZ);
        out += *i.path;
        ++count;
    }
    std::memcpy(out.data() + count_at, &count, sizeof count);
    // The cache is only an accelerator: losing it on power failure costs one re-hash, so no fsync.
    fs::write_file_atomically(file, out, 0600, fs::Fsync::no);
}

const CachedFile* StatCache::find(const std::string& path, const StatKey& stat) {
    auto it = m_files.find(path);
    if (it == m_files.end() || it->second.racy || !(it->second.stat == stat)) return nullptr;
    it->second.seen = true;
    return &it->second;
}

const CachedFile* StatCache::keep(const std::string& path) {
    if (auto it = m_files.find(path); it != m_files.end()) {
        it->second.seen = true;
        return &it->second;
    }
    if (auto it = m_others.find(path); it != m_others.end()) {
        it->second.entry.seen = true;
        return &it->second.entry;
    }
    return nullptr;
}

git::Listing StatCache::listing() const {
    git::Listing out;
    for (const auto& [path, f] : m_files)
        out.emplace(
            path,
            git::Entry{(f.stat.mode & S_IXUSR) ? git::EntryKind::executable : git::EntryKind::file, f.oid});
    for (const auto& [path, o] : m_others) out.emplace(path, git::Entry{o.kind, o.entry.oid});
    return out;
}

void StatCache::name_folders(const git::TreeIds& ids) {
    for (auto& [path, o] : m_others) {
        if (o.kind != git::EntryKind::directory) continue;
        const git_oid* id = ids.find(path);
        o.entry.oid = id ? *id : git_oid{};
    }
}

bool StatCache::folders_named() const {
    return std::all_of(m_others.begin(), m_others.end(), [](const auto& kv) {
        return kv.second.kind != git::EntryKind::directory || !git_oid_is_zero(&kv.second.entry.oid);
    });
}

void StatCache::forget_seen() {
    for (auto& kv : m_files) kv.second.seen = false;
    for (auto& kv : m_others) kv.second.entry.seen = false;
}

std::size_t StatCache::drop_unseen() {
    std::size_t dropped = 0;
    for (auto it = m_files.begin(); it != m_files.end();) {
        if (it->second.seen) {
            ++it;
        } else {
            it = m_files.erase(it);
            ++dropped;
        }
    }
    for (auto it = m_others.begin(); it != m_others.end();) {
        if (it->second.entry.seen) {
            ++it;
        } else {
            it = m_others.erase(it);
            ++dropped;
        }
    }
    return dropped;
}

void StatCache::put(const std::string& path, const StatKey& stat, const git_oid& oid,
                    std::int64_t read_at_ns) {
    if (path.find('\n') != std::string::npos) return;
    m_others.erase(path);
    m_files[path] = CachedFile{stat, oid, stat.mtime_ns >= read_at_ns - racy_window_ns, true};
}

void StatCache::put_other(const std::string& path, const StatKey& stat, git::EntryKind kind,
                          const git_oid& oid, std::int64_t read_at_ns) {
    if (path.find('\n') != std::string::npos) return;
    m_files.erase(path);
    m_others[path] = Other{CachedFile{stat, oid, stat.mtime_ns >= read_at_ns - racy_window_ns, true}, kind};
}

std::optional<CacheSnapshot> CacheSnapshot::read(const std::filesystem::path& file) {
    CacheSnapshot snap;
    try {
        std::optional<std::string> text = fs::read_file(file);
        if (!text) return std::nullopt;
        snap.m_data = std::move(*text);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    std::string_view data(snap.m_data);
    if (data.size() < magic2.size() + 1 + header2_size || data.substr(0, magic2.size()) != magic2 ||
        data[magic2.size()] != '\n')
        return std::nullopt;
    std::size_t at = magic2.size() + 1;
    std::memcpy(snap.m_tree.id, data.data() + at, GIT_OID_RAWSZ);
    std::memcpy(snap.m_fingerprint.id, data.data() + at + 20, GIT_OID_RAWSZ);
    snap.m_left = take<std::uint64_t>(data.data() + at + 40);
    snap.m_pos = at + header2_size;
    if (std::all_of(std::begin(snap.m_tree.id), std::end(snap.m_tree.id),
                    [](unsigned char c) { return c == 0; }))
        return std::nullopt;
    return snap;
}

bool CacheSnapshot::next(Entry& out) {
    if (m_left == 0) return false;
    git_oid ignored;
    if (!take_entry(m_data, m_pos, out, ignored)) {
        m_left = 0;
        m_pos = m_data.size() + 1;  // damaged: never at a clean end
        return false;
    }
    --m_left;
    return true;
}

}  // namespace depsync::sync
