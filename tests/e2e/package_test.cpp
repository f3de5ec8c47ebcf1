// The Debian package: built by cpack from this source tree's install rules, checked by lintian (no error; a
// warning only when it is one of those kept on purpose), installed with dpkg -i on this machine, checked
// (binary, man page, completion, hooks, examples, systemd units, README, copyright, changelog), the demo
// run from the installed examples, then removed with dpkg -r, which disables the unit instances enabled.
// Needs root, dpkg and cpack; skipped (with the reason) where those are missing or where a depsync package or
// /usr/bin/depsync is already there, which it must not replace.

#include <catch2/catch.hpp>

#include <unistd.h>

#include "cluster.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

bool have(const std::string& program) {
    return dt::run({"sh", "-c", "command -v " + program}).exit_code == 0;
}

// Why the test cannot run here; empty when it can.
std::string reason_to_skip() {
    if (::geteuid() != 0) return "not root (dpkg -i needs root)";
    for (const char* tool : {"dpkg", "dpkg-deb", "cpack", "cmake", "gzip"})
        if (!have(tool)) return std::string(tool) + " is not installed";
    ProcessResult status = dt::run({"dpkg-query", "-W", "-f=${Status}", "depsync"});
    if (status.exit_code == 0 && status.out.find("installed") != std::string::npos &&
        status.out.find("not-installed") == std::string::npos)
        return "a depsync package is installed on this machine; the test will not replace it";
    if (stdfs::exists("/usr/bin/depsync")) return "/usr/bin/depsync exists; the test will not replace it";
    return "";
}

// The lintian warnings kept, with the reason (README, "Installing on a cluster"):
// - maintainer-script-calls-systemctl: the instances to stop and disable on removal are templates the
//   operator enabled (depsync-pull@NAME.timer); deb-systemd-helper knows only units it enabled itself.
const char* const kept_lintian_warnings[] = {"maintainer-script-calls-systemctl"};

// Runs lintian on the package: every error and every warning not kept is returned, one per line.
std::string lintian_complaints(const stdfs::path& deb) {
    ProcessResult r = dt::run({"lintian", "--no-tag-display-limit", deb.string()});
    std::string complaints;
    for (const std::string& line : lines_of(r.out)) {
        if (line.rfind("E: ", 0) == 0) complaints += line + "\n";
        if (line.rfind("W: ", 0) != 0) continue;
        bool kept = false;
        for (const char* tag : kept_lintian_warnings) kept = kept || contains(line, std::string(": ") + tag);
        if (!kept) complaints += line + "\n";
    }
    if (r.exit_code != 0 && complaints.empty()) complaints = "lintian failed: " + describe(r);
    return complaints;
}

// Removes the package however the test ends.
struct InstalledPackage {
    bool installed = false;
    ~InstalledPackage() {
        if (installed) dt::run({"dpkg", "-r", "depsync"});
        std::error_code ec;  // the instance the test enabled, were the removal to leave it
        stdfs::remove("/etc/systemd/system/timers.target.wants/depsync-pull@pkgtest.timer", ec);
    }
};

}  // namespace

TEST_CASE(
    "package: the .deb installs depsync with its man page, completion, hooks, examples and units, and runs",
    "[e2e][package][root]") {
    const std::string why = reason_to_skip();
    if (!why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    dt::TempDir temp;
    // A build tree of its own for cpack, configured from this source with the install rules not depending on
    // 'all', holding the binary under test: cpack then installs without building anything, and the build tree
    // the other tests run from is left alone.
    stdfs::path build = temp / "build";
    ProcessResult r = dt::run({"cmake", "-S", dt::source_dir(), "-B", build.string(), "-DDEPSYNC_TESTS=OFF",
                               "-DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON", "-DCMAKE_BUILD_TYPE=Release"});
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    stdfs::copy_file(dt::depsync_bin(), build / "depsync");
    r = dt::run({"cmake", "--build", build.string(), "--target", "depsync_man", "depsync_changelog"});
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    r = dt::run({"cpack", "-G", "DEB", "--config", (build / "CPackConfig.cmake").string(), "-B",
                 (temp / "out").string()},
                {}, build.string());
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    stdfs::path deb;
    for (const auto& e : stdfs::directory_iterator(temp / "out"))
        if (e.path().extension() == ".deb") deb = e.path();
    REQUIRE(!deb.empty());

    // Depends names the package of every shared library the binary needs.
    ProcessResult depends = dt::run({"dpkg-deb", "-f", deb.string(), "Depends"});
    REQUIRE(depends.exit_code == 0);
    for (const char* package : {"libc6", "libstdc++6", "libgcc-s1", "libgit2-1.5", "libspdlog1.10", "libfmt9",
                                "libssl3", "zlib1g"}) {
        INFO(package << " in " << depends.out);
        CHECK(depends.out.find(std::string(package) + " (") != std::string::npos);
    }

    // Recommends git: a primary serves its peers with git-upload-pack or git http-backend.
    ProcessResult recommends = dt::run({"dpkg-deb", "-f", deb.string(), "Recommends"});
    CHECK(contains(recommends.out, "git"));
    CHECK(contains(recommends.out, "openssh-client"));
    // The maintainer scripts are in the package, executable.
    r = dt::run({"dpkg-deb", "-e", deb.string(), (temp / "control").string()});
    REQUIRE(r.exit_code == 0);
    for (const char* script : {"postinst", "prerm", "postrm"}) {
        INFO(script);
        CHECK(::access((temp / "control" / script).c_str(), X_OK) == 0);
    }
    if (have("lintian")) {
        std::string complaints = lintian_complaints(deb);
        INFO(complaints);
        CHECK(complaints.empty());
    } else {
        WARN(
            "lintian is not installed (scripts/setup-debian installs it): the package was not checked by it");
    }

    InstalledPackage package;
    r = dt::run({"dpkg", "-i", deb.string()});
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    package.installed = true;

    // ssh is the system's OpenSSH client: the binary links no ssh library of its own (libgit2's is its own
    // package's dependency), and Depends does not name one.
    r = dt::run({"readelf", "-d", "/usr/bin/depsync"});
    CHECK(contains(r.out, "(NEEDED)"));
    CHECK_FALSE(contains(r.out, "libssh2"));
    CHECK_FALSE(contains(depends.out, "libssh2"));
    r = dt::run({"/usr/bin/depsync", "--version"});
    INFO(describe(r));
    CHECK(r.exit_code == 0);
    CHECK(r.out.rfind("depsync ", 0) == 0);
    CHECK(dt::run({"/usr/bin/depsync", "cluster", "status", "--help"}).out.find("Example:") !=
          std::string::npos);

    for (const char* file :
         {"/usr/share/man/man1/depsync.1.gz", "/usr/share/bash-completion/completions/depsync",
          "/usr/share/depsync/hooks/post-deploy", "/usr/share/doc/depsync/examples/demo.sh",
          "/usr/share/doc/depsync/examples/depsync-peer.conf", "/usr/share/doc/depsync/README.md",
          "/usr/share/doc/depsync/copyright", "/usr/share/doc/depsync/changelog.gz",
          "/usr/share/doc/depsync/examples/cron/depsync-pull", "/lib/systemd/system/depsync-pull@.service",
          "/lib/systemd/system/depsync-pull@.timer", "/lib/systemd/system/depsync-watch@.service",
          "/lib/systemd/system/depsync-gc@.service", "/lib/systemd/system/depsync-gc@.timer"}) {
        INFO(file);
        CHECK(stdfs::is_regular_file(file));
    }
    CHECK(::access("/usr/share/depsync/hooks/post-deploy", X_OK) == 0);
    // The man page is a man page, and the completion completes.
    r = dt::run({"sh", "-c", "gzip -dc /usr/share/man/man1/depsync.1.gz | head -5"});
    CHECK(r.out.find(".TH DEPSYNC 1") != std::string::npos);
    r = dt::run({"bash", "-c",
                 "source /usr/share/bash-completion/completions/depsync; COMP_WORDS=(depsync cluster ''); "
                 "COMP_CWORD=2; _depsync; echo \"${COMPREPLY[*]}\""});
    INFO(describe(r));
    CHECK(r.out == "status pull doctor\n");

    // The changelog's newest entry is this version; the cron example pulls with a jitter.
    r = dt::run({"sh", "-c", "gzip -dc /usr/share/doc/depsync/changelog.gz | head -1"});
    ProcessResult version = dt::run({"dpkg-deb", "-f", deb.string(), "Version"});
    CHECK(r.out == "depsync (" + lines_of(version.out).at(0) + ") unstable; urgency=medium\n");
    CHECK(contains(read_file("/usr/share/doc/depsync/examples/cron/depsync-pull"), "pull --jitter "));

    // The installed units verify with the installed binary and man page.
    if (have("systemd-analyze")) {
        for (const char* unit :
             {"depsync-pull@pkgtest.service", "depsync-pull@pkgtest.timer", "depsync-watch@pkgtest.service",
              "depsync-gc@pkgtest.service", "depsync-gc@pkgtest.timer"}) {
            r = dt::run({"systemd-analyze", "verify", std::string("/lib/systemd/system/") + unit});
            INFO(unit << "\n" << describe(r));
            CHECK(r.exit_code == 0);
            CHECK(r.err.empty());
        }
    }
    // An instance enabled the way the operator does it; removing the package disables it.
    const stdfs::path enabled = "/etc/systemd/system/timers.target.wants/depsync-pull@pkgtest.timer";
    const bool enable = have("systemctl");
    if (enable) {
        r = dt::run({"systemctl", "enable", "depsync-pull@pkgtest.timer"});
        INFO(describe(r));
        CHECK(stdfs::is_symlink(enabled));
    }

    // The demo, from the installed examples, with the installed binary.
    r = dt::run({"bash", "/usr/share/doc/depsync/examples/demo.sh", "/usr/bin/depsync", dt::testgen_bin()});
    INFO(describe(r));
    CHECK(r.exit_code == 0);

    r = dt::run({"dpkg", "-r", "depsync"});
    INFO(describe(r));
    CHECK(r.exit_code == 0);
    package.installed = r.exit_code != 0;
    CHECK(!stdfs::exists("/usr/bin/depsync"));
    CHECK(!stdfs::exists("/lib/systemd/system/depsync-pull@.timer"));
    if (enable) CHECK(!stdfs::is_symlink(enabled));
}
