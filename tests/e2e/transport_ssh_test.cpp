// Pull and publish over ssh against a real sshd on 127.0.0.1 started by each test: host keys verified against
// the configured known_hosts file (never the user's), client keys, mirrors, and a server that stalls.

#include <git2/sys/credential.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <regex>

#include "cluster.hpp"
#include "core/error.hpp"
#include "core/git/handle.hpp"
#include "core/git/remote_url.hpp"
#include "core/git/transport.hpp"
#include "support/sshd_server.hpp"
#include "support/tcp_proxy.hpp"
#include "support/temp_dir.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;
using dt::SshKeyType;

std::string in_quotes(const std::string& s) {
    return "\"" + s + "\"";
}

// Sets config keys of a node: the line of a key already there is replaced, other keys are appended. The file
// becomes mode 600, as depsync requires of a config naming a key file.
void set_config(const stdfs::path& config, const std::vector<std::pair<std::string, std::string>>& keys) {
    std::ifstream in(config);
    std::string line, text;
    std::vector<bool> done(keys.size(), false);
    while (std::getline(in, line)) {
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (line.rfind(keys[i].first + " =", 0) == 0) {
                line = keys[i].first + " = " + keys[i].second;
                done[i] = true;
            }
        }
        text += line + "\n";
    }
    for (std::size_t i = 0; i < keys.size(); ++i)
        if (!done[i]) text += keys[i].first + " = " + keys[i].second + "\n";
    write_file(config, text);
    stdfs::permissions(config, stdfs::perms::owner_read | stdfs::perms::owner_write);
}

void write_lines(const stdfs::path& file, const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    write_file(file, text);
}

// A cluster whose peers will reach the primary's repository through a real sshd.
struct SshCluster {
    Cluster cluster;
    dt::SshdServer sshd;
    stdfs::path ed25519_key, ecdsa_key;

    explicit SshCluster(std::size_t peers = 1, dt::SshdOptions options = {})
        : cluster(peers),
          sshd(cluster.root() / "sshd", std::move(options)),
          ed25519_key(cluster.root() / "keys/id_ed25519"),
          ecdsa_key(cluster.root() / "keys/id_ecdsa") {
        dt::generate_ssh_key(ed25519_key, SshKeyType::ed25519);
        dt::generate_ssh_key(ecdsa_key, SshKeyType::ecdsa);
        sshd.authorize(pub(ed25519_key));
        sshd.authorize(pub(ecdsa_key));
        dt::generate_tree(cluster.primary().dir, dt::Profile::small, 5, 0.05);
    }

    static stdfs::path pub(const stdfs::path& key) {
        stdfs::path p = key;
        p += ".pub";
        return p;
    }

    // A known_hosts file of the test's own, holding `lines`.
    stdfs::path known_hosts(const std::string& name, const std::vector<std::string>& lines) const {
        stdfs::path file = cluster.root() / ("known_hosts-" + name);
        write_lines(file, lines);
        return file;
    }
    std::vector<std::string> all_host_lines() const {
        return {sshd.known_hosts_line(SshKeyType::ed25519), sshd.known_hosts_line(SshKeyType::ecdsa)};
    }

    // Points a peer at `url` with a key file and a known_hosts file.
    void use_ssh(std::size_t peer, const std::string& url, const stdfs::path& key,
                 const stdfs::path& known_hosts) const {
        set_config(cluster.peer(peer).config, {{"remote", in_quotes(url)},
                                               {"ssh_key", in_quotes(key.string())},
                                               {"known_hosts", in_quotes(known_hosts.string())}});
    }
    std::string repo_url() const { return sshd.url(cluster.repo()); }

    // Why a failure happened, with sshd's side of the story.
    std::string describe_run(const ProcessResult& r) const {
        return describe(r) + "--- sshd log:\n" + sshd.log();
    }
};

#define REQUIRE_SSH_SUCCESS(setup, run_expression)                      \
    do {                                                                \
        const ::depsync::testing::ProcessResult& r_ = (run_expression); \
        INFO((setup).describe_run(r_));                                 \
        REQUIRE(r_.exit_code == 0);                                     \
    } while (false)

void require_same_tree(const stdfs::path& a, const stdfs::path& b) {
    auto diff = differences(a, b);
    INFO(dt::format_differences(diff));
    REQUIRE(diff.empty());
}

// The deployment directory exactly as it is, every permission bit included.
void require_unchanged(const dt::TreeListing& before, const stdfs::path& dir) {
    auto diff = dt::diff_trees(before, dt::describe_tree(dir), {}, dt::ModeCheck::exact);
    INFO("the deployment directory changed:" << dt::format_differences(diff));
    REQUIRE(diff.empty());
}

std::string read_or_empty(const stdfs::path& file) {
    std::error_code ec;
    return stdfs::exists(file, ec) ? read_file(file) : std::string();
}

// The "published rN ..." line wherever it is in publish's output (mirror reports may come first).
std::optional<PublishedLine> published_line(const std::string& out) {
    std::size_t pos = out.find("published r");
    if (pos == std::string::npos || (pos > 0 && out[pos - 1] != '\n')) return std::nullopt;
    return parse_published(out.substr(pos));
}

std::string rev_parse(const stdfs::path& repo, const std::string& rev) {
    ProcessResult r = git({"-C", repo.string(), "rev-parse", "--verify", "-q", rev});
    return r.exit_code == 0 ? r.out.substr(0, r.out.find('\n')) : std::string();
}

}  // namespace

TEST_CASE("ssh transport: peers pull from a host in their known_hosts with an ed25519 or an ecdsa key",
          "[e2e][ssh]") {
    const char* home = std::getenv("HOME");
    const stdfs::path user_known_hosts = stdfs::path(home ? home : "/root") / ".ssh/known_hosts";
    const std::string user_known_hosts_before = read_or_empty(user_known_hosts);

    SshCluster s(2);
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    stdfs::path kh = s.known_hosts("both", s.all_host_lines());
    s.use_ssh(0, s.repo_url(), s.ed25519_key, kh);
    s.use_ssh(1, s.repo_url(), s.ecdsa_key, kh);

    for (std::size_t i = 0; i < 2; ++i) {
        ProcessResult r = s.cluster.pull(i);
        REQUIRE_SSH_SUCCESS(s, r);
        auto line = parse_pulled(r.out);
        REQUIRE(line);
        CHECK(line->to == 1);
        require_same_tree(s.cluster.primary().dir, s.cluster.peer(i).dir);
    }
    // The sshd saw both key types log in.
    CHECK(s.sshd.log().find("Accepted publickey for " + dt::current_user_name()) != std::string::npos);
    CHECK(s.sshd.log().find(": ED25519 ") != std::string::npos);
    CHECK(s.sshd.log().find(": ECDSA ") != std::string::npos);

    // A second release travels the same way, and the user's own known_hosts was never touched.
    write_file(s.cluster.primary().dir / "userstores/added.xml", "<userstore name=\"added\"/>\n");
    REQUIRE_SUCCESS(s.cluster.publish("second"));
    ProcessResult r = s.cluster.pull(0);
    REQUIRE_SSH_SUCCESS(s, r);
    REQUIRE(parse_pulled(r.out));
    CHECK(parse_pulled(r.out)->to == 2);
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);
    CHECK(read_or_empty(user_known_hosts) == user_known_hosts_before);
}

TEST_CASE("ssh transport: scp-like remotes user@host:path are ssh on port 22", "[e2e][ssh]") {
    using depsync::git::parse_remote_url;
    using depsync::git::Scheme;
    auto scp = parse_remote_url("deploy@primary.example:/srv/depsync/releases.git");
    CHECK(scp.scheme == Scheme::ssh);
    CHECK(scp.user == "deploy");
    CHECK(scp.host == "primary.example");
    CHECK(scp.port == 0);
    CHECK(scp.path == "/srv/depsync/releases.git");
    auto relative = parse_remote_url("primary:releases.git");
    CHECK(relative.scheme == Scheme::ssh);
    CHECK(relative.user.empty());
    CHECK(relative.path == "releases.git");
    auto full = parse_remote_url("ssh://deploy@10.1.2.3:2222/srv/r.git");
    CHECK(full.scheme == Scheme::ssh);
    CHECK(full.port == 2222);
    CHECK(full.path == "/srv/r.git");
    CHECK(parse_remote_url("/srv/r.git").scheme == Scheme::local);
    CHECK_THROWS_AS(parse_remote_url("ftp://host/r.git"), depsync::Error);

    // A real pull needs a server on port 22: 127.0.0.2 is loopback too, and usually has port 22 free even
    // where the machine runs its own sshd on 127.0.0.1.
    Cluster cluster(1);
    std::optional<dt::SshdServer> sshd;
    try {
        dt::SshdOptions options;
        options.address = "127.0.0.2";
        options.port = 22;
        sshd.emplace(cluster.root() / "sshd22", options);
    } catch (const std::exception& e) {
        WARN("not tried for real: port 22 on 127.0.0.2 cannot be had here (" << e.what() << ")");
        return;
    }
    stdfs::path key = cluster.root() / "keys/id_ed25519";
    dt::generate_ssh_key(key, SshKeyType::ed25519);
    sshd->authorize(SshCluster::pub(key));
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 9, 0.05);
    REQUIRE_SUCCESS(cluster.publish("first"));
    stdfs::path kh = cluster.root() / "known_hosts";
    // On port 22 known_hosts names the host without brackets or port.
    CHECK(sshd->known_hosts_name() == "127.0.0.2");
    write_lines(kh, {sshd->known_hosts_line(SshKeyType::ed25519)});
    std::string url = dt::current_user_name() + "@127.0.0.2:" + cluster.repo().string();
    std::vector<std::pair<std::string, std::string>> keys = {{"remote", in_quotes(url)},
                                                             {"ssh_key", in_quotes(key.string())},
                                                             {"known_hosts", in_quotes(kh.string())}};
    set_config(cluster.peer(0).config, keys);
    ProcessResult r = cluster.pull(0);
    INFO(describe(r) << "--- sshd log:\n" << sshd->log());
    REQUIRE(r.exit_code == 0);
    require_same_tree(cluster.primary().dir, cluster.peer(0).dir);
}

TEST_CASE("ssh transport: an unknown host is refused with its fingerprint and the line to add",
          "[e2e][ssh]") {
    SshCluster s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    const auto before = dt::describe_tree(s.cluster.peer(0).dir);

    // A known_hosts that knows another host (with one of this server's keys, even) but not this one.
    stdfs::path kh = s.known_hosts(
        "other", {"primary.example " + dt::ssh_public_key_text(s.sshd.host_key_pub(SshKeyType::ed25519))});
    s.use_ssh(0, s.repo_url(), s.ed25519_key, kh);
    ProcessResult r = s.cluster.pull(0);
    INFO(s.describe_run(r));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("unknown ssh host " + s.sshd.known_hosts_name()) != std::string::npos);
    static const std::regex offer(
        R"(its (\S+) key fingerprint is (SHA256:\S+)\. If that is right, add this line to (\S+): ([^\n]+))");
    std::smatch m;
    REQUIRE(std::regex_search(r.err, m, offer));
    const std::string type = m[1];
    REQUIRE((type == "ssh-ed25519" || type == "ecdsa-sha2-nistp256"));
    SshKeyType offered = type == "ssh-ed25519" ? SshKeyType::ed25519 : SshKeyType::ecdsa;
    // The fingerprint is the one OpenSSH prints for the server's key, and the line is the one to add.
    CHECK(m[2] == dt::ssh_fingerprint_of(s.sshd.host_key_pub(offered)));
    CHECK(m[3] == kh.string());
    const std::string add_line = m[4];
    CHECK(add_line == s.sshd.known_hosts_line(offered));
    require_unchanged(before, s.cluster.peer(0).dir);

    // The operator checks the fingerprint and adds the line: the same pull now succeeds.
    write_file(kh, read_file(kh) + add_line + "\n");
    ProcessResult again = s.cluster.pull(0);
    REQUIRE_SSH_SUCCESS(s, again);
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);
}

TEST_CASE("ssh transport: a missing known_hosts file refuses the host and says which file to create",
          "[e2e][ssh]") {
    SshCluster s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    stdfs::path kh = s.cluster.root() / "no-such-known_hosts";
    s.use_ssh(0, s.repo_url(), s.ed25519_key, kh);
    ProcessResult r = s.cluster.pull(0);
    INFO(s.describe_run(r));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(kh.string()) != std::string::npos);
    CHECK(r.err.find("SHA256:") != std::string::npos);
    CHECK(dt::describe_tree(s.cluster.peer(0).dir).empty());
}

TEST_CASE("ssh transport: a changed host key is refused loudly and nothing is applied", "[e2e][ssh]") {
    SshCluster s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    stdfs::path kh = s.known_hosts("right", s.all_host_lines());
    s.use_ssh(0, s.repo_url(), s.ed25519_key, kh);
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));

    // The server now presents keys other than the recorded ones: the recorded entries are an impostor's view.
    write_file(s.cluster.primary().dir / "userstores/added.xml", "<userstore name=\"added\"/>\n");
    REQUIRE_SUCCESS(s.cluster.publish("second"));
    const auto before = dt::describe_tree(s.cluster.peer(0).dir);
    for (SshKeyType type : {SshKeyType::ed25519, SshKeyType::ecdsa}) {
        stdfs::path other = s.cluster.root() / (std::string("other_") + dt::ssh_keygen_type(type));
        dt::generate_ssh_key(other, type);
        stdfs::path other_pub = other;
        other_pub += ".pub";
        write_file(kh, (type == SshKeyType::ed25519 ? std::string() : read_file(kh)) +
                           s.sshd.known_hosts_name() + " " + dt::ssh_public_key_text(other_pub) + "\n");
    }
    ProcessResult r = s.cluster.pull(0);
    INFO(s.describe_run(r));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("HOST KEY CHANGED for " + s.sshd.known_hosts_name()) != std::string::npos);
    // It names the key the server really presented, so the operator can compare with the server's own.
    CHECK(
        (r.err.find(dt::ssh_fingerprint_of(s.sshd.host_key_pub(SshKeyType::ed25519))) != std::string::npos ||
         r.err.find(dt::ssh_fingerprint_of(s.sshd.host_key_pub(SshKeyType::ecdsa))) != std::string::npos));
    require_unchanged(before, s.cluster.peer(0).dir);
}

TEST_CASE("ssh transport: a client key the server does not accept is refused", "[e2e][ssh]") {
    SshCluster s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    stdfs::path stranger = s.cluster.root() / "keys/id_stranger";
    dt::generate_ssh_key(stranger, SshKeyType::ed25519);
    s.use_ssh(0, s.repo_url(), stranger, s.known_hosts("both", s.all_host_lines()));
    ProcessResult r = s.cluster.pull(0);
    INFO(s.describe_run(r));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("refused the key " + stranger.string()) != std::string::npos);
    CHECK(r.err.find("authorized_keys") != std::string::npos);
    // ssh's own line, which names who refused (a bastion, behind a ProxyJump).
    CHECK(r.err.find("; ssh: " + dt::current_user_name() + "@127.0.0.1: Permission denied") !=
          std::string::npos);
    CHECK(dt::describe_tree(s.cluster.peer(0).dir).empty());
}

TEST_CASE("ssh transport: an RSA client key signs in with SHA-2 signatures", "[e2e][ssh]") {
    SshCluster s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    stdfs::path rsa = s.cluster.root() / "keys/id_rsa";
    dt::generate_ssh_key(rsa, SshKeyType::rsa);
    s.sshd.authorize(SshCluster::pub(rsa));
    s.use_ssh(0, s.repo_url(), rsa, s.known_hosts("both", s.all_host_lines()));
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);
    // OpenSSH 8.8 and later accept RSA only with rsa-sha2 signatures: the server says which it got.
    CHECK(s.sshd.log().find("Accepted publickey for " + dt::current_user_name()) != std::string::npos);
    CHECK(s.sshd.log().find(": RSA SHA256:") != std::string::npos);
}

// Certificate authorities of a test: key pairs in a folder of their own, made before the sshd that uses them.
struct SshCas {
    dt::TempDir dir;
    stdfs::path key(const std::string& name) const {
        stdfs::path k = dir.path() / name;
        if (!stdfs::exists(k)) dt::generate_ssh_key(k, SshKeyType::ed25519);
        return k;
    }
};

TEST_CASE("ssh transport: a host certificate is trusted through an @cert-authority line", "[e2e][ssh]") {
    SshCas cas;
    dt::SshdOptions options;
    options.host_ca = cas.key("host_ca");
    SshCluster s(1, options);
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    // known_hosts holds no key of the host, only the CA that signed its certificate.
    const std::string ca_line = "@cert-authority " + s.sshd.known_hosts_name() + " " +
                                dt::ssh_public_key_text(SshCluster::pub(options.host_ca));
    s.use_ssh(0, s.repo_url(), s.ed25519_key, s.known_hosts("ca", {ca_line}));
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);

    // Another CA vouches for nothing here: the host is unknown, and nothing is applied.
    const std::string other_line = "@cert-authority " + s.sshd.known_hosts_name() + " " +
                                   dt::ssh_public_key_text(SshCluster::pub(cas.key("other_ca")));
    s.use_ssh(0, s.repo_url(), s.ed25519_key, s.known_hosts("other-ca", {other_line}));
    write_file(s.cluster.primary().dir / "userstores/added.xml", "<userstore name=\"added\"/>\n");
    REQUIRE_SUCCESS(s.cluster.publish("second"));
    const dt::TreeListing before = dt::describe_tree(s.cluster.peer(0).dir);
    ProcessResult r = s.cluster.pull(0);
    INFO(s.describe_run(r));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("unknown ssh host") != std::string::npos);
    require_unchanged(before, s.cluster.peer(0).dir);

    // A revoked CA is refused even when its @cert-authority line stays.
    s.use_ssh(
        0, s.repo_url(), s.ed25519_key,
        s.known_hosts("revoked-ca",
                      {ca_line, "@revoked * " + dt::ssh_public_key_text(SshCluster::pub(options.host_ca))}));
    r = s.cluster.pull(0);
    INFO(s.describe_run(r));
    CHECK(r.exit_code == 1);
    require_unchanged(before, s.cluster.peer(0).dir);
}

TEST_CASE("ssh transport: a user certificate signed by the server's TrustedUserCAKeys logs in",
          "[e2e][ssh]") {
    SshCas cas;
    stdfs::path user_ca = cas.key("user_ca");
    stdfs::path trusted = cas.dir.path() / "trusted_user_ca_keys";
    write_lines(trusted, {dt::ssh_public_key_text(SshCluster::pub(user_ca))});
    dt::SshdOptions options;
    options.trusted_user_ca_keys = trusted;
    SshCluster s(1, options);
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    // A key the server's authorized_keys does not list: without a certificate it is refused.
    stdfs::path key = s.cluster.root() / "keys/id_certified";
    dt::generate_ssh_key(key, SshKeyType::ed25519);
    s.use_ssh(0, s.repo_url(), key, s.known_hosts("both", s.all_host_lines()));
    ProcessResult r = s.cluster.pull(0);
    INFO(s.describe_run(r));
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("refused the key " + key.string()) != std::string::npos);
    CHECK(dt::describe_tree(s.cluster.peer(0).dir).empty());

    // With its certificate beside it (KEY-cert.pub, where ssh looks), the same key logs in by the CA.
    dt::sign_ssh_certificate(user_ca, SshCluster::pub(key), dt::current_user_name(), false);
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);
    CHECK(s.sshd.log().find("ED25519-CERT") != std::string::npos);
}

TEST_CASE("ssh transport: a Host alias of ssh_config brings its own port and user", "[e2e][ssh]") {
    SshCluster s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    // The remote names only the alias: host, port and user come from the file `ssh_config` names.
    stdfs::path ssh_config = s.cluster.root() / "ssh_config";
    write_lines(ssh_config, {"Host depsync-primary", "  HostName " + s.sshd.address(),
                             "  Port " + std::to_string(s.sshd.port()), "  User " + dt::current_user_name()});
    s.use_ssh(0, "depsync-primary:" + s.cluster.repo().string(), s.ed25519_key,
              s.known_hosts("alias", s.all_host_lines()));
    set_config(s.cluster.peer(0).config, {{"ssh_config", in_quotes(ssh_config.string())}});
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);

    // Without the file the alias means nothing: the pull fails and says it cannot reach the host.
    set_config(s.cluster.peer(0).config, {{"ssh_config", in_quotes((s.cluster.root() / "empty").string())}});
    write_file(s.cluster.root() / "empty", "");
    write_file(s.cluster.primary().dir / "userstores/added.xml", "<userstore name=\"added\"/>\n");
    REQUIRE_SUCCESS(s.cluster.publish("second"));
    ProcessResult r = s.cluster.pull(0);
    INFO(describe(r));
    CHECK(r.exit_code != 0);
    CHECK(r.err.find("depsync-primary") != std::string::npos);
}

TEST_CASE("ssh transport: a peer reaches the primary through a bastion with ProxyJump", "[e2e][ssh]") {
    SshCluster s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    std::optional<dt::SshdServer> bastion(std::in_place, s.cluster.root() / "bastion");
    bastion->authorize(SshCluster::pub(s.ed25519_key));
    std::vector<std::string> host_lines = s.all_host_lines();
    host_lines.push_back(bastion->known_hosts_line(SshKeyType::ed25519));
    stdfs::path known_hosts = s.known_hosts("bastion", host_lines);
    // The jump ssh reads only the config file: its key and known_hosts are given there.
    stdfs::path ssh_config = s.cluster.root() / "ssh_config";
    write_lines(ssh_config, {"Host bastion", "  HostName " + bastion->address(),
                             "  Port " + std::to_string(bastion->port()), "  User " + dt::current_user_name(),
                             "  IdentityFile " + s.ed25519_key.string(), "  IdentitiesOnly yes",
                             "  UserKnownHostsFile " + known_hosts.string(), "  StrictHostKeyChecking yes",
                             "  BatchMode yes", "Host behind-bastion", "  HostName " + s.sshd.address(),
                             "  Port " + std::to_string(s.sshd.port()), "  User " + dt::current_user_name(),
                             "  ProxyJump bastion"});
    s.use_ssh(0, "behind-bastion:" + s.cluster.repo().string(), s.ed25519_key, known_hosts);
    set_config(s.cluster.peer(0).config, {{"ssh_config", in_quotes(ssh_config.string())}});
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);
    CHECK(bastion->log().find("Accepted publickey for " + dt::current_user_name()) != std::string::npos);

    // With only the bastion's key known, the primary is unknown; its key is not fetched with ssh-keyscan
    // straight from its address (not the route ssh took), so no line to add is offered.
    write_lines(known_hosts, {bastion->known_hosts_line(SshKeyType::ed25519)});
    const dt::TreeListing pulled = dt::describe_tree(s.cluster.peer(0).dir);
    ProcessResult unknown = s.cluster.pull(0);
    {
        INFO(s.describe_run(unknown));
        CHECK(unknown.exit_code == 1);
        CHECK(unknown.err.find("could not be read with ssh-keyscan") != std::string::npos);
        for (const std::string& line : s.all_host_lines())
            CHECK(unknown.err.find(line.substr(line.find(' ') + 1)) == std::string::npos);
        require_unchanged(pulled, s.cluster.peer(0).dir);
    }
    write_lines(known_hosts, host_lines);

    // The route depends on the bastion: with it stopped, the next release does not arrive.
    const dt::TreeListing before = dt::describe_tree(s.cluster.peer(0).dir);
    bastion.reset();
    write_file(s.cluster.primary().dir / "userstores/added.xml", "<userstore name=\"added\"/>\n");
    REQUIRE_SUCCESS(s.cluster.publish("second"));
    ProcessResult r = s.cluster.pull(0);
    INFO(describe(r));
    CHECK(r.exit_code != 0);
    require_unchanged(before, s.cluster.peer(0).dir);
}

TEST_CASE("ssh transport: unparseable known_hosts lines do not break the valid entries", "[e2e][ssh]") {
    SshCluster s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    const std::string name = s.sshd.known_hosts_name();
    std::string bad;
    SECTION("a line of plain text") {
        bad = "this line is not a known_hosts entry";
    }
    SECTION("a marker without a host") {
        bad = "@revoked";
    }
    SECTION("a key that is not base64") {
        bad = name + " ssh-ed25519 !!!not-base64!!!";
    }
    SECTION("a key type for another host that ssh may not know") {
        bad = "other.example sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIA==";
    }
    INFO("bad line: " << bad);
    // The valid entry is the server's ed25519 key only, after the bad line: a client that gave up at the bad
    // line, or let it choose the key type to ask for, would fail.
    stdfs::path kh =
        s.known_hosts("messy", {"# a comment", "", bad, s.sshd.known_hosts_line(SshKeyType::ed25519)});
    s.use_ssh(0, s.repo_url(), s.ed25519_key, kh);
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);
}

TEST_CASE("ssh transport: an entry this host cannot use, before the valid one, does not break the connection",
          "[e2e][ssh]") {
    SshCluster s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    const std::string name = s.sshd.known_hosts_name();
    std::string first;
    SECTION("a key type ssh does not expect from this host") {
        first = name + " sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIA==";
    }
    SECTION("a key type the server does not have") {
        stdfs::path rsa = s.cluster.root() / "keys/other_rsa";
        dt::generate_ssh_key(rsa, SshKeyType::rsa);
        first = name + " " + dt::ssh_public_key_text(SshCluster::pub(rsa));
    }
    INFO("first entry: " << first);
    stdfs::path kh = s.known_hosts("first", {first, s.sshd.known_hosts_line(SshKeyType::ed25519)});
    s.use_ssh(0, s.repo_url(), s.ed25519_key, kh);
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);
}

TEST_CASE("ssh transport: a peer names a release by a tag made on the primary, also after its last fetch",
          "[e2e][ssh]") {
    SshCluster s;
    const stdfs::path repo = s.cluster.repo();
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    write_file(s.cluster.primary().dir / "userstores/added.xml", "<userstore name=\"added\"/>\n");
    REQUIRE_SUCCESS(s.cluster.publish("second"));
    REQUIRE_SUCCESS(git({"-C", repo.string(), "tag", "mytag", rev_parse(repo, "r1")}));
    s.use_ssh(0, s.repo_url(), s.ed25519_key, s.known_hosts("both", s.all_host_lines()));
    const Node& peer = s.cluster.peer(0);
    auto release_of_peer = [&] { return parse_flat_json(s.cluster.status_json(peer).out).at("release"); };

    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0, {"--to", "mytag"}));
    CHECK(release_of_peer() == "1");

    // No release comes with this pull, only the tag (an annotated one).
    REQUIRE_SUCCESS(
        git({"-C", repo.string(), "tag", "-a", "-m", "good one", "golden", rev_parse(repo, "r2")}));
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0, {"--to", "golden"}));
    CHECK(release_of_peer() == "2");
    const stdfs::path fetched = peer.state / "repo.git";
    CHECK(rev_parse(fetched, "refs/tags/golden") == rev_parse(repo, "refs/tags/golden"));
    CHECK(rev_parse(fetched, "refs/tags/r2") == rev_parse(repo, "refs/tags/r2"));
    ProcessResult fsck = git({"-C", fetched.string(), "fsck", "--strict", "--no-dangling"});
    INFO(describe(fsck));
    CHECK(fsck.exit_code == 0);
}

TEST_CASE("ssh transport: a recorded key type the server does not have gives way to the next one recorded",
          "[e2e][ssh]") {
    dt::SshdOptions only_ecdsa;
    only_ecdsa.host_keys = {SshKeyType::ecdsa};
    SshCluster s(1, only_ecdsa);
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    // ed25519 is the type asked for first when known_hosts records it; this server has no such key.
    stdfs::path other = s.cluster.root() / "keys/other_ed25519";
    dt::generate_ssh_key(other, SshKeyType::ed25519);
    const std::string name = s.sshd.known_hosts_name();
    const std::string ed25519_line = name + " " + dt::ssh_public_key_text(SshCluster::pub(other));

    SECTION("the next type recorded for the host is asked for") {
        s.use_ssh(0, s.repo_url(), s.ed25519_key,
                  s.known_hosts("both", {ed25519_line, s.sshd.known_hosts_line(SshKeyType::ecdsa)}));
        REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
        require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);
    }
    SECTION("with no other type recorded, the server's key is unknown and shown with the line to add") {
        stdfs::path kh = s.known_hosts("ed25519", {ed25519_line});
        s.use_ssh(0, s.repo_url(), s.ed25519_key, kh);
        ProcessResult r = s.cluster.pull(0);
        INFO(s.describe_run(r));
        CHECK(r.exit_code == 1);
        // OpenSSH calls a key of a type not recorded, for a host with another type recorded, a changed key.
        CHECK((r.err.find("unknown ssh host " + name) != std::string::npos ||
               r.err.find("HOST KEY CHANGED for " + name) != std::string::npos));
        CHECK(r.err.find(dt::ssh_fingerprint_of(s.sshd.host_key_pub(SshKeyType::ecdsa))) !=
              std::string::npos);
        CHECK(r.err.find(s.sshd.known_hosts_line(SshKeyType::ecdsa)) != std::string::npos);
        CHECK(dt::describe_tree(s.cluster.peer(0).dir).empty());
    }
}

TEST_CASE("ssh transport: known_hosts with only one of the server's key types is enough", "[e2e][ssh]") {
    SshCluster s(2);
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    // The server offers both ed25519 and ecdsa; each peer knows only one of them.
    s.use_ssh(0, s.repo_url(), s.ed25519_key,
              s.known_hosts("ed25519", {s.sshd.known_hosts_line(SshKeyType::ed25519)}));
    s.use_ssh(1, s.repo_url(), s.ed25519_key,
              s.known_hosts("ecdsa", {s.sshd.known_hosts_line(SshKeyType::ecdsa)}));
    for (std::size_t i = 0; i < 2; ++i) {
        REQUIRE_SSH_SUCCESS(s, s.cluster.pull(i));
        require_same_tree(s.cluster.primary().dir, s.cluster.peer(i).dir);
    }
}

TEST_CASE("ssh transport: the primary pushes each release to a mirror, and a peer pulls from the mirror",
          "[e2e][ssh]") {
    SshCluster s;
    const stdfs::path mirror = s.cluster.root() / "mirror.git";
    REQUIRE(git({"init", "-q", "--bare", "-b", "main", mirror.string()}).exit_code == 0);
    stdfs::path kh = s.known_hosts("both", s.all_host_lines());
    const std::string mirror_url = s.sshd.url(mirror);
    set_config(s.cluster.primary().config, {{"mirror", "[" + in_quotes(mirror_url) + "]"},
                                            {"ssh_key", in_quotes(s.ed25519_key.string())},
                                            {"known_hosts", in_quotes(kh.string())}});

    ProcessResult published = s.cluster.publish("first");
    REQUIRE_SSH_SUCCESS(s, published);
    CHECK(published.out.find("mirror " + mirror_url + ": pushed") != std::string::npos);
    CHECK(rev_parse(mirror, "refs/heads/main") == rev_parse(s.cluster.repo(), "refs/heads/main"));
    CHECK(rev_parse(mirror, "refs/tags/r1") == rev_parse(s.cluster.repo(), "refs/tags/r1"));
    ProcessResult fsck = git({"-C", mirror.string(), "fsck", "--strict"});
    INFO(describe(fsck));
    CHECK(fsck.exit_code == 0);

    s.use_ssh(0, mirror_url, s.ecdsa_key, kh);
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);

    // The next release follows; an unchanged publish finds the mirror up to date.
    write_file(s.cluster.primary().dir / "userstores/added.xml", "<userstore name=\"added\"/>\n");
    ProcessResult second = s.cluster.publish("second");
    REQUIRE_SSH_SUCCESS(s, second);
    CHECK(second.out.find("mirror " + mirror_url + ": pushed") != std::string::npos);
    CHECK(rev_parse(mirror, "refs/heads/main") == rev_parse(s.cluster.repo(), "refs/heads/main"));
    CHECK(rev_parse(mirror, "refs/tags/r2") == rev_parse(s.cluster.repo(), "refs/tags/r2"));
    ProcessResult noop = s.cluster.publish("nothing new");
    REQUIRE_SSH_SUCCESS(s, noop);
    CHECK(noop.out.find("FAILED") == std::string::npos);
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);
}

TEST_CASE("ssh transport: a failed mirror push keeps the release and the next publish pushes it",
          "[e2e][ssh]") {
    SshCluster s;
    const stdfs::path mirror = s.cluster.root() / "mirror.git";
    REQUIRE(git({"init", "-q", "--bare", "-b", "main", mirror.string()}).exit_code == 0);
    // Nothing listens on the mirror's port yet; later a forwarder to the sshd takes it.
    const int mirror_port = dt::free_port();
    const std::string mirror_url =
        "ssh://" + dt::current_user_name() + "@127.0.0.1:" + std::to_string(mirror_port) + mirror.string();
    const std::string mirror_name = "[127.0.0.1]:" + std::to_string(mirror_port);
    stdfs::path kh = s.known_hosts(
        "mirror", {mirror_name + " " + dt::ssh_public_key_text(s.sshd.host_key_pub(SshKeyType::ed25519)),
                   mirror_name + " " + dt::ssh_public_key_text(s.sshd.host_key_pub(SshKeyType::ecdsa))});
    set_config(s.cluster.primary().config, {{"mirror", "[" + in_quotes(mirror_url) + "]"},
                                            {"ssh_key", in_quotes(s.ed25519_key.string())},
                                            {"known_hosts", in_quotes(kh.string())}});

    ProcessResult first = s.cluster.publish("first");
    INFO(s.describe_run(first));
    REQUIRE(first.exit_code == 0);
    auto line = published_line(first.out);
    REQUIRE(line);
    CHECK(line->release == 1);
    CHECK(first.out.find("mirror " + mirror_url + ": FAILED, retried on the next publish") !=
          std::string::npos);
    CHECK(first.err.find("retried on the next publish") != std::string::npos);
    CHECK(!rev_parse(s.cluster.repo(), "refs/heads/main").empty());
    CHECK(rev_parse(mirror, "refs/heads/main").empty());

    dt::TcpProxy forwarder(s.sshd.port(), mirror_port);
    ProcessResult next = s.cluster.publish("nothing new");
    INFO(s.describe_run(next));
    REQUIRE(next.exit_code == 0);
    CHECK(parse_nothing_to_publish(next.out.substr(next.out.find("nothing to publish"))) ==
          std::optional<std::uint64_t>(1));
    CHECK(next.out.find("mirror " + mirror_url + ": pushed") != std::string::npos);
    CHECK(rev_parse(mirror, "refs/heads/main") == rev_parse(s.cluster.repo(), "refs/heads/main"));
    CHECK(rev_parse(mirror, "refs/tags/r1") == rev_parse(s.cluster.repo(), "refs/tags/r1"));
    CHECK(git({"-C", mirror.string(), "fsck", "--strict"}).exit_code == 0);
}

TEST_CASE("ssh transport: publish prints its result line first when a mirror is configured", "[e2e][ssh]") {
    // The command-line contract: publish's first line is 'published rN <id> (...)'; mirror reports follow.
    Cluster cluster(0);
    write_file(cluster.primary().dir / "userstores/one.xml", "<userstore/>\n");
    const int closed_port = dt::free_port();
    set_config(cluster.primary().config,
               {{"mirror",
                 "[" + in_quotes("ssh://root@127.0.0.1:" + std::to_string(closed_port) + "/m.git") + "]"}});
    ProcessResult r = cluster.publish("first");
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    CHECK(parse_published(r.out));
}

TEST_CASE(
    "ssh transport: a server that accepts the connection and never answers ends the pull by the timeout",
    "[e2e][ssh]") {
    SshCluster s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    stdfs::path kh = s.known_hosts("both", s.all_host_lines());
    s.use_ssh(0, s.repo_url(), s.ed25519_key, kh);
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
    write_file(s.cluster.primary().dir / "userstores/added.xml", "<userstore name=\"added\"/>\n");
    REQUIRE_SUCCESS(s.cluster.publish("second"));
    const auto before = dt::describe_tree(s.cluster.peer(0).dir);

    dt::TcpProxy silent(std::nullopt);
    s.use_ssh(0,
              "ssh://" + dt::current_user_name() + "@127.0.0.1:" + std::to_string(silent.port()) +
                  s.cluster.repo().string(),
              s.ed25519_key, kh);
    auto start = std::chrono::steady_clock::now();
    ProcessResult r = s.cluster.pull(0, {"--timeout", "2"});
    auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    INFO(describe(r) << "took " << seconds << " s");
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("timeout") != std::string::npos);
    CHECK(silent.connections() >= 1);
    // Not a timing measurement: only that the run ended because of the timeout rather than hanging on.
    CHECK(seconds < 30);
    require_unchanged(before, s.cluster.peer(0).dir);
}

TEST_CASE("ssh transport: a connection that stalls or drops in the middle of the transfer applies nothing",
          "[e2e][ssh]") {
    SshCluster s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    dt::TcpProxy proxy(s.sshd.port());
    const std::string name = "[127.0.0.1]:" + std::to_string(proxy.port());
    stdfs::path kh = s.known_hosts(
        "proxy", {name + " " + dt::ssh_public_key_text(s.sshd.host_key_pub(SshKeyType::ed25519)),
                  name + " " + dt::ssh_public_key_text(s.sshd.host_key_pub(SshKeyType::ecdsa))});
    s.use_ssh(0,
              "ssh://" + dt::current_user_name() + "@127.0.0.1:" + std::to_string(proxy.port()) +
                  s.cluster.repo().string(),
              s.ed25519_key, kh);
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));

    // A release with 2 MB that does not compress, so the cut falls inside the pack.
    dt::Rng rng(17);
    dt::write_car(s.cluster.primary().dir / "carbonapps/Big_1.0.0.car", "Big", "1.0.0", 2 << 20, rng);
    REQUIRE_SUCCESS(s.cluster.publish("second"));
    const auto before = dt::describe_tree(s.cluster.peer(0).dir);
    const std::uint64_t cut_at = 256 * 1024;
    const std::uint64_t forwarded_before = proxy.bytes_to_clients();

    SECTION("stalled") {
        proxy.set_fault({dt::ProxyFault::Action::stall, cut_at, dt::ProxyFault::Direction::to_client});
        ProcessResult r = s.cluster.pull(0, {"--timeout", "3"});
        INFO(describe(r));
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("timeout") != std::string::npos);
    }
    SECTION("dropped") {
        proxy.set_fault({dt::ProxyFault::Action::drop, cut_at, dt::ProxyFault::Direction::to_client});
        ProcessResult r = s.cluster.pull(0, {"--timeout", "30"});
        INFO(describe(r));
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("cannot") != std::string::npos);
    }
    // Exactly the bytes before the cut reached the peer: the fault struck inside the transfer.
    CHECK(proxy.bytes_to_clients() - forwarded_before == cut_at);
    require_unchanged(before, s.cluster.peer(0).dir);

    // Once the connection behaves again, the same pull completes.
    proxy.set_fault({});
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);
}

TEST_CASE("ssh transport: a host key on an @revoked line is refused, before or after its plain entry",
          "[e2e][ssh]") {
    SshCluster s;
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    for (SshKeyType type : {SshKeyType::ed25519, SshKeyType::ecdsa}) {
        const std::string entry = s.sshd.known_hosts_line(type);
        const std::string revoked = "@revoked " + s.sshd.known_hosts_name() + " " +
                                    dt::ssh_public_key_text(s.sshd.host_key_pub(type));
        for (bool revoked_first : {true, false}) {
            std::vector<std::string> lines = {entry, revoked};
            if (revoked_first) std::swap(lines[0], lines[1]);
            s.use_ssh(0, s.repo_url(), s.ed25519_key, s.known_hosts("revoked", lines));
            ProcessResult r = s.cluster.pull(0);
            INFO(dt::ssh_keygen_type(type)
                 << (revoked_first ? ", revoked first\n" : ", revoked last\n") << s.describe_run(r));
            CHECK(r.exit_code == 1);
            CHECK(dt::describe_tree(s.cluster.peer(0).dir).empty());
            // The server presents its ed25519 key first; a revoked ecdsa entry leaves that one unrecorded.
            if (type != SshKeyType::ed25519) continue;
            CHECK(r.err.find("@revoked") != std::string::npos);
            CHECK(r.err.find(dt::ssh_fingerprint_of(s.sshd.host_key_pub(type))) != std::string::npos);
        }
    }
    // The same known_hosts without the revocation: the pull goes through.
    s.use_ssh(0, s.repo_url(), s.ed25519_key, s.known_hosts("plain", s.all_host_lines()));
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);
}

TEST_CASE("ssh transport: a fetch that receives more than max_fetch_bytes is stopped and leaves nothing",
          "[e2e][ssh]") {
    SshCluster s;
    dt::Rng rng(29);
    // 4 MiB that do not compress: the pack is larger than the bound below.
    dt::write_car(s.cluster.primary().dir / "carbonapps/Big_1.0.0.car", "Big", "1.0.0", 4 << 20, rng);
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    s.use_ssh(0, s.repo_url(), s.ed25519_key, s.known_hosts("both", s.all_host_lines()));
    set_config(s.cluster.peer(0).config, {{"max_fetch_bytes", std::to_string(1 << 20)}});
    ProcessResult r = s.cluster.pull(0);
    {
        INFO(s.describe_run(r));
        CHECK(r.exit_code == 1);
        CHECK(r.err.find("sent more than 1048576 bytes") != std::string::npos);
        CHECK(r.err.find("max_fetch_bytes") != std::string::npos);
        CHECK(dt::describe_tree(s.cluster.peer(0).dir).empty());
        std::size_t in_pack = 0;
        for ([[maybe_unused]] const auto& e :
             stdfs::directory_iterator(s.cluster.peer(0).state / "repo.git/objects/pack"))
            ++in_pack;
        CHECK(in_pack == 0);
    }
    // With room for the release, the same pull goes through.
    set_config(s.cluster.peer(0).config, {{"max_fetch_bytes", std::to_string(64 << 20)}});
    REQUIRE_SSH_SUCCESS(s, s.cluster.pull(0));
    require_same_tree(s.cluster.primary().dir, s.cluster.peer(0).dir);
}

TEST_CASE("ssh transport: an ssh server asking for a password never gets the https credentials",
          "[e2e][ssh]") {
    // libgit2 offers a password credential when the ssh server lists only "password": the node's https
    // token (meant for its https remote or mirror) would go to whichever ssh host asked.
    depsync::git::ensure_library();
    depsync::git::TransportOptions options;
    options.https_user = "deploy";
    options.https_secret = "dstok_NeverOverSsh42";
    auto ask = [&](const std::string& url) {
        depsync::git::TransportSession session(url, options);
        git_remote_callbacks cb = session.callbacks();
        git_credential* cred = nullptr;
        int rc = cb.credentials(&cred, url.c_str(), "deploy", GIT_CREDENTIAL_USERPASS_PLAINTEXT, cb.payload);
        std::string password;
        if (rc == 0 && cred && cred->credtype == GIT_CREDENTIAL_USERPASS_PLAINTEXT)
            password = reinterpret_cast<git_credential_userpass_plaintext*>(cred)->password;
        if (cred) git_credential_free(cred);
        return std::make_pair(rc, password);
    };
    for (const std::string& url :
         {std::string("ssh://deploy@127.0.0.1:2222/srv/r.git"), std::string("deploy@127.0.0.1:srv/r.git")}) {
        auto [rc, password] = ask(url);
        INFO(url);
        CHECK(rc < 0);
        CHECK(password.empty());
    }
    // An https server asking for them gets them.
    auto [rc, password] = ask("https://127.0.0.1:8443/r.git");
    CHECK(rc == 0);
    CHECK(password == options.https_secret);
}

TEST_CASE("ssh transport: init peer against an unknown host writes the config and gives the line to add",
          "[e2e][ssh]") {
    SshCluster s(0);
    REQUIRE_SUCCESS(s.cluster.publish("first"));
    stdfs::path kh = s.known_hosts("empty", {});
    const stdfs::path config = s.cluster.root() / "new-peer.conf";
    const std::vector<std::string> init = {dt::depsync_bin(),
                                           "-c",
                                           config.string(),
                                           "init",
                                           "peer",
                                           "--dir",
                                           (s.cluster.root() / "new/d").string(),
                                           "--state",
                                           (s.cluster.root() / "new/s").string(),
                                           "--remote",
                                           s.repo_url(),
                                           "--ssh-key",
                                           s.ed25519_key.string(),
                                           "--known-hosts",
                                           kh.string()};
    ProcessResult r = dt::run(init);
    INFO(describe(r) << s.sshd.log());
    CHECK(r.exit_code == 1);
    CHECK(contains(r.err, "unknown ssh host " + s.sshd.known_hosts_name()));
    CHECK(contains(r.err, "add this line to " + kh.string()));
    CHECK(contains(r.err, "the config is written"));
    CHECK(contains(read_file(config), "known_hosts = \"" + kh.string() + "\""));
    CHECK(contains(read_file(config), "ssh_key = \"" + s.ed25519_key.string() + "\""));

    // The operator adds the host: init again keeps the config and now reaches the primary.
    write_lines(kh, s.all_host_lines());
    ProcessResult again = dt::run(init);
    INFO(describe(again) << s.sshd.log());
    CHECK(again.exit_code == 0);
    CHECK(contains(again.out, "exists (kept as it is)"));
    CHECK(contains(again.out, "answers: its branch main is at"));
    REQUIRE_SUCCESS(dt::run({dt::depsync_bin(), "-c", config.string(), "pull"}));
    require_same_tree(s.cluster.primary().dir, s.cluster.root() / "new/d");
}
