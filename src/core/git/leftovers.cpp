#include "core/git/leftovers.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "core/git/repository.hpp"

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

std::size_t clear_leftovers(git_repository* repo, std::chrono::seconds lock_min_age,
                            bool wait_for_young_locks) {
    namespace stdfs = std::filesystem;
    stdfs::path root = repository_dir(repo);
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
    // A lock younger than lock_min_age is waited for: plain git finishes its ref update well within that
    // time and removes it; one still there once it is old enough belongs to a killed run.
    // The wait is bounded by lock_min_age itself, also for a lock time-stamped in the future.
    auto stale_lock = [&](const stdfs::path& p) {
        const auto deadline = std::chrono::steady_clock::now() + lock_min_age;
        for (;;) {
            auto mtime = stdfs::last_write_time(p, ec);
            if (ec) return false;  // gone
            auto age = stdfs::file_time_type::clock::now() - mtime;
            if (age >= lock_min_age || (wait_for_young_locks && std::chrono::steady_clock::now() >= deadline))
                return true;
            if (!wait_for_young_locks) return false;
            spdlog::debug("waiting for {} to be released", p.string());
            std::this_thread::sleep_for(
                std::min<stdfs::file_time_type::duration>(lock_min_age - age, std::chrono::milliseconds(50)));
        }
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
