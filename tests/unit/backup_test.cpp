// Backups of local changes across file systems: copies keep holes, are bounded by backup_max_bytes and the
// free space, and a copy that fails is removed; pruning never removes the current run's backup.

#include "core/sync/backup.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "core/error.hpp"
#include "core/fs/unique_fd.hpp"
#include "support/temp_dir.hpp"

namespace stdfs = std::filesystem;
using depsync::fs::UniqueFd;
using depsync::sync::Backup;
using depsync::testing::TempDir;

namespace {

constexpr std::uint64_t MiB = 1 << 20;

void write(const stdfs::path& path, const std::string& content) {
    stdfs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
}

// Runs `body` in a child with a tmpfs of `options` on `mount_point`, visible only to the child: the backup
// then lies on another file system than the directory. Returns the child's exit code; 77 when the mount
// cannot be had.
template <typename Body>
int in_small_filesystem(const stdfs::path& mount_point, const char* options, Body&& body) {
    pid_t pid = ::fork();
    if (pid == 0) {
        int code = 77;
        if (::unshare(CLONE_NEWNS) == 0 &&
            ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
            ::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, options) == 0) {
            try {
                code = body();
            } catch (const std::exception& e) {
                std::ofstream(mount_point.parent_path() / "child-error") << e.what();
                code = 99;
            }
        }
        ::_exit(code);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::string read(const stdfs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Fixture {
    TempDir tmp;
    stdfs::path dir = tmp / "deployment";
    stdfs::path state = tmp / "state";
    UniqueFd dir_fd;
    Fixture() {
        stdfs::create_directories(dir);
        stdfs::create_directories(state);
        dir_fd = UniqueFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        REQUIRE(dir_fd);
    }
    std::string report() const {
        std::error_code ec;
        return stdfs::exists(tmp / "child-error", ec) ? read(tmp / "child-error") : std::string();
    }
};

}  // namespace

TEST_CASE("a sparse file backed up to another file system is copied with its holes") {
    Fixture f;
    // 512 MiB of which two 4 KiB pieces hold data.
    {
        UniqueFd fd(::open((f.dir / "big.car").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
        REQUIRE(fd);
        REQUIRE(::ftruncate(fd.get(), 512 * MiB) == 0);
        std::string data(4096, 'd');
        REQUIRE(::pwrite(fd.get(), data.data(), data.size(), 100 * MiB) == 4096);
        REQUIRE(::pwrite(fd.get(), data.data(), data.size(), 512 * MiB - 4096) == 4096);
    }
    int code = in_small_filesystem(f.state, "size=8m", [&]() {
        Backup backup(f.state / "backup/now-r2", 1024 * MiB);
        backup.plan(f.dir_fd.get(), "big.car", "big.car", f.dir / "big.car");
        backup.check_space();  // the holes cost nothing: 8 KiB of data fit
        backup.save(f.dir_fd.get(), "big.car", "big.car", f.dir / "big.car");
        struct stat st {};
        if (::stat((f.state / "backup/now-r2/big.car").c_str(), &st) < 0) return 1;
        if (static_cast<std::uint64_t>(st.st_size) != 512 * MiB) return 2;
        if (static_cast<std::uint64_t>(st.st_blocks) * 512 > 1 * MiB) return 3;
        UniqueFd in(::open((f.state / "backup/now-r2/big.car").c_str(), O_RDONLY));
        std::string got(4096, '\0');
        if (::pread(in.get(), got.data(), got.size(), 100 * MiB) != 4096 || got != std::string(4096, 'd'))
            return 4;
        return 0;
    });
    if (code == 77) {
        WARN("cannot mount a tmpfs here (needs CAP_SYS_ADMIN); case not run");
        return;
    }
    INFO(f.report());
    CHECK(code == 0);
}

TEST_CASE("a copy over backup_max_bytes is refused before anything is saved, naming the file and the key") {
    Fixture f;
    write(f.dir / "a.car", std::string(3 * MiB, 'a'));
    write(f.dir / "b.car", std::string(3 * MiB, 'b'));
    int code = in_small_filesystem(f.state, "size=64m", [&]() {
        Backup backup(f.state / "backup/now-r2", 5 * MiB);
        backup.plan(f.dir_fd.get(), "a.car", "a.car", f.dir / "a.car");
        try {
            backup.plan(f.dir_fd.get(), "b.car", "b.car", f.dir / "b.car");
            return 1;
        } catch (const depsync::Error& e) {
            std::string what = e.what();
            if (what.find((f.dir / "b.car").string()) == std::string::npos) return 2;
            if (what.find("backup_max_bytes") == std::string::npos) return 3;
        }
        return stdfs::exists(f.state / "backup") ? 4 : 0;
    });
    if (code == 77) {
        WARN("cannot mount a tmpfs here (needs CAP_SYS_ADMIN); case not run");
        return;
    }
    INFO(f.report());
    CHECK(code == 0);
}

TEST_CASE("copies larger than the backup's free space are refused by the space check") {
    Fixture f;
    write(f.dir / "a.car", std::string(6 * MiB, 'a'));
    int code = in_small_filesystem(f.state, "size=4m", [&]() {
        Backup backup(f.state / "backup/now-r2", 1024 * MiB);
        backup.plan(f.dir_fd.get(), "a.car", "a.car", f.dir / "a.car");
        try {
            backup.check_space();
            return 1;
        } catch (const depsync::Error& e) {
            if (std::string(e.what()).find("not enough space") == std::string::npos) return 2;
        }
        return 0;
    });
    if (code == 77) {
        WARN("cannot mount a tmpfs here (needs CAP_SYS_ADMIN); case not run");
        return;
    }
    INFO(f.report());
    CHECK(code == 0);
}

TEST_CASE("a copy that fills the backup's file system is removed and the error says so") {
    Fixture f;
    write(f.dir / "sub/a.car", std::string(3 * MiB, 'a'));
    UniqueFd sub(::open((f.dir / "sub").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    int code = in_small_filesystem(f.state, "size=1m", [&]() {
        Backup backup(f.state / "backup/now-r2", 1024 * MiB);
        try {
            backup.save(sub.get(), "a.car", "sub/a.car", f.dir / "sub/a.car");
            return 1;
        } catch (const depsync::Error& e) {
            std::string what = e.what();
            if (what.find((f.dir / "sub/a.car").string()) == std::string::npos) return 2;
            if (what.find("No space left") == std::string::npos) return 3;
        }
        if (stdfs::exists(f.state / "backup/now-r2/sub/a.car")) return 4;  // never a partial copy
        backup.discard();
        return stdfs::exists(f.state / "backup/now-r2") ? 5 : 0;
    });
    if (code == 77) {
        WARN("cannot mount a tmpfs here (needs CAP_SYS_ADMIN); case not run");
        return;
    }
    INFO(f.report());
    CHECK(code == 0);
}

TEST_CASE("pruning keeps the newest backup_keep backups and never the current run's") {
    TempDir tmp;
    depsync::sync::Settings settings;
    settings.state = tmp.path();
    const stdfs::path backups = tmp / "backup";
    std::vector<stdfs::path> made;
    for (int i = 1; i <= 4; ++i) {
        made.push_back(backups / ("20260101-00000" + std::to_string(i) + "-r" + std::to_string(i)));
        write(made.back() / "f.xml", "local " + std::to_string(i));
        // Distinct modification times, oldest first.
        auto when = stdfs::file_time_type::clock::now() - std::chrono::hours(10 - i);
        stdfs::last_write_time(made.back(), when);
    }
    auto remaining = [&] {
        std::vector<stdfs::path> out;
        for (const auto& e : stdfs::directory_iterator(backups)) out.push_back(e.path());
        std::sort(out.begin(), out.end());
        return out;
    };
    SECTION("backup_keep = 0 keeps only the backup this run made") {
        settings.backup_keep = 0;
        depsync::sync::prune_backups(settings, {made[3]});
        CHECK(remaining() == std::vector<stdfs::path>{made[3]});
        CHECK(read(made[3] / "f.xml") == "local 4");
    }
    SECTION("the current run's backup counts as one of backup_keep, even when it is not the newest") {
        settings.backup_keep = 2;
        stdfs::last_write_time(made[0], stdfs::file_time_type::clock::now() - std::chrono::hours(100));
        depsync::sync::prune_backups(settings, {made[0]});
        CHECK(remaining() == std::vector<stdfs::path>{made[0], made[3]});
    }
    SECTION("a run that saved nothing keeps backup_keep of the others") {
        settings.backup_keep = 1;
        depsync::sync::prune_backups(settings, {});
        CHECK(remaining() == std::vector<stdfs::path>{made[3]});
    }
}
