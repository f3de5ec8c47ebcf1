#include "core/git/leftovers.hpp"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <string>

namespace depsync::git {
namespace {

bool starts_with(const std::string& s, const char* prefix) {
    return s.rfind(prefix, 0) == 0;
}
bool ends_with(const std::string& s, const char* suffix) {
    std::string suf(suffix);
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

}  // namespace

std::size_t clear_leftovers(git_repository* repo, std::chrono::seconds lock_min_age) {
    namespace stdfs = std::filesystem;
    stdfs::path root = git_repository_path(repo);
    std::size_t removed = 0;
    std::error_code ec;
    auto remove = [&](const stdfs::path& p) {
        if (stdfs::remove(p, ec)) {
            ++removed;
            spdlog::info("removed leftover of an interrupted run: {}", p.string());
        }
    };
    for (const auto& e : stdfs::directory_iterator(root / "objects", ec)) {
        std::string name = e.path().filename().string();
        if (starts_with(name, "tmp_depsync_") || starts_with(name, "tmp_object")) remove(e.path());
    }
    for (const auto& e : stdfs::directory_iterator(root / "objects" / "pack", ec)) {
        if (starts_with(e.path().filename().string(), "pack_git2_")) remove(e.path());
    }
    auto now = stdfs::file_time_type::clock::now();
    auto stale_lock = [&](const stdfs::path& p) {
        auto mtime = stdfs::last_write_time(p, ec);
        return !ec && now - mtime >= lock_min_age;
    };
    for (const char* name : {"HEAD.lock", "packed-refs.lock", "config.lock", "index.lock"})
        if (stdfs::exists(root / name, ec) && stale_lock(root / name)) remove(root / name);
    for (auto it = stdfs::recursive_directory_iterator(root / "refs", ec);
         it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (ends_with(it->path().filename().string(), ".lock") && stale_lock(it->path())) remove(it->path());
    }
    return removed;
}

}  // namespace depsync::git
