// Pull and mirror push over https against a real web server (lighttpd running git http-backend) on 127.0.0.1,
// with TLS from a private CA made by the test and basic auth: credentials come from a file or the
// environment, certificates are verified, and the secret never shows in output or in the state folder.

#include <catch2/catch.hpp>

#include <deque>
#include <fstream>
#include <random>

#include "cluster.hpp"
#include "https_setup.hpp"
#include "support/hostile_http_server.hpp"
#include "support/https_server.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

std::string server_unavailable() {
    return dt::HttpsGitServer::unavailable_reason();
}

// A cluster whose peers reach the primary's repository through https.
struct HttpsCluster {
    const std::string token = make_token();
    Cluster cluster;
    dt::HttpsGitServer server;
    bool token_in_config = false;    // set by a test that writes it there on purpose
    std::deque<ProcessResult> runs;  // every run of the test (references stay valid), checked for the token

    explicit HttpsCluster(std::size_t peers = 1)
        : cluster(peers), server(cluster.root() / "https", cluster.root(), "depsync", token) {
        dt::generate_tree(cluster.primary().dir, dt::Profile::small, 21, 0.05);
    }

    // A credentials file with `text`, mode `mode`.
    stdfs::path credentials(const std::string& name, const std::string& text,
                            stdfs::perms mode = stdfs::perms::owner_read | stdfs::perms::owner_write) const {
        stdfs::path file = cluster.root() / ("credentials-" + name);
        write_file(file, text);
        stdfs::permissions(file, mode);
        return file;
    }
    std::string repo_url() const { return server.url("releases.git"); }

    void use_https(std::size_t peer, const std::string& url, const std::optional<stdfs::path>& ca,
                   const std::optional<stdfs::path>& credentials_file) const {
        std::vector<std::pair<std::string, std::string>> keys = {{"remote", in_quotes(url)}};
        if (ca) keys.emplace_back("ca_file", in_quotes(ca->string()));
        if (credentials_file) keys.emplace_back("credentials", in_quotes(credentials_file->string()));
        set_config(cluster.peer(peer).config, keys);
    }

    const ProcessResult& pull(std::size_t peer, const std::vector<std::string>& extra = {},
                              const std::map<std::string, std::string>& env = {}) {
        std::vector<std::string> argv = {dt::depsync_bin(), "-c", cluster.peer(peer).config.string(), "pull"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        runs.push_back(dt::run(argv, env));
        return runs.back();
    }
    const ProcessResult& publish(const std::string& message) {
        runs.push_back(cluster.publish(message));
        return runs.back();
    }

    std::string describe_run(const ProcessResult& r) const {
        return describe(r) + "--- web server log:\n" + server.log();
    }

    // The token appears in no output of any run and in no file of any node's state folder.
    void require_token_kept_secret() const {
        for (const ProcessResult& r : runs) {
            INFO(describe(r));
            CHECK(r.out.find(token) == std::string::npos);
            CHECK(r.err.find(token) == std::string::npos);
        }
        std::vector<stdfs::path> states = {cluster.primary().state};
        for (std::size_t i = 0; i < cluster.peer_count(); ++i) states.push_back(cluster.peer(i).state);
        for (const auto& state : states) {
            if (!stdfs::exists(state)) continue;
            for (const auto& entry : stdfs::recursive_directory_iterator(state)) {
                if (!entry.is_regular_file() || entry.is_symlink()) continue;
                INFO("state file " << entry.path().string());
                CHECK(read_file(entry.path()).find(token) == std::string::npos);
            }
        }
        if (token_in_config) return;
        for (std::size_t i = 0; i < cluster.peer_count(); ++i)
            CHECK(read_file(cluster.peer(i).config).find(token) == std::string::npos);
    }
};

void require_same_tree(const stdfs::path& a, const stdfs::path& b) {
    auto diff = differences(a, b);
    INFO(dt::format_differences(diff));
    REQUIRE(diff.empty());
}

std::string rev_parse(const stdfs::path& repo, const std::string& rev) {
    ProcessResult r = git({"-C", repo.string(), "rev-parse", "--verify", "-q", rev});
    return r.exit_code == 0 ? r.out.substr(0, r.out.find('\n')) : std::string();
}

}  // namespace

TEST_CASE("https transport: peers pull with a token from a credentials file or the environment",
          "[e2e][https]") {
    INFO(server_unavailable());
    REQUIRE(server_unavailable().empty());
    HttpsCluster s(3);
    REQUIRE_SUCCESS(s.publish("first"));
    const stdfs::path ca = s.server.ca().cert();
    s.use_https(0, s.repo_url(), ca, s.credentials("token", "# deploy token\ntoken = " + s.token + "\n"));
    s.use_https(1, s.repo_url(), ca,
                s.credentials("userpass", "username = depsync\npassword = " + s.token + "\n"));
    s.use_https(2, s.repo_url(), ca, std::nullopt);

    for (std::size_t i = 0; i < 3; ++i) {
        std::map<std::string, std::string> env;
        if (i == 2) env["DEPSYNC_HTTPS_TOKEN"] = s.token;
        // At debug verbosity: the most a log could ever show.
        const ProcessResult& r = s.pull(i, {"-vv"}, env);
        INFO(s.describe_run(r));
        REQUIRE(r.exit_code == 0);
        auto line = parse_pulled(r.out);
        REQUIRE(line);
        CHECK(line->to == 1);
        require_same_tree(s.cluster.primary().dir, s.cluster.peer(i).dir);
    }

    write_file(s.cluster.primary().dir / "userstores/added.xml", "<userstore name=\"added\"/>\n");
    REQUIRE_SUCCESS(s.publish("second"));
    const ProcessResult& r = s.pull(0);
    INFO(s.describe_run(r));
    REQUIRE(r.exit_code == 0);
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);
    s.require_token_kept_secret();
}

TEST_CASE("https transport: a server certificate from another CA is refused", "[e2e][https]") {
    INFO(server_unavailable());
    REQUIRE(server_unavailable().empty());
    HttpsCluster s(2);
    REQUIRE_SUCCESS(s.publish("first"));
    dt::TestCa other(s.cluster.root() / "other-ca", "some other CA");
    stdfs::path creds = s.credentials("token", "token = " + s.token + "\n");
    // One peer trusts another private CA, the other only the system's CAs.
    s.use_https(0, s.repo_url(), other.cert(), creds);
    s.use_https(1, s.repo_url(), std::nullopt, creds);
    for (std::size_t i = 0; i < 2; ++i) {
        const ProcessResult& r = s.pull(i, {"-vv"});
        INFO(s.describe_run(r));
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("not trusted") != std::string::npos);
        CHECK(r.err.find("ca_file") != std::string::npos);
        CHECK(dt::describe_tree(s.cluster.peer(i).dir).empty());
    }
    s.require_token_kept_secret();
}

TEST_CASE("https transport: missing or wrong credentials are refused with a clear message", "[e2e][https]") {
    INFO(server_unavailable());
    REQUIRE(server_unavailable().empty());
    HttpsCluster s(2);
    REQUIRE_SUCCESS(s.publish("first"));
    const stdfs::path ca = s.server.ca().cert();
    s.use_https(0, s.repo_url(), ca, std::nullopt);
    s.use_https(1, s.repo_url(), ca, s.credentials("wrong", "token = not-" + s.token.substr(6) + "\n"));

    const ProcessResult& none = s.pull(0, {}, {{"DEPSYNC_HTTPS_TOKEN", ""}});
    {
        INFO(s.describe_run(none));
        CHECK(none.exit_code == 1);
        CHECK(none.err.find("asks for credentials") != std::string::npos);
        CHECK(none.err.find("credentials") != std::string::npos);
        CHECK(none.err.find("DEPSYNC_HTTPS_TOKEN") != std::string::npos);
    }
    const ProcessResult& wrong = s.pull(1, {"-vv"});
    {
        INFO(s.describe_run(wrong));
        CHECK(wrong.exit_code == 1);
        CHECK(wrong.err.find("refused the configured credentials") != std::string::npos);
    }
    for (std::size_t i = 0; i < 2; ++i) CHECK(dt::describe_tree(s.cluster.peer(i).dir).empty());
    s.require_token_kept_secret();
}

TEST_CASE("https transport: secrets readable by others or written into the URL are refused", "[e2e][https]") {
    INFO(server_unavailable());
    REQUIRE(server_unavailable().empty());
    HttpsCluster s(1);
    REQUIRE_SUCCESS(s.publish("first"));
    const stdfs::path ca = s.server.ca().cert();

    SECTION("a credentials file readable by others") {
        stdfs::path creds = s.credentials("open", "token = " + s.token + "\n",
                                          stdfs::perms::owner_read | stdfs::perms::owner_write |
                                              stdfs::perms::group_read | stdfs::perms::others_read);
        s.use_https(0, s.repo_url(), ca, creds);
        const ProcessResult& r = s.pull(0);
        INFO(describe(r));
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("chmod 600 " + creds.string()) != std::string::npos);
    }
    SECTION("a password in the remote URL") {
        std::string url = s.repo_url();
        url.insert(url.find("://") + 3, "depsync:" + s.token + "@");
        s.token_in_config = true;
        s.use_https(0, url, ca, std::nullopt);
        const ProcessResult& r = s.pull(0);
        INFO(describe(r));
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("credentials") != std::string::npos);
    }
    SECTION("a token written as the URL's user name, or any user name") {
        for (const std::string& user : {s.token, std::string("depsync")}) {
            std::string url = s.repo_url();
            url.insert(url.find("://") + 3, user + "@");
            s.token_in_config = true;
            s.use_https(0, url, ca, std::nullopt);
            const ProcessResult& r = s.pull(0, {}, {{"DEPSYNC_HTTPS_TOKEN", s.token}});
            INFO(describe(r));
            CHECK(r.exit_code == 2);
            CHECK(r.err.find("user name") != std::string::npos);
            CHECK(r.err.find("'username'") != std::string::npos);
            // Every command refuses the config and shows the URL without its user part.
            s.runs.push_back(s.cluster.status_json(s.cluster.peer(0)));
            CHECK(s.runs.back().exit_code == 2);
            CHECK(s.runs.back().err.find("https://***@127.0.0.1") != std::string::npos);
        }
    }
    SECTION("a bare token ending in '=' in the credentials file") {
        // Base64 padding makes the line look like "KEY =": the key must not be shown.
        s.use_https(0, s.repo_url(), ca, s.credentials("bare", "# deploy token\n" + s.token + "==\n"));
        const ProcessResult& r = s.pull(0);
        INFO(describe(r));
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("line 2 of credentials file") != std::string::npos);
        CHECK(r.err.find("unknown key") != std::string::npos);
    }
    SECTION("a token holding a '/' written before the host") {
        // Parsed naively: host "dstok_<first half>", the rest a path; the token would be resolved and shown.
        const std::string head = s.token.substr(0, 22), tail = s.token.substr(22);
        std::string url = s.repo_url();
        url.insert(url.find("://") + 3, head + "/" + tail + "@");
        s.token_in_config = true;
        s.use_https(0, url, ca, std::nullopt);
        std::vector<ProcessResult> refused;
        refused.push_back(s.pull(0));
        refused.push_back(s.cluster.status_json(s.cluster.peer(0)));
        for (const ProcessResult& r : refused) {
            INFO(describe(r));
            CHECK(r.exit_code == 2);
            CHECK(r.err.find("user name or password") != std::string::npos);
            CHECK(r.out.find(head.substr(6)) == std::string::npos);
            CHECK(r.err.find(head.substr(6)) == std::string::npos);
            CHECK(r.err.find(tail) == std::string::npos);
        }
        for (const auto& entry : stdfs::recursive_directory_iterator(s.cluster.peer(0).state)) {
            if (!entry.is_regular_file() || entry.is_symlink()) continue;
            INFO("state file " << entry.path().string());
            CHECK(read_file(entry.path()).find(head.substr(6)) == std::string::npos);
            CHECK(read_file(entry.path()).find(tail) == std::string::npos);
        }
    }
    SECTION("an http:// remote") {
        // A plain http server that would ask for the credentials: it is never contacted.
        dt::HostileHttpServer plain({dt::HostileHttpServer::Mode::ask_credentials, "", "", 0});
        s.use_https(0, plain.base_url() + "/git/releases.git", std::nullopt,
                    s.credentials("plain", "token = " + s.token + "\n"));
        const ProcessResult& r = s.pull(0);
        INFO(describe(r));
        CHECK(r.exit_code == 2);
        CHECK(r.err.find("plain http") != std::string::npos);
        CHECK(plain.requests() == 0);
        CHECK_FALSE(plain.saw_authorization());
    }
    CHECK(dt::describe_tree(s.cluster.peer(0).dir).empty());
    s.require_token_kept_secret();
}

TEST_CASE("https transport: a config file that names a credentials file and is readable by others is refused",
          "[e2e][https]") {
    INFO(server_unavailable());
    REQUIRE(server_unavailable().empty());
    HttpsCluster s(1);
    REQUIRE_SUCCESS(s.publish("first"));
    s.use_https(0, s.repo_url(), s.server.ca().cert(), s.credentials("token", "token = " + s.token + "\n"));
    const stdfs::path config = s.cluster.peer(0).config;
    stdfs::permissions(config, stdfs::perms::group_read | stdfs::perms::others_read,
                       stdfs::perm_options::add);
    const ProcessResult& r = s.pull(0);
    INFO(describe(r));
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("chmod 600 " + config.string()) != std::string::npos);
    CHECK(dt::describe_tree(s.cluster.peer(0).dir).empty());
    s.require_token_kept_secret();
}

TEST_CASE("https transport: the primary pushes each release to a mirror over https", "[e2e][https]") {
    INFO(server_unavailable());
    REQUIRE(server_unavailable().empty());
    HttpsCluster s(1);
    const stdfs::path mirror = s.cluster.root() / "mirror.git";
    REQUIRE(git({"init", "-q", "--bare", "-b", "main", mirror.string()}).exit_code == 0);
    const std::string mirror_url = s.server.url("mirror.git");
    set_config(s.cluster.primary().config,
               {{"mirror", "[" + in_quotes(mirror_url) + "]"},
                {"ca_file", in_quotes(s.server.ca().cert().string())},
                {"credentials", in_quotes(s.credentials("primary", "token = " + s.token + "\n").string())}});
    const ProcessResult& published = s.publish("first");
    INFO(s.describe_run(published));
    REQUIRE(published.exit_code == 0);
    CHECK(published.out.find("mirror " + mirror_url + ": pushed") != std::string::npos);
    CHECK(rev_parse(mirror, "refs/heads/main") == rev_parse(s.cluster.repo(), "refs/heads/main"));
    CHECK(rev_parse(mirror, "refs/tags/r1") == rev_parse(s.cluster.repo(), "refs/tags/r1"));
    CHECK(git({"-C", mirror.string(), "fsck", "--strict"}).exit_code == 0);

    s.use_https(0, mirror_url, s.server.ca().cert(), s.credentials("peer", "token = " + s.token + "\n"));
    const ProcessResult& pulled = s.pull(0);
    INFO(s.describe_run(pulled));
    REQUIRE(pulled.exit_code == 0);
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);
    s.require_token_kept_secret();
}

TEST_CASE(
    "https transport: a certificate naming the server's IP address only as an IP subjectAltName is accepted",
    "[e2e][https]") {
    // The standard certificate for an address: subjectAltName IP:127.0.0.1 and no DNS name.
    INFO(server_unavailable());
    REQUIRE(server_unavailable().empty());
    const std::string token = make_token();
    Cluster cluster(2);
    dt::HttpsGitServer server(cluster.root() / "https", cluster.root(), "depsync", token,
                              dt::IpCertNames::ip_only);
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 23, 0.05);
    REQUIRE_SUCCESS(cluster.publish("first"));
    stdfs::path creds = cluster.root() / "credentials";
    write_file(creds, "token = " + token + "\n");
    stdfs::permissions(creds, stdfs::perms::owner_read | stdfs::perms::owner_write);
    set_config(cluster.peer(0).config, {{"remote", in_quotes(server.url("releases.git"))},
                                        {"ca_file", in_quotes(server.ca().cert().string())},
                                        {"credentials", in_quotes(creds.string())}});
    ProcessResult r = cluster.pull(0);
    INFO(describe(r));
    CHECK(r.out.find(token) == std::string::npos);
    CHECK(r.err.find(token) == std::string::npos);
    REQUIRE(r.exit_code == 0);
    auto diff = differences(cluster.primary().dir, cluster.peer(0).dir);
    INFO(dt::format_differences(diff));
    CHECK(diff.empty());

    // The same certificate is still refused by a peer that trusts another CA.
    dt::TestCa other(cluster.root() / "other-ca", "some other CA");
    set_config(cluster.peer(1).config, {{"remote", in_quotes(server.url("releases.git"))},
                                        {"ca_file", in_quotes(other.cert().string())},
                                        {"credentials", in_quotes(creds.string())}});
    ProcessResult refused = cluster.pull(1);
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(refused.err.find("not trusted") != std::string::npos);
    CHECK(dt::describe_tree(cluster.peer(1).dir).empty());
}
