// A hostile https server (tests/support/hostile_http_server) against a peer's pull: a redirect to another
// server does not get the credentials, endless refs and endless packs are cut off with bounded memory and
// bytes and leave nothing behind, and a certificate that is wrong is refused saying why.

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cluster.hpp"
#include "https_setup.hpp"
#include "support/fault_util.hpp"
#include "support/hostile_http_server.hpp"
#include "support/https_server.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;
using Mode = dt::HostileHttpServer::Mode;

// One peer set up to pull from a hostile server over https, with a private CA and a token.
struct HostileSetup {
    const std::string token = make_token();
    Cluster cluster{1};
    dt::TestCa ca{cluster.root() / "ca", "depsync test CA"};
    const stdfs::path pem = ca.issue_server_cert("127.0.0.1");
    const stdfs::path credentials = cluster.root() / "credentials";

    HostileSetup() {
        write_file(credentials, "token = " + token + "\n");
        stdfs::permissions(credentials, stdfs::perms::owner_read | stdfs::perms::owner_write);
    }
    const Node& peer() const { return cluster.peer(0); }
    void configure(const std::string& url,
                   std::vector<std::pair<std::string, std::string>> extra = {}) const {
        extra.emplace_back("remote", in_quotes(url));
        extra.emplace_back("ca_file", in_quotes(ca.cert().string()));
        extra.emplace_back("credentials", in_quotes(credentials.string()));
        set_config(peer().config, extra);
    }
    ProcessResult pull() const { return cluster.pull(0, {"-vv"}); }

    // Nothing applied, no record written, no partial pack left, and the token in no output.
    void require_untouched(const ProcessResult& r) const {
        INFO(describe(r));
        CHECK(r.out.find(token) == std::string::npos);
        CHECK(r.err.find(token) == std::string::npos);
        CHECK(dt::describe_tree(peer().dir).empty());
        CHECK(!stdfs::exists(peer().state / "deployed"));
        std::vector<std::string> partial;
        std::error_code ec;
        for (const auto& e : stdfs::directory_iterator(peer().state / "repo.git/objects/pack", ec))
            partial.push_back(e.path().filename().string());
        INFO("left in objects/pack: " << partial.size());
        CHECK(partial.empty());
        ProcessResult status = cluster.status_json(peer());
        CHECK(status.out.find(token) == std::string::npos);
        CHECK(parse_flat_json(status.out).at("release") == "null");
    }
};

const std::string repo_path = "/git/releases.git";

}  // namespace

TEST_CASE("hostile server: a redirect to another host or port is refused and gets no credentials",
          "[e2e][https][hostile]") {
    HostileSetup s;
    dt::HostileHttpServer elsewhere({Mode::ask_credentials, s.pem, "", 0});
    for (Mode mode : {Mode::redirect, Mode::auth_then_redirect}) {
        dt::HostileHttpServer server({mode, s.pem, elsewhere.base_url(), 0});
        s.configure(server.base_url() + repo_path);
        ProcessResult r = s.pull();
        INFO(describe(r));
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("redirect") != std::string::npos);
        CHECK(r.err.find("127.0.0.1:" + std::to_string(elsewhere.port())) != std::string::npos);
        // The configured server got the credentials it asked for; the other one never a byte.
        CHECK(server.saw_authorization() == (mode == Mode::auth_then_redirect));
        CHECK_FALSE(elsewhere.saw_authorization());
        CHECK(elsewhere.requests() == 0);
        s.require_untouched(r);
    }
}

TEST_CASE("hostile server: endless refs are cut off by the memory bound, too many refs are refused",
          "[e2e][https][hostile]") {
    HostileSetup s;
    SECTION("endless refs") {
        dt::HostileHttpServer server({Mode::many_refs, s.pem, "", 0});
        s.configure(server.base_url() + repo_path,
                    {{"max_fetch_memory", std::to_string(128 << 20)}, {"timeout", "60"}});
        double start = dt::now_seconds();
        ProcessResult r = s.pull();
        double seconds = dt::now_seconds() - start;
        INFO(describe(r));
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("memory bound of 128 MiB") != std::string::npos);
        CHECK(r.err.find("max_fetch_memory") != std::string::npos);
        CHECK(seconds < 30);
        CHECK(server.bytes_sent() < (512u << 20));
        std::cout << "endless refs: cut after " << server.bytes_sent() / (1 << 20) << " MiB sent, " << seconds
                  << " s\n";
        s.require_untouched(r);
    }
    SECTION("more refs than a release repository has") {
        dt::HostileHttpServer server({Mode::many_refs, s.pem, "", 150000});
        s.configure(server.base_url() + repo_path);
        ProcessResult r = s.pull();
        INFO(describe(r));
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("advertises 150001 refs") != std::string::npos);
        s.require_untouched(r);
    }
}

TEST_CASE("hostile server: an endless pack is cut off at max_fetch_bytes or the timeout and leaves nothing",
          "[e2e][https][hostile]") {
    HostileSetup s;
    dt::HostileHttpServer server({Mode::endless_pack, s.pem, "", 0});
    SECTION("max_fetch_bytes") {
        s.configure(server.base_url() + repo_path,
                    {{"max_fetch_bytes", std::to_string(16 << 20)}, {"timeout", "60"}});
        double start = dt::now_seconds();
        ProcessResult r = s.pull();
        double seconds = dt::now_seconds() - start;
        INFO(describe(r));
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("sent more than 16777216 bytes") != std::string::npos);
        CHECK(r.err.find("max_fetch_bytes") != std::string::npos);
        CHECK(seconds < 30);
        CHECK(server.bytes_sent() < (48u << 20));
        s.require_untouched(r);
    }
    SECTION("the timeout") {
        // Unbounded bytes: the timeout kills the transfer, whose partial pack is removed at once.
        s.configure(server.base_url() + repo_path, {{"max_fetch_bytes", "0"}, {"timeout", "3"}});
        ProcessResult r = s.pull();
        INFO(describe(r));
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("timeout") != std::string::npos);
        CHECK(server.bytes_sent() > (1u << 20));
        s.require_untouched(r);
    }
}

TEST_CASE("hostile server: a wrong TLS certificate is refused saying why", "[e2e][https][hostile]") {
    HostileSetup s;
    dt::TestCa other(s.cluster.root() / "other-ca", "some other CA");
    struct Case {
        std::string name;
        stdfs::path pem;
        std::string expected;
    };
    std::vector<Case> cases = {
        {"expired", s.ca.issue_cert("expired", "IP:127.0.0.1,DNS:127.0.0.1", -1), "has expired"},
        {"wrong name", s.ca.issue_cert("wrong", "DNS:wrong.example,IP:127.0.0.2", 2),
         "is issued for DNS:wrong.example, IP:127.0.0.2, not for 127.0.0.1"},
        {"other CA", other.issue_server_cert("127.0.0.1"),
         "not trusted: it is not issued by a CA in ca_file " + s.ca.cert().string()},
    };
    for (const Case& c : cases) {
        dt::HostileHttpServer server({Mode::ask_credentials, c.pem, "", 0});
        s.configure(server.base_url() + repo_path);
        ProcessResult r = s.pull();
        INFO(c.name << "\n" << describe(r));
        CHECK(r.exit_code == 1);
        CHECK(r.err.find(c.expected) != std::string::npos);
        CHECK_FALSE(server.saw_authorization());
        s.require_untouched(r);
    }
}

TEST_CASE("hostile server: an endless pack is cut off by the free space of the state folder",
          "[e2e][https][hostile]") {
    if (::geteuid() != 0) {
        WARN("skipped: mounting a small file system for the state folder needs root");
        return;
    }
    HostileSetup s;
    // The peer's state folder on a 100 MiB file system of its own.
    const stdfs::path state = s.peer().state;
    const stdfs::path saved = s.cluster.root() / "state-saved";
    stdfs::copy(state, saved, stdfs::copy_options::recursive);
    ProcessResult mounted =
        dt::run({"mount", "-t", "tmpfs", "-o", "size=100m,mode=0700", "tmpfs", state.string()});
    if (mounted.exit_code != 0) {
        WARN("skipped: cannot mount tmpfs: " << mounted.err);
        return;
    }
    struct Unmount {
        stdfs::path dir;
        ~Unmount() { dt::run({"umount", "-l", dir.string()}); }
    } unmount{state};
    stdfs::copy(saved, state, stdfs::copy_options::recursive);

    dt::HostileHttpServer server({Mode::endless_pack, s.pem, "", 0});
    s.configure(server.base_url() + repo_path, {{"max_fetch_bytes", "0"}, {"timeout", "60"}});
    ProcessResult r = s.pull();
    INFO(describe(r));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("the free space of " + state.string() + ", less 64 MiB kept free") != std::string::npos);
    CHECK(server.bytes_sent() < (80u << 20));
    s.require_untouched(r);
}

TEST_CASE("hostile server: fetch bounds that are negative, past 2^64 or zero are refused before connecting",
          "[e2e][https][hostile]") {
    // "-1" and "99999999999999999999999" both arrive as 2^64-1: as max_fetch_memory that overflowed the
    // address-space limit (every fetch "out of memory"); as max_fetch_bytes it meant no bound. A timeout of 0
    // or less failed every fetch at once.
    HostileSetup s;
    dt::HostileHttpServer server({Mode::ask_credentials, s.pem, "", 0});
    const std::vector<std::pair<std::string, std::string>> bad = {
        {"max_fetch_bytes", "-1"},  {"max_fetch_bytes", "99999999999999999999999"},
        {"max_fetch_memory", "-1"}, {"max_fetch_memory", "18446744073709551615"},
        {"timeout", "0"},           {"timeout", "-5"}};
    for (const auto& [key, value] : bad) {
        s.configure(server.base_url() + repo_path,
                    {{"max_fetch_bytes", "16777216"}, {"max_fetch_memory", "134217728"}, {"timeout", "30"}});
        set_config(s.peer().config, {{key, value}});
        for (const ProcessResult& r : {s.pull(), s.cluster.status_json(s.peer())}) {
            INFO(key << " = " << value << "\n" << describe(r));
            CHECK(r.exit_code == 2);
            CHECK(r.err.find(key) != std::string::npos);
        }
    }
    CHECK(server.requests() == 0);
    CHECK(dt::describe_tree(s.peer().dir).empty());
}

TEST_CASE("hostile server: a mirror advertising endless refs is cut off by the memory bound",
          "[e2e][https][hostile]") {
    // The primary pushes to mirrors it may not control; the push process is bounded like a fetch.
    HostileSetup s;
    dt::HostileHttpServer server({Mode::many_refs, s.pem, "", 0});
    const std::string mirror_url = server.base_url() + repo_path;
    set_config(s.cluster.primary().config, {{"mirror", "[" + in_quotes(mirror_url) + "]"},
                                            {"ca_file", in_quotes(s.ca.cert().string())},
                                            {"credentials", in_quotes(s.credentials.string())},
                                            {"max_fetch_bytes", "0"},
                                            {"max_fetch_memory", std::to_string(128 << 20)},
                                            {"timeout", "60"}});
    double start = dt::now_seconds();
    ProcessResult r = s.cluster.publish("first");
    double seconds = dt::now_seconds() - start;
    INFO(describe(r));
    CHECK(r.exit_code == 0);  // the release exists; the mirror is retried on the next publish
    CHECK(r.out.find("mirror " + mirror_url + ": FAILED") != std::string::npos);
    CHECK(r.err.find("memory bound of 128 MiB") != std::string::npos);
    CHECK(r.err.find("max_fetch_memory") != std::string::npos);
    CHECK(seconds < 40);
    CHECK(server.bytes_sent() < (512u << 20));
    CHECK(r.out.find(s.token) == std::string::npos);
    CHECK(r.err.find(s.token) == std::string::npos);
    std::cout << "mirror with endless refs: cut after " << server.bytes_sent() / (1 << 20) << " MiB sent, "
              << seconds << " s\n";
}

TEST_CASE("hostile server: the partial pack of a pull killed with its transfer is removed by the next pull",
          "[e2e][https][hostile]") {
    // kill -9 of the pull takes its transfer child along before it can clean up; what it received stays in
    // objects/pack unless the next fetch removes it.
    HostileSetup s;
    dt::generate_tree(s.cluster.primary().dir, dt::Profile::small, 31, 0.05);
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    dt::HostileHttpServer server({Mode::endless_pack, s.pem, "", 0});
    s.configure(server.base_url() + repo_path, {{"timeout", "60"}, {"max_fetch_bytes", "0"}});
    const stdfs::path packs = s.peer().state / "repo.git/objects/pack";
    auto partial_bytes = [&] {
        std::uintmax_t total = 0;
        std::error_code ec;
        for (const auto& e : stdfs::directory_iterator(packs, ec))
            if (e.path().filename().string().rfind("pack_git2_", 0) == 0) total += e.file_size(ec);
        return total;
    };
    dt::BackgroundProcess pull;
    pull.start({"sh", "-c", "exec \"$0\" \"$@\" >/dev/null 2>&1", dt::depsync_bin(), "-c",
                s.peer().config.string(), "pull"});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (partial_bytes() < (4u << 20) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ::kill(pull.pid(), SIGKILL);
    pull.wait();
    // The transfer dies with its parent: the partial pack stops growing.
    std::uintmax_t before = 0, after = partial_bytes();
    for (int i = 0; i < 100 && before != after; ++i) {
        before = after;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        after = partial_bytes();
    }
    REQUIRE(after >= (4u << 20));

    // The next pull, from the primary's repository this time, succeeds and leaves no partial pack.
    set_config(s.peer().config, {{"remote", in_quotes(s.cluster.repo().string())}});
    ProcessResult next = s.cluster.pull(0);
    INFO(describe(next));
    CHECK(next.exit_code == 0);
    CHECK(partial_bytes() == 0);
    CHECK(next.err.find(s.token) == std::string::npos);
}
