// The files written from the program itself: the committed bash completion and sample configs are exactly
// what `depsync internal` writes from the commands and the config key table (scripts/generate-from-keys
// writes them again), every sample value is one the program accepts, and the completion completes values
// and commands after any global option.

#include <catch2/catch.hpp>

#include <regex>
#include <sstream>

#include "cluster.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

std::string generated(const std::vector<std::string>& what) {
    std::vector<std::string> argv{dt::depsync_bin(), "-c", "/dev/null", "internal"};
    argv.insert(argv.end(), what.begin(), what.end());
    ProcessResult r = dt::run(argv);
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    return r.out;
}

// What bash completes for `words` (the last one being completed), with the completion file sourced.
std::string completed(const std::string& words) {
    const std::string script = "source '" +
                               (stdfs::path(dt::source_dir()) / "completion" / "depsync").string() +
                               "'; COMP_WORDS=(" + words +
                               "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); "
                               "_depsync; printf '%s\\n' \"${COMPREPLY[@]}\" | sort | tr '\\n' ' '";
    ProcessResult r = dt::run({"bash", "-c", script});
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    return r.out;
}

}  // namespace

TEST_CASE("the completion and the sample configs are what the program writes from its commands and keys",
          "[e2e][generated]") {
    const stdfs::path source = dt::source_dir();
    for (const auto& [file, what] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"completion/depsync", {"completion"}},
             {"examples/depsync-primary.conf", {"sample-config", "primary"}},
             {"examples/depsync-peer.conf", {"sample-config", "peer"}}}) {
        INFO(file << " differs from what the program writes: run scripts/generate-from-keys");
        CHECK(read_file(source / file) == generated(what));
    }
}

TEST_CASE("every key of the sample configs is accepted with the value they show", "[e2e][generated]") {
    dt::TempDir dir;
    for (const char* role : {"primary", "peer"}) {
        // Every key, the commented ones too; `root` goes instead of `dir`, so it is left out.
        std::istringstream sample(generated({"sample-config", role}));
        std::string config, line;
        std::size_t keys = 0;
        while (std::getline(sample, line)) {
            std::smatch m;
            if (!std::regex_match(line, m, std::regex("(# )?([a-z_]+) = .*")) || m[2] == "root") continue;
            config += m.str(0).substr(m[1].matched ? 2 : 0) + "\n";
            ++keys;
        }
        const stdfs::path file = dir.path() / (std::string(role) + ".conf");
        write_file(file, config);
        stdfs::permissions(file, stdfs::perms::owner_read | stdfs::perms::owner_write);
        ProcessResult r = dt::run({dt::depsync_bin(), "-c", file.string(), "status"});
        INFO(config << describe(r));
        CHECK(keys == 34);
        // The config is read whole; what fails is the first check of a value against this machine.
        CHECK(r.err.find("error: config") == std::string::npos);
        CHECK(r.err.find("invalid owner 'wso2carbon:wso2'") != std::string::npos);
    }
}

TEST_CASE("the completion completes key values, and commands after any global option", "[e2e][generated]") {
    CHECK(completed("depsync --local-changes ''") == "keep overwrite refuse ");
    CHECK(completed("depsync --on_change_failure r") == "record revert ");
    CHECK(completed("depsync --role p") == "peer primary ");
    // Every global option that takes a value is skipped with its value, a size bound too.
    CHECK(completed("depsync --max-fetch-bytes 1GiB --max_fetch_memory 1GiB -c x.conf pu") ==
          "publish pull ");
    CHECK(completed("depsync cluster status --") ==
          "--help --html --json --node-timeout --nodes --refresh --remote-command ");
    CHECK(completed("depsync init peer --max-e") == "--max-entries ");
}
