#include "core/sync/stat_cache.hpp"

#include <cstdio>
#include <ctime>
#include <sstream>

#include "core/fs/atomic_file.hpp"
#include "core/git/handle.hpp"

namespace depsync::sync {
namespace {
constexpr const char* magic = "depsync-statcache 1";
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

StatCache StatCache::load(const std::filesystem::path& file) {
    StatCache cache;
    std::optional<std::string> text;
    try {
        text = fs::read_file(file);
    } catch (...) {
        return cache;
    }
    if (!text) return cache;
    std::istringstream in(*text);
    std::string line;
    if (!std::getline(in, line) || line != magic) return cache;
    while (std::getline(in, line)) {
        // hex mtime ctime size ino mode racy path
        char hex[GIT_OID_HEXSZ + 1] = {};
        long long mt = 0, ct = 0;
        unsigned long long size = 0, ino = 0;
        unsigned mode = 0;
        int racy = 0, consumed = 0;
        // No blank after %d: a path may itself start with blanks, so exactly one space separates it.
        if (std::sscanf(line.c_str(), "%40s %lld %lld %llu %llu %o %d%n", hex, &mt, &ct, &size, &ino, &mode,
                        &racy, &consumed) < 7 ||
            consumed <= 0 || static_cast<std::size_t>(consumed) + 1 >= line.size() ||
            line[static_cast<std::size_t>(consumed)] != ' ')
            return StatCache{};
        CachedFile f;
        if (git_oid_fromstr(&f.oid, hex) < 0) return StatCache{};
        f.stat = {mt, ct, size, ino, mode};
        f.racy = racy != 0;
        cache.m_files[line.substr(static_cast<std::size_t>(consumed) + 1)] = f;
    }
    return cache;
}

void StatCache::save(const std::filesystem::path& file) const {
    std::string out = std::string(magic) + "\n";
    out.reserve(m_files.size() * 120);
    char buf[160];
    for (const auto& [path, f] : m_files) {
        std::snprintf(buf, sizeof buf, "%s %lld %lld %llu %llu %o %d ", git::to_hex(f.oid).c_str(),
                      static_cast<long long>(f.stat.mtime_ns), static_cast<long long>(f.stat.ctime_ns),
                      static_cast<unsigned long long>(f.stat.size),
                      static_cast<unsigned long long>(f.stat.ino), f.stat.mode, f.racy ? 1 : 0);
        out += buf;
        out += path;
        out += '\n';
    }
    // The cache is only an accelerator: losing it on power failure costs one re-hash, so no fsync.
    fs::write_file_atomically(file, out, 0600, fs::Fsync::no);
}

const CachedFile* StatCache::find(const std::string& path, const StatKey& stat) const {
    auto it = m_files.find(path);
    if (it == m_files.end() || it->second.racy || !(it->second.stat == stat)) return nullptr;
    return &it->second;
}

void StatCache::put(const std::string& path, const StatKey& stat, const git_oid& oid,
                    std::int64_t read_at_ns) {
    if (path.find('\n') != std::string::npos) return;
    m_files[path] = CachedFile{stat, oid, stat.mtime_ns >= read_at_ns - racy_window_ns};
}

}  // namespace depsync::sync
