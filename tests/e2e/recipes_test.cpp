// The serving recipes of docs/security.md, run as the docs print them: the read-only ssh account (a real
// system account made by the recipe, a forced git-upload-pack in its authorized_keys, a real sshd on
// 127.0.0.1 reading that file with its default strict modes) and lighttpd with git http-backend over TLS
// (the docs' configuration included as it is, the web server running as www-data). Both serve a
// repository owned by another account, as the primary's is (the account depsync runs as), and a peer pulls
// through each. Needs root (accounts, chown, a web server dropping to www-data); skipped with the reason
// otherwise.

#include <catch2/catch.hpp>

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "cluster.hpp"
#include "https_setup.hpp"
#include "support/https_server.hpp"
#include "support/local_account.hpp"
#include "support/sshd_server.hpp"
#include "support/tcp_proxy.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

// The fenced code blocks of the section `heading` of docs/security.md, in order.
std::vector<std::string> doc_blocks(const std::string& heading) {
    const std::string text = read_file(stdfs::path(dt::source_dir()) / "docs" / "security.md");
    auto at = text.find("\n" + heading + "\n");
    REQUIRE(at != std::string::npos);
    auto end = text.find("\n### ", at + heading.size() + 2);
    const std::string section = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    std::vector<std::string> blocks;
    std::string block;
    bool in = false;
    for (const std::string& line : lines_of(section)) {
        if (line.rfind("```", 0) == 0) {
            if (in) blocks.push_back(block);
            in = !in;
            block.clear();
        } else if (in) {
            block += line + "\n";
        }
    }
    return blocks;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
    for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    return text;
}

// The script with each `NAME=...` assignment line of `values` given the test's value instead.
std::string with_values(const std::string& script, const std::map<std::string, std::string>& values) {
    std::string out;
    for (const std::string& line : lines_of(script)) {
        std::string replaced = line;
        for (const auto& [name, value] : values)
            if (line.rfind(name + "=", 0) == 0) replaced = name + "='" + value + "'";
        out += replaced + "\n";
    }
    return out;
}

std::string root_unavailable() {
    if (::geteuid() != 0) return "not root (the recipes make accounts and give files away)";
    if (auto why = dt::LocalAccount::unavailable()) return *why;
    return "";
}

// A fresh account name for the recipe's account (removed with its home by the guard).
std::string fresh_account_name() {
    std::random_device device;
    return "dsfetch" + std::to_string(device() % 1000000);
}

struct AccountGuard {
    std::string name;
    ~AccountGuard() {
        if (!name.empty() && ::getpwnam(name.c_str()) != nullptr) dt::run({"userdel", "-r", name});
    }
};

// A cluster of one peer whose primary's repository is owned by `owner` (the account depsync runs as on the
// primary), in folders others can traverse, as a repository below /srv is.
void publish_owned_by(const Cluster& cluster, const dt::LocalAccount& owner) {
    stdfs::permissions(cluster.root(), stdfs::perms::owner_all | stdfs::perms::group_read |
                                           stdfs::perms::group_exec | stdfs::perms::others_read |
                                           stdfs::perms::others_exec);
    write_file(cluster.primary().dir / "synapse-configs" / "default" / "api" / "orders.xml",
               "<api name=\"orders\"/>\n");
    write_file(cluster.primary().dir / "conf" / "notes.txt", "first release\n");
    ProcessResult r = cluster.publish("first");
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    owner.give(cluster.repo());
}

std::string main_of(const stdfs::path& repo) {
    return git({"--git-dir", repo.string(), "-c", "safe.directory=*", "rev-parse", "refs/heads/main"}).out;
}

}  // namespace

TEST_CASE(
    "read-only account: a peer pulls through the forced git-upload-pack of an account made as the docs "
    "say",
    "[e2e][recipes][ssh][root]") {
    if (std::string why = root_unavailable(); !why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    if (!stdfs::exists("/usr/bin/git-shell") || !stdfs::exists("/usr/sbin/sshd")) {
        WARN("skipped: git-shell or sshd is missing (packages git, openssh-server)");
        return;
    }
    Cluster cluster(1);
    dt::LocalAccount owner;  // the MI account: depsync runs as it on the primary and owns the repository
    publish_owned_by(cluster, owner);

    stdfs::path client_key = cluster.root() / "peer_key";
    dt::generate_ssh_key(client_key, dt::SshKeyType::ed25519);
    stdfs::path peer_keys = cluster.root() / "depsync-peers.pub";
    write_file(peer_keys, read_file(client_key.string() + ".pub"));

    // The recipe, as the docs print it, with this test's account, repository and keys.
    std::vector<std::string> blocks = doc_blocks("### A read-only account for peers");
    REQUIRE(!blocks.empty());
    AccountGuard account{fresh_account_name()};
    std::string script = with_values(
        blocks[0],
        {{"account", account.name}, {"repo", cluster.repo().string()}, {"peer_keys", peer_keys.string()}});
    REQUIRE(contains(script, "useradd "));
    ProcessResult recipe = dt::run({"sh", "-e", "-c", script});
    // useradd gives up when another test's useradd or userdel holds the account files' lock: try again.
    for (int attempt = 0; attempt < 10 && recipe.exit_code != 0 && contains(recipe.err, "cannot lock");
         ++attempt) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        recipe = dt::run({"sh", "-e", "-c", script});
    }
    INFO(script << "\n" << describe(recipe));
    REQUIRE(recipe.exit_code == 0);
    const passwd* pw = ::getpwnam(account.name.c_str());
    REQUIRE(pw != nullptr);
    const stdfs::path home = pw->pw_dir;
    CHECK(std::string(pw->pw_shell) == "/usr/bin/git-shell");
    // The check line at the recipe's end listed the release branch as the account.
    CHECK(contains(recipe.out, "refs/heads/main"));

    // The system's sshd way: each account's ~/.ssh/authorized_keys, strict modes.
    dt::SshdOptions options;
    options.authorized_keys_file = ".ssh/authorized_keys";
    options.strict_modes = true;
    dt::SshdServer sshd(cluster.root() / "sshd", options);
    stdfs::path known_hosts = cluster.root() / "known_hosts";
    write_file(known_hosts, sshd.known_hosts_line(dt::SshKeyType::ed25519) + "\n");
    const std::string url =
        "ssh://" + account.name + "@127.0.0.1:" + std::to_string(sshd.port()) + cluster.repo().string();
    set_config(cluster.peer(0).config, {{"remote", in_quotes(url)},
                                        {"ssh_key", in_quotes(client_key.string())},
                                        {"known_hosts", in_quotes(known_hosts.string())}});

    // Without the recipe's safe.directory line, git refuses the repository of another account: the pull
    // fails and applies nothing.
    stdfs::rename(home / ".gitconfig", home / "gitconfig.aside");
    ProcessResult refused = cluster.pull(0);
    INFO("without safe.directory: " << describe(refused) << "\nsshd: " << sshd.log());
    CHECK(refused.exit_code != 0);
    CHECK(contains(refused.err, "dubious ownership"));
    CHECK(!stdfs::exists(cluster.peer(0).dir / "synapse-configs" / "default" / "api" / "orders.xml"));
    stdfs::rename(home / "gitconfig.aside", home / ".gitconfig");

    ProcessResult pulled = cluster.pull(0);
    INFO(describe(pulled) << "\nsshd: " << sshd.log());
    REQUIRE(pulled.exit_code == 0);
    CHECK(differences(cluster.primary().dir, cluster.peer(0).dir).empty());

    // The key runs nothing but git-upload-pack on the repository: not a command, not a push.
    const std::vector<std::string> ssh = {"ssh",
                                          "-o",
                                          "BatchMode=yes",
                                          "-o",
                                          "StrictHostKeyChecking=yes",
                                          "-o",
                                          "UserKnownHostsFile=" + known_hosts.string(),
                                          "-o",
                                          "IdentitiesOnly=yes",
                                          "-i",
                                          client_key.string(),
                                          "-p",
                                          std::to_string(sshd.port()),
                                          account.name + "@127.0.0.1"};
    std::vector<std::string> command = ssh;
    command.push_back("id");
    ProcessResult id = dt::run(command);
    INFO(describe(id));
    CHECK(!contains(id.out, "uid="));
    CHECK(contains(id.out, "refs/heads/main"));  // what it ran instead: upload-pack's advertisement

    const std::string before = main_of(cluster.repo());
    stdfs::path clone = cluster.root() / "clone";
    const std::string ssh_command =
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + known_hosts.string() +
        " -o IdentitiesOnly=yes -i " + client_key.string();
    ProcessResult cloned =
        dt::run({"git", "clone", "--quiet", url, clone.string()}, {{"GIT_SSH_COMMAND", ssh_command}});
    INFO(describe(cloned));
    REQUIRE(cloned.exit_code == 0);
    write_file(clone / "planted.txt", "an attacker's file\n");
    git({"-C", clone.string(), "add", "planted.txt"});
    git({"-C", clone.string(), "-c", "user.name=x", "-c", "user.email=x@x", "commit", "--quiet", "-m",
         "planted"});
    ProcessResult pushed = dt::run({"git", "-C", clone.string(), "push", "origin", "HEAD:main"},
                                   {{"GIT_SSH_COMMAND", ssh_command}});
    INFO(describe(pushed));
    CHECK(pushed.exit_code != 0);
    CHECK(main_of(cluster.repo()) == before);
}

TEST_CASE(
    "https recipe: a peer pulls through lighttpd and git http-backend configured as the docs say, and "
    "cannot push",
    "[e2e][recipes][https][root]") {
    if (std::string why = root_unavailable(); !why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    if (std::string why = dt::HttpsGitServer::unavailable_reason(); !why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    if (::getpwnam("www-data") == nullptr) {
        WARN("skipped: no www-data account (Debian's base-passwd has it)");
        return;
    }
    Cluster cluster(1);
    dt::LocalAccount owner;
    publish_owned_by(cluster, owner);

    // The docs' lighttpd file and password steps, with this test's folders for /srv/depsync and
    // /etc/lighttpd.
    std::vector<std::string> blocks = doc_blocks("### Serving peers over https");
    REQUIRE(blocks.size() >= 2);
    const stdfs::path web = cluster.root() / "web";
    stdfs::create_directories(web);
    auto ours = [&](std::string text) {
        text = replace_all(text, "/srv/depsync", cluster.root().string());
        return replace_all(text, "/etc/lighttpd/", web.string() + "/");
    };
    write_file(web / "50-depsync.conf", ours(blocks[0]));
    std::string steps;
    for (const std::string& line : lines_of(ours(blocks[1])))
        if (line.rfind("lighty-enable-mod", 0) != 0) steps += line + "\n";  // Debian's lighttpd service only
    steps += "printf %s \"$password\" > " + (web / "password").string() + "\n";
    ProcessResult made = dt::run({"sh", "-e", "-c", steps});
    INFO(steps << "\n" << describe(made));
    REQUIRE(made.exit_code == 0);
    const std::string password = read_file(web / "password");
    REQUIRE(password.size() >= 32);

    // lighttpd as Debian runs it: as www-data, TLS on, the docs' file included as it is.
    dt::TestCa ca(web / "ca", "depsync recipe CA");
    const stdfs::path pem = ca.issue_server_cert("127.0.0.1");
    write_file(web / "docroot" / "index.html", "");
    const int port = dt::free_port();
    write_file(web / "lighttpd.conf",
               "server.modules = (\"mod_openssl\")\n"
               "server.document-root = \"" +
                   (web / "docroot").string() +
                   "\"\n"
                   "server.bind = \"127.0.0.1\"\nserver.port = " +
                   std::to_string(port) +
                   "\n"
                   "server.username = \"www-data\"\nserver.groupname = \"www-data\"\n"
                   "server.errorlog = \"" +
                   (web / "error.log").string() +
                   "\"\n"
                   "ssl.engine = \"enable\"\nssl.pemfile = \"" +
                   pem.string() +
                   "\"\n"
                   "include \"" +
                   (web / "50-depsync.conf").string() + "\"\n");
    // lighttpd opens its error log after dropping to www-data.
    write_file(web / "error.log", "");
    const passwd* www = ::getpwnam("www-data");
    REQUIRE(::chown((web / "error.log").c_str(), www->pw_uid, www->pw_gid) == 0);
    dt::BackgroundProcess lighttpd;
    lighttpd.start({"/usr/sbin/lighttpd", "-D", "-f", (web / "lighttpd.conf").string()});
    REQUIRE(dt::wait_for_port(port, std::chrono::seconds(10)));
    auto server_log = [&] { return read_file(web / "error.log"); };
    // The docs' file draws no warning from lighttpd (such as a module listed in the wrong order).
    CHECK(!contains(server_log(), "Warning"));
    CHECK(!contains(server_log(), "WARNING"));

    const std::string url = "https://127.0.0.1:" + std::to_string(port) + "/depsync/releases.git";
    const stdfs::path credentials = cluster.root() / "peer.credentials";
    write_file(credentials, "username = peer\npassword = " + password + "\n");
    stdfs::permissions(credentials, stdfs::perms::owner_read | stdfs::perms::owner_write);
    set_config(cluster.peer(0).config,
               {{"remote", in_quotes(url)}, {"ca_file", in_quotes(ca.cert().string())}});

    // Without credentials the server refuses; with them the release arrives.
    ProcessResult anonymous = cluster.pull(0);
    INFO(describe(anonymous) << "\nlighttpd: " << server_log());
    CHECK(anonymous.exit_code != 0);
    CHECK(!stdfs::exists(cluster.peer(0).dir / "synapse-configs" / "default" / "api" / "orders.xml"));

    set_config(cluster.peer(0).config, {{"credentials", in_quotes(credentials.string())}});
    ProcessResult pulled = cluster.pull(0);
    INFO(describe(pulled) << "\nlighttpd: " << server_log());
    REQUIRE(pulled.exit_code == 0);
    CHECK(differences(cluster.primary().dir, cluster.peer(0).dir).empty());

    // An authenticated user cannot push (git http-backend would allow it by default).
    const std::string before = main_of(cluster.repo());
    const std::map<std::string, std::string> git_env = {{"GIT_SSL_CAINFO", ca.cert().string()},
                                                        {"GIT_TERMINAL_PROMPT", "0"}};
    const std::string with_user =
        "https://peer:" + password + "@127.0.0.1:" + std::to_string(port) + "/depsync/releases.git";
    stdfs::path clone = cluster.root() / "clone";
    ProcessResult cloned = dt::run({"git", "clone", "--quiet", with_user, clone.string()}, git_env);
    INFO(describe(cloned) << "\nlighttpd: " << server_log());
    REQUIRE(cloned.exit_code == 0);
    write_file(clone / "planted.txt", "an attacker's file\n");
    git({"-C", clone.string(), "add", "planted.txt"});
    git({"-C", clone.string(), "-c", "user.name=x", "-c", "user.email=x@x", "commit", "--quiet", "-m",
         "planted"});
    ProcessResult pushed = dt::run({"git", "-C", clone.string(), "push", "origin", "HEAD:main"}, git_env);
    INFO(describe(pushed));
    CHECK(pushed.exit_code != 0);
    CHECK(main_of(cluster.repo()) == before);
    lighttpd.kill(SIGTERM);
    lighttpd.wait();
}
