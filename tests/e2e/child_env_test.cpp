// No child process of depsync receives the https secrets: validate, on_change, ssh-keygen (signing) and the
// ssh of `cluster` run with DEPSYNC_HTTPS_TOKEN and DEPSYNC_HTTPS_PASSWORD removed from their environment,
// while depsync itself still authenticates its fetch with them. Each child here is a script that writes its
// environment to a file; a variable that is not secret shows the file really holds what the child got.

#include <catch2/catch.hpp>

#include <fstream>
#include <random>

#include "cluster.hpp"
#include "support/https_server.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

const char* const marker = "DEPSYNC_TEST_INHERITED";

std::string make_secret() {
    static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    std::random_device device;
    std::string secret = "dssec_";
    for (int i = 0; i < 32; ++i) secret += alphabet[device() % (sizeof alphabet - 1)];
    return secret;
}

void append_config(const Node& node, const std::string& key, const std::string& value) {
    std::ofstream out(node.config, std::ios::app);
    out << key << " = \"" << value << "\"\n";
    REQUIRE(out.flush());
}

// An executable script at `path` that appends its environment to `dump` (then runs `then`, if any).
stdfs::path env_dumping_script(const stdfs::path& path, const stdfs::path& dump,
                               const std::string& then = "") {
    write_file(path, "#!/bin/sh\nenv >> '" + dump.string() + "'\necho '--- end' >> '" + dump.string() +
                         "'\n" + then);
    stdfs::permissions(path, stdfs::perms::owner_all);
    return path;
}

// What the dumped environments show: each child ran, saw the marker, and saw neither secret nor its name.
void require_no_secret(const stdfs::path& dump, const std::string& secret, std::size_t runs) {
    REQUIRE(stdfs::exists(dump));
    std::string text = read_file(dump);
    INFO(dump.string() << ":\n" << text);
    std::size_t ends = 0;
    for (std::size_t at = text.find("--- end"); at != std::string::npos; at = text.find("--- end", at + 1))
        ++ends;
    CHECK(ends == runs);
    CHECK(text.find(std::string(marker) + "=yes") != std::string::npos);
    CHECK(text.find(secret) == std::string::npos);
    CHECK(text.find("DEPSYNC_HTTPS_TOKEN") == std::string::npos);
    CHECK(text.find("DEPSYNC_HTTPS_PASSWORD") == std::string::npos);
}

}  // namespace

TEST_CASE("on_change never sees the https token or password that authenticated the pull",
          "[e2e][https][on_change]") {
    std::string unavailable = dt::HttpsGitServer::unavailable_reason();
    INFO(unavailable);
    REQUIRE(unavailable.empty());
    const std::string secret = make_secret();
    Cluster cluster(1);
    dt::HttpsGitServer server(cluster.root() / "https", cluster.root(), "depsync", secret);
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 1908, 0.05);
    REQUIRE_SUCCESS(cluster.publish("first"));
    const Node& peer = cluster.peer(0);
    const stdfs::path dump = cluster.root() / "on_change.env";
    // The peer's config names the https remote and the CA; the secret comes only from the environment.
    std::string config = read_file(peer.config);
    config = config.substr(0, config.find("remote =")) +
             config.substr(config.find('\n', config.find("remote =")) + 1);
    write_file(peer.config, config);
    append_config(peer, "remote", server.url("releases.git"));
    append_config(peer, "ca_file", server.ca().cert().string());
    append_config(peer, "on_change", env_dumping_script(cluster.root() / "on-change.sh", dump).string());

    const auto pull = [&](const std::map<std::string, std::string>& env) {
        ProcessResult r = dt::run({dt::depsync_bin(), "-c", peer.config.string(), "pull"}, env);
        INFO(describe(r) << "--- web server log:\n" << server.log());
        REQUIRE(r.exit_code == 0);
        REQUIRE(parse_pulled(r.out));
        CHECK(r.out.find(secret) == std::string::npos);
        CHECK(r.err.find(secret) == std::string::npos);
    };
    pull({{"DEPSYNC_HTTPS_TOKEN", secret}, {marker, "yes"}});
    require_no_secret(dump, secret, 1);

    write_file(cluster.primary().dir / "userstores/added.xml", "<userstore name=\"added\"/>\n");
    REQUIRE_SUCCESS(cluster.publish("second"));
    pull({{"DEPSYNC_HTTPS_USERNAME", "depsync"}, {"DEPSYNC_HTTPS_PASSWORD", secret}, {marker, "yes"}});
    require_no_secret(dump, secret, 2);
    CHECK(read_file(dump).find("DEPSYNC_HTTPS_USERNAME=depsync") != std::string::npos);
    CHECK(differences(cluster.primary().dir, peer.dir).empty());
}

TEST_CASE("validate, ssh-keygen and the ssh of cluster commands never see the https secrets",
          "[e2e][validate][signing][cluster]") {
    const std::string secret = make_secret();
    Cluster cluster(0);
    const Node& primary = cluster.primary();
    dt::generate_tree(primary.dir, dt::Profile::small, 1909, 0.05);
    const stdfs::path bin = cluster.root() / "bin";
    stdfs::create_directories(bin);
    const stdfs::path validate_dump = cluster.root() / "validate.env";
    const stdfs::path keygen_dump = cluster.root() / "ssh-keygen.env";
    const stdfs::path ssh_dump = cluster.root() / "ssh.env";
    append_config(primary, "validate",
                  env_dumping_script(cluster.root() / "validate.sh", validate_dump).string());
    // ssh-keygen and ssh are found through PATH: these stand-ins record their environment, then ssh-keygen
    // does the real work and ssh fails as an unreachable host does.
    env_dumping_script(bin / "ssh-keygen", keygen_dump, "exec /usr/bin/ssh-keygen \"$@\"\n");
    env_dumping_script(bin / "ssh", ssh_dump, "exit 255\n");
    const stdfs::path key = cluster.root() / "signing_key";
    REQUIRE_SUCCESS(
        dt::run({"ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-C", "test", "-f", key.string()}));
    append_config(primary, "signing_key", key.string());
    stdfs::permissions(primary.config, stdfs::perms::owner_read | stdfs::perms::owner_write);

    const std::map<std::string, std::string> env = {{"DEPSYNC_HTTPS_TOKEN", secret},
                                                    {"DEPSYNC_HTTPS_PASSWORD", secret},
                                                    {marker, "yes"},
                                                    {"PATH", bin.string() + ":" + std::getenv("PATH")}};
    ProcessResult published = dt::run(
        {dt::depsync_bin(), "-c", primary.config.string(), "--settle", "1", "publish", "-m", "signed"}, env);
    INFO(describe(published));
    REQUIRE(published.exit_code == 0);
    REQUIRE(parse_published(published.out));
    require_no_secret(validate_dump, secret, 1);
    REQUIRE(stdfs::exists(keygen_dump));
    std::string keygen = read_file(keygen_dump);
    std::size_t keygen_runs = 0;
    for (std::size_t at = keygen.find("--- end"); at != std::string::npos;
         at = keygen.find("--- end", at + 1))
        ++keygen_runs;
    CHECK(keygen_runs >= 1);
    require_no_secret(keygen_dump, secret, keygen_runs);
    // The release really is signed: the stand-in passed the work on.
    ProcessResult raw = git({"-C", cluster.repo().string(), "cat-file", "commit", "main"});
    CHECK(raw.out.find("gpgsig -----BEGIN SSH SIGNATURE") != std::string::npos);

    const stdfs::path nodes = cluster.root() / "nodes.txt";
    write_file(nodes, "root@127.0.0.1:1 /etc/depsync/depsync.conf\n");
    ProcessResult status = dt::run({dt::depsync_bin(), "cluster", "status", "--nodes", nodes.string()}, env);
    INFO(describe(status));
    CHECK(status.exit_code == 1);
    require_no_secret(ssh_dump, secret, 1);
}
