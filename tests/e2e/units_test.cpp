// The shipped systemd units (examples/systemd, installed by the package): each passes `systemd-analyze
// verify` without a word, and each service scores at most 4.0 ("OK") in `systemd-analyze security
// --offline=true`, alone and with the drop-in `depsync init` prints for it. Skipped, with the reason, where
// systemd-analyze is missing.

#include <catch2/catch.hpp>

#include <regex>

#include "cluster.hpp"
#include "support/local_account.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

const char* const services[] = {"depsync-pull@.service", "depsync-watch@.service", "depsync-gc@.service"};
const char* const timers[] = {"depsync-pull@.timer", "depsync-gc@.timer"};

bool have_systemd_analyze() {
    return dt::run({"sh", "-c", "command -v systemd-analyze"}).exit_code == 0;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

// The unit as shipped, with ExecStart naming the binary under test instead of /usr/bin/depsync (verify
// checks that the program exists), copied into `dir`.
void copy_unit(const std::string& name, const stdfs::path& dir, const std::string& extra_service_lines = {}) {
    std::string text = read_file(stdfs::path(dt::source_dir()) / "examples" / "systemd" / name);
    text = replace_all(text, "/usr/bin/depsync", dt::depsync_bin());
    if (!extra_service_lines.empty()) {
        auto install = text.find("\n[Install]");
        text.insert(install == std::string::npos ? text.size() : install + 1, extra_service_lines);
    }
    write_file(dir / name, text);
}

// The instance `name@test.service` of a template.
std::string instance(const std::string& template_name) {
    return replace_all(template_name, "@.", "@test.");
}

// "Overall exposure level for UNIT: 2.1 OK": the number.
double exposure(const ProcessResult& r) {
    std::smatch m;
    static const std::regex level("Overall exposure level for [^:]+: ([0-9]+\\.[0-9]+)");
    if (!std::regex_search(r.out, m, level)) return 99;
    return std::stod(m[1].str());
}

ProcessResult analyze(const std::vector<std::string>& args, const stdfs::path& dir) {
    std::vector<std::string> argv = {"systemd-analyze"};
    argv.insert(argv.end(), args.begin(), args.end());
    return dt::run(argv, {{"SYSTEMD_COLORS", "0"}}, dir.string());
}

// The drop-in `depsync init` printed: the lines from "[Service]" on that are indented four spaces.
std::string printed_drop_in(const std::string& init_output) {
    std::string drop_in;
    bool in = false;
    for (const std::string& line : lines_of(init_output)) {
        if (line == "    [Service]") in = true;
        if (!in) continue;
        if (line.rfind("    ", 0) != 0) break;
        if (line != "    [Service]") drop_in += line.substr(4) + "\n";
    }
    return drop_in;
}

}  // namespace

TEST_CASE("units: every shipped unit passes systemd-analyze verify without a warning", "[e2e][units]") {
    if (!have_systemd_analyze()) {
        WARN("skipped: systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    dt::TempDir temp;
    for (const char* name : services) copy_unit(name, temp.path());
    for (const char* name : timers) copy_unit(name, temp.path());
    std::vector<std::string> units;
    for (const char* name : services) units.push_back("./" + instance(name));
    for (const char* name : timers) units.push_back("./" + instance(name));
    for (const std::string& unit : units) {
        ProcessResult r = analyze({"verify", "--man=no", unit}, temp.path());
        INFO(unit << "\n" << describe(r));
        CHECK(r.exit_code == 0);
        // An unknown or misspelt key is only a warning to verify: the output must be empty.
        CHECK(r.err.empty());
        CHECK(r.out.empty());
    }
}

TEST_CASE(
    "units: each shipped service scores at most 4.0 in systemd-analyze security, alone and with the "
    "drop-in init prints",
    "[e2e][units]") {
    if (!have_systemd_analyze()) {
        WARN("skipped: systemd-analyze is not installed (Debian package systemd)");
        return;
    }
    dt::TempDir temp;
    for (const char* name : services) {
        copy_unit(name, temp.path());
        ProcessResult r = analyze({"security", "--offline=true", "./" + instance(name)}, temp.path());
        INFO(name << "\n" << describe(r));
        CHECK(r.exit_code == 0);
        CHECK(exposure(r) <= 4.0);
        // The options the hardening rests on are really in effect (a typo would leave them unset).
        for (const char* held : {"ProtectSystem=", "CapabilityBoundingSet=~CAP_SYS_ADMIN", "NoNewPrivileges=",
                                 "RestrictAddressFamilies=~AF_PACKET", "SystemCallFilter=~@mount",
                                 "PrivateTmp=", "PrivateDevices=", "ProtectKernelModules="}) {
            INFO(held);
            CHECK(contains(r.out, "✓ " + std::string(held)));
        }
    }

    if (auto why = dt::LocalAccount::unavailable()) {
        WARN("the drop-in init prints is not checked: " << *why);
        return;
    }
    // A peer and a primary set up by init as root: the drop-ins it prints make the units run as the
    // directory's owner (an account made for the test), and are valid unit text.
    dt::LocalAccount account;
    stdfs::path dir = temp / "deployment";
    stdfs::create_directories(dir);
    account.give(dir);
    const std::map<std::string, std::vector<std::string>> roles = {
        {"peer", {"--remote", (temp / "releases.git").string()}},
        {"primary", {"--repo", (temp / "r.git").string()}}};
    for (const auto& [role, places] : roles) {
        std::vector<std::string> argv = {
            dt::depsync_bin(), "-c",      (temp / (role + ".conf")).string(), "init", role, "--dir",
            dir.string(),      "--state", (temp / ("state-" + role)).string()};
        argv.insert(argv.end(), places.begin(), places.end());
        if (role == "peer") argv.push_back("--no-check");
        ProcessResult init = dt::run(argv);
        INFO(describe(init));
        REQUIRE(init.exit_code == 0);
        const std::string drop_in = printed_drop_in(init.out);
        CHECK(contains(init.out, "depsync runs as " + account.name() + ", who owns " + dir.string() + " "));
        CHECK(contains(init.out, role == "peer" ? "  the unit depsync-pull@peer.service needs this drop-in"
                                                : "  the units depsync-watch@primary.service and "
                                                  "depsync-gc@primary.service need this drop-in"));
        CHECK(contains(init.out, "  chown -R " + account.name() + ": " + (temp / (role + ".conf")).string() +
                                     " " + (temp / ("state-" + role)).string()));
        CHECK(contains(drop_in, "User=" + account.name() + "\n"));
        CHECK(contains(drop_in, "ReadWritePaths=" + (role == "peer" ? dir : temp / "r.git").string()));
        for (const char* name :
             role == "peer" ? std::vector<const char*>{"depsync-pull@.service"}
                            : std::vector<const char*>{"depsync-watch@.service", "depsync-gc@.service"}) {
            CHECK(contains(init.out, replace_all(name, "@.", "@" + role + ".")));
            stdfs::path with = temp / ("with-" + role);
            stdfs::create_directories(with);
            copy_unit(name, with, drop_in);
            ProcessResult verify = analyze({"verify", "--man=no", "./" + instance(name)}, with);
            INFO(name << " with the drop-in\n" << describe(verify));
            CHECK(verify.err.empty());
            ProcessResult r = analyze({"security", "--offline=true", "./" + instance(name)}, with);
            INFO(describe(r));
            CHECK(exposure(r) <= 4.0);
            CHECK(contains(r.out, "✓ User=/DynamicUser="));
        }
    }
}
