#include "core/git/ssh_command.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "support/process.hpp"

using depsync::Error;
using depsync::ExitCode;
using depsync::git::shell_quote;
using depsync::git::ssh_argv;
using depsync::git::SshOptions;
using depsync::git::SshTarget;

namespace {

// The value that follows `-o NAME=` in argv, or "" when the option is not there.
std::string option_value(const std::vector<std::string>& argv, const std::string& name) {
    for (std::size_t i = 0; i + 1 < argv.size(); ++i)
        if (argv[i] == "-o" && argv[i + 1].rfind(name + "=", 0) == 0)
            return argv[i + 1].substr(name.size() + 1);
    return {};
}

bool has(const std::vector<std::string>& argv, const std::string& word) {
    return std::find(argv.begin(), argv.end(), word) != argv.end();
}

}  // namespace

TEST_CASE("ssh command: a remote path reaches the remote shell as one word, whatever it holds",
          "[unit][ssh]") {
    // The remote side runs the command through a POSIX shell; sh here reads it back as ssh's server would.
    for (const std::string& path :
         {std::string("/srv/depsync/releases.git"), std::string("/srv/it's here.git"),
          std::string("/srv/$(touch /tmp/x).git"), std::string("/srv/`id`;rm -rf /;.git"),
          std::string("/srv/a\nb.git"), std::string("/srv/''\\'.git"), std::string("-oProxyCommand=x")}) {
        INFO(path);
        auto r = depsync::testing::run({"sh", "-c", "printf '%s' " + shell_quote(path)});
        CHECK(r.exit_code == 0);
        CHECK(r.out == path);
    }
}

TEST_CASE("ssh command: the options depsync always sets, and only what is configured", "[unit][ssh]") {
    SshOptions bare;
    bare.timeout = 120;
    std::vector<std::string> argv = ssh_argv(bare, {"", "mi-primary", 0}, "git-upload-pack '/r.git'");
    CHECK(argv.front() == "ssh");
    CHECK(option_value(argv, "BatchMode") == "yes");
    CHECK(option_value(argv, "StrictHostKeyChecking") == "yes");
    CHECK(option_value(argv, "ConnectTimeout") == "120");
    CHECK(option_value(argv, "ServerAliveInterval") == "15");
    // Nothing configured: ssh's own files, keys, port and user (the operator's ssh_config decides).
    CHECK_FALSE(has(argv, "-F"));
    CHECK_FALSE(has(argv, "-p"));
    CHECK_FALSE(has(argv, "-l"));
    CHECK(option_value(argv, "UserKnownHostsFile").empty());
    CHECK(option_value(argv, "IdentityFile").empty());
    // The host and the command come last, after "--": a host is never read as an option.
    REQUIRE(argv.size() >= 3);
    CHECK(argv[argv.size() - 3] == "--");
    CHECK(argv[argv.size() - 2] == "mi-primary");
    CHECK(argv.back() == "git-upload-pack '/r.git'");

    SshOptions all;
    all.known_hosts = "/etc/depsync/known_hosts";
    all.ssh_key = "/etc/depsync/id_ed25519";
    all.ssh_config = "/etc/depsync/ssh_config";
    all.timeout = 3;
    argv = ssh_argv(all, {"deploy", "10.0.0.5", 2222}, "true");
    CHECK(option_value(argv, "UserKnownHostsFile") == "/etc/depsync/known_hosts");
    CHECK(option_value(argv, "GlobalKnownHostsFile") == "/dev/null");
    CHECK(option_value(argv, "IdentityFile") == "/etc/depsync/id_ed25519");
    CHECK(option_value(argv, "IdentitiesOnly") == "yes");
    CHECK(option_value(argv, "ConnectTimeout") == "3");
    CHECK(option_value(argv, "ServerAliveInterval") == "1");
    auto f = std::find(argv.begin(), argv.end(), "-F");
    REQUIRE(f != argv.end());
    CHECK(*(f + 1) == "/etc/depsync/ssh_config");
    auto p = std::find(argv.begin(), argv.end(), "-p");
    REQUIRE(p != argv.end());
    CHECK(*(p + 1) == "2222");
    auto l = std::find(argv.begin(), argv.end(), "-l");
    REQUIRE(l != argv.end());
    CHECK(*(l + 1) == "deploy");
}

TEST_CASE("ssh command: a host that ssh would read as an option or several words is refused", "[unit][ssh]") {
    for (const std::string& host :
         {std::string("-oProxyCommand=touch /tmp/x"), std::string(""), std::string("a b"),
          std::string("a\tb"), std::string("a\nb"), std::string("a\x7f")}) {
        INFO(host);
        try {
            ssh_argv({}, {"", host, 0}, "true");
            FAIL("accepted");
        } catch (const Error& e) {
            CHECK(e.code() == ExitCode::usage);
        }
    }
}

TEST_CASE("ssh command: an interactive ssh_config cannot turn the connection into more than a pipe",
          "[unit][ssh]") {
    std::vector<std::string> argv = ssh_argv({}, {"", "mi-primary", 0}, "true");
    for (const char* flag : {"-T", "-a", "-x"}) CHECK(has(argv, flag));
    CHECK(option_value(argv, "ClearAllForwardings") == "yes");
    CHECK(option_value(argv, "PermitLocalCommand") == "no");
    CHECK(option_value(argv, "RemoteCommand") == "none");
}

TEST_CASE("ssh command: pages of hostile stderr are explained without exhausting the stack", "[unit][ssh]") {
    // ssh passes the remote command's exit status through, so 255 with ssh's words may come from a hostile
    // server or node; a message regex over the whole text recursed once per character.
    const std::string flood(200000, 'x');
    SshOptions options;
    options.timeout = 1;
    const SshTarget target{"", "127.0.0.1", 1};  // nothing listens: the key lookups fail at once
    for (const std::string& errors :
         {"Host key verification failed.\nNo " + flood + " host key is known for " + flood + " and\n",
          "@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @\nThe fingerprint for the " + flood +
              " key sent by the remote host is\nSHA256:" + flood + ".\n",
          "@ WARNING: REVOKED HOST KEY DETECTED! @\nThe " + flood + " host key for " + flood + " is marked\n",
          "Permission denied " + flood + "\n"}) {
        std::string said = depsync::git::explain_ssh_failure(options, target, "git-upload-pack", errors, 255);
        CHECK_FALSE(said.empty());
        CHECK(said.size() < 8 * 1024);
    }
}
