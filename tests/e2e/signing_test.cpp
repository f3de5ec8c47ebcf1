// Signed releases: the primary signs every release with an ssh key in git's own format, and a peer given
// allowed signers applies only what a trusted key signed. Plain git and ssh-keygen are the judges of the
// format: what depsync signs they accept, and what they sign depsync accepts.

#include <catch2/catch.hpp>

#include <cctype>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

std::string first_line(const std::string& text) {
    return text.substr(0, text.find('\n'));
}

std::string lowercase(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

struct SshKey {
    stdfs::path file;         // the private key; FILE.pub beside it
    std::string public_line;  // "ssh-ed25519 AAAA..." (type and key, no comment)
};

// A new key without passphrase made by ssh-keygen: `type_args` like {"-t", "ed25519"}.
SshKey make_key(const stdfs::path& dir, const std::string& name, const std::vector<std::string>& type_args) {
    stdfs::create_directories(dir);
    SshKey key{dir / name, ""};
    std::vector<std::string> argv = {"ssh-keygen", "-q",           "-N", "",
                                     "-C",         name + "@test", "-f", key.file.string()};
    argv.insert(argv.end(), type_args.begin(), type_args.end());
    ProcessResult made = dt::run(argv);
    INFO(describe(made));
    REQUIRE(made.exit_code == 0);
    std::istringstream pub(read_file(key.file.string() + ".pub"));
    std::string type, body;
    pub >> type >> body;
    key.public_line = type + " " + body;
    return key;
}

SshKey make_ed25519(const stdfs::path& dir, const std::string& name) {
    return make_key(dir, name, {"-t", "ed25519"});
}

// Sets `key = "value"` in a node's config (replacing an earlier value) and keeps the file private, as a
// config naming a key must be.
void set_config(const Node& node, const std::string& key, const std::string& value) {
    std::string kept;
    for (const std::string& line : lines_of(read_file(node.config))) {
        std::string name = line.substr(0, line.find_first_of(" =\t"));
        if (name != key) kept += line + "\n";
    }
    write_file(node.config, kept + key + " = \"" + value + "\"\n");
    stdfs::permissions(node.config, stdfs::perms::owner_read | stdfs::perms::owner_write,
                       stdfs::perm_options::replace);
}

// An allowed-signers file (git's format: `principal key`, one a line).
stdfs::path write_allowed_signers(const stdfs::path& file,
                                  const std::vector<std::pair<std::string, SshKey>>& signers) {
    std::string text;
    for (const auto& [principal, key] : signers) text += principal + " " + key.public_line + "\n";
    write_file(file, text);
    return file;
}

std::string rev_parse(const Cluster& cluster, const std::string& rev) {
    ProcessResult r = git({"-C", cluster.repo().string(), "rev-parse", rev});
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    return first_line(r.out);
}

// `git -c gpg.format=ssh -c gpg.ssh.allowedSignersFile=F ARGS...` in the release repository.
ProcessResult git_with_signers(const Cluster& cluster, const stdfs::path& allowed,
                               const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"-C", cluster.repo().string(),
                                     "-c", "gpg.format=ssh",
                                     "-c", "gpg.ssh.allowedSignersFile=" + allowed.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return git(argv);
}

// A signed commit's raw text cut in two: the signed data (the commit without its gpgsig header) and the
// armored signature the header holds.
struct SignedCommit {
    std::string payload;
    std::string signature;
};

SignedCommit split_signed_commit(const std::string& raw) {
    SignedCommit out;
    std::size_t headers_end = raw.find("\n\n");
    REQUIRE(headers_end != std::string::npos);
    bool in_signature = false;
    for (const std::string& line : lines_of(raw.substr(0, headers_end + 1))) {
        if (line.rfind("gpgsig ", 0) == 0) {
            in_signature = true;
            out.signature += line.substr(7) + "\n";
        } else if (in_signature && !line.empty() && line[0] == ' ') {
            out.signature += line.substr(1) + "\n";
        } else {
            in_signature = false;
            out.payload += line + "\n";
        }
    }
    out.payload += raw.substr(headers_end + 1);
    return out;
}

// `payload` (a commit without signature) with `armored` as its gpgsig header, laid out as git writes it.
std::string with_signature(const std::string& payload, std::string armored) {
    while (!armored.empty() && armored.back() == '\n') armored.pop_back();
    std::string header = "gpgsig ";
    for (char c : armored) header += c == '\n' ? std::string("\n ") : std::string(1, c);
    std::size_t headers_end = payload.find("\n\n");
    REQUIRE(headers_end != std::string::npos);
    return payload.substr(0, headers_end + 1) + header + "\n" + payload.substr(headers_end + 1);
}

// The armored signature ssh-keygen makes over `data` with `key` in `name_space`.
std::string ssh_sign(const stdfs::path& scratch, const std::string& data, const SshKey& key,
                     const std::string& name_space) {
    const stdfs::path file = scratch / "to-sign";
    stdfs::remove(file.string() + ".sig");
    write_file(file, data);
    ProcessResult signed_run =
        dt::run({"ssh-keygen", "-q", "-Y", "sign", "-n", name_space, "-f", key.file.string(), file.string()});
    INFO(describe(signed_run));
    REQUIRE(signed_run.exit_code == 0);
    return read_file(file.string() + ".sig");
}

std::string raw_commit(const Cluster& cluster, const std::string& rev) {
    ProcessResult r = git({"-C", cluster.repo().string(), "cat-file", "commit", rev});
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    return r.out;
}

// Writes `raw` as a commit object into the release repository (as a forger with write access would) and
// returns its id.
std::string write_commit_object(const Cluster& cluster, const std::string& raw) {
    const stdfs::path file = cluster.root() / "forged-commit";
    write_file(file, raw);
    ProcessResult r = git(
        {"-C", cluster.repo().string(), "hash-object", "-t", "commit", "-w", "--literally", file.string()});
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    return first_line(r.out);
}

void point_main_at(const Cluster& cluster, const std::string& id) {
    REQUIRE_SUCCESS(git({"-C", cluster.repo().string(), "update-ref", "refs/heads/main", id}));
}

// A clone of the release repository for commits made with plain git.
stdfs::path clone_releases(const Cluster& cluster, const std::string& name) {
    const stdfs::path clone = cluster.root() / name;
    REQUIRE_SUCCESS(git({"clone", "--quiet", cluster.repo().string(), clone.string()}));
    return clone;
}

// Commits everything in `clone` with plain git (`config`: `-c` options before the command, `commit_args`:
// after it) and pushes it to `ref`; returns the new commit id.
std::string commit_and_push(const stdfs::path& clone, const std::string& message,
                            const std::vector<std::string>& config = {},
                            const std::vector<std::string>& commit_args = {},
                            const std::string& ref = "refs/heads/main") {
    REQUIRE_SUCCESS(git({"-C", clone.string(), "add", "--all"}));
    std::vector<std::string> argv = {"-C", clone.string()};
    argv.insert(argv.end(), config.begin(), config.end());
    argv.insert(argv.end(), {"commit", "--quiet", "-m", message});
    argv.insert(argv.end(), commit_args.begin(), commit_args.end());
    REQUIRE_SUCCESS(git(argv));
    REQUIRE_SUCCESS(git({"-C", clone.string(), "push", "--quiet", "origin", "HEAD:" + ref}));
    ProcessResult head = git({"-C", clone.string(), "rev-parse", "HEAD"});
    REQUIRE_SUCCESS(head);
    return first_line(head.out);
}

// Every entry of `after` exactly as in `before`: same paths, bytes, modes, inodes and mtimes.
std::vector<std::string> changes_between(const dt::TreeListing& before, const dt::TreeListing& after) {
    std::vector<std::string> out = dt::diff_trees(before, after, {}, dt::ModeCheck::exact);
    for (const auto& [path, info] : before) {
        auto it = after.find(path);
        if (it != after.end() && (it->second.inode != info.inode || it->second.mtime_ns != info.mtime_ns))
            out.push_back(path + ": rewritten");
    }
    return out;
}

void require_unchanged(const dt::TreeListing& before, const stdfs::path& dir) {
    auto changes = changes_between(before, dt::describe_tree(dir));
    INFO(dir.string() << " changed:" << dt::format_differences(changes));
    REQUIRE(changes.empty());
}

void require_same_tree(const stdfs::path& expected, const stdfs::path& actual) {
    auto diff = dt::diff_trees(expected, actual);
    INFO(actual.string() << " differs from " << expected.string() << ":" << dt::format_differences(diff));
    REQUIRE(diff.empty());
}

std::map<std::string, std::string> status_of(const Cluster& cluster, const Node& node) {
    ProcessResult r = cluster.status_json(node);
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    return parse_flat_json(r.out);
}

// A refusal as the issue states it: exit 1, the full commit id named, nothing on stdout.
void require_refusal_of(const ProcessResult& run, const std::string& commit) {
    INFO(describe(run));
    CHECK(run.exit_code == 1);
    CHECK(run.out.empty());
    CHECK(contains(run.err, commit));
    CHECK(contains(lowercase(run.err), "nothing was applied"));
}

// A primary signing with `key` and `peers` peers that trust it under the principal "primary@depsync".
struct SignedCluster {
    Cluster cluster;
    SshKey key;
    stdfs::path allowed;

    explicit SignedCluster(std::size_t peers, const std::vector<std::string>& key_type = {"-t", "ed25519"})
        : cluster(peers) {
        key = make_key(cluster.root() / "keys", "primary", key_type);
        allowed = write_allowed_signers(cluster.root() / "allowed_signers", {{"primary@depsync", key}});
        set_config(cluster.primary(), "signing_key", key.file.string());
        for (std::size_t i = 0; i < peers; ++i)
            set_config(cluster.peer(i), "allowed_signers", allowed.string());
    }
};

void publish_ok(const Cluster& cluster, const std::string& message) {
    ProcessResult r = cluster.publish(message);
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    REQUIRE(parse_published(r.out));
}

}  // namespace

TEST_CASE("a signed release is pulled by a peer that trusts its key, and git and ssh-keygen call it good",
          "[e2e][signing]") {
    SignedCluster s(1);
    const Cluster& cluster = s.cluster;
    dt::generate_tree(cluster.primary().dir, dt::Profile::small, 91);
    publish_ok(cluster, "signed first release");
    const std::string id = rev_parse(cluster, "main");

    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    auto line = parse_pulled(pulled.out);
    INFO(pulled.out);
    REQUIRE(line);
    CHECK(line->to == 1);
    require_same_tree(cluster.primary().dir, cluster.peer(0).dir);
    CHECK(status_of(cluster, cluster.peer(0)).at("commit") == id);

    SECTION("git verify-commit accepts it") {
        ProcessResult verified = git_with_signers(cluster, s.allowed, {"verify-commit", "main"});
        INFO(describe(verified));
        CHECK(verified.exit_code == 0);
        CHECK(contains(verified.err, "Good \"git\" signature for primary@depsync"));
        // The control: git refuses the same commit when the allowed signers do not list the key.
        const SshKey other = make_ed25519(cluster.root() / "keys", "other");
        const stdfs::path others =
            write_allowed_signers(cluster.root() / "others", {{"other@depsync", other}});
        ProcessResult untrusted = git_with_signers(cluster, others, {"verify-commit", "main"});
        INFO(describe(untrusted));
        CHECK(untrusted.exit_code != 0);
    }

    SECTION("git log --show-signature shows it good") {
        ProcessResult log = git_with_signers(cluster, s.allowed, {"log", "-1", "--show-signature", "main"});
        INFO(describe(log));
        REQUIRE(log.exit_code == 0);
        CHECK(contains(log.out + log.err, "Good \"git\" signature for primary@depsync with ED25519 key"));
    }

    SECTION("ssh-keygen -Y verify accepts the gpgsig header over the commit without it") {
        const std::string raw = raw_commit(cluster, "main");
        SignedCommit split = split_signed_commit(raw);
        REQUIRE(split.signature.rfind("-----BEGIN SSH SIGNATURE-----\n", 0) == 0);
        CHECK(contains(split.signature, "-----END SSH SIGNATURE-----\n"));
        CHECK(!contains(split.payload, "gpgsig"));
        CHECK(contains(split.payload, "signed first release"));

        const stdfs::path payload = cluster.root() / "payload", signature = cluster.root() / "payload.sig";
        write_file(payload, split.payload);
        write_file(signature, split.signature);
        auto verify = [&](const stdfs::path& data) {
            return dt::run({"sh", "-c",
                            "exec ssh-keygen -Y verify -n git -f \"$1\" -I \"$2\" -s \"$3\" < \"$4\"", "sh",
                            s.allowed.string(), "primary@depsync", signature.string(), data.string()});
        };
        ProcessResult good = verify(payload);
        INFO(describe(good));
        CHECK(good.exit_code == 0);
        CHECK(contains(good.out + good.err, "Good \"git\" signature for primary@depsync"));

        // git's own extraction gives the same signed data.
        ProcessResult raw_check = git_with_signers(cluster, s.allowed, {"verify-commit", "--raw", "main"});
        CHECK(raw_check.exit_code == 0);

        // The control: one byte changed in the data and ssh-keygen refuses it.
        std::string altered = split.payload;
        altered[altered.rfind('r')] = 'R';
        const stdfs::path altered_file = cluster.root() / "altered";
        write_file(altered_file, altered);
        ProcessResult bad = verify(altered_file);
        INFO(describe(bad));
        CHECK(bad.exit_code != 0);
    }
}

TEST_CASE("an ecdsa signing key signs releases that peers and git accept", "[e2e][signing]") {
    SignedCluster s(1, {"-t", "ecdsa", "-b", "256"});
    const Cluster& cluster = s.cluster;
    CHECK(s.key.public_line.rfind("ecdsa-sha2-nistp256 ", 0) == 0);
    write_file(cluster.primary().dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='ecdsa'/>\n");
    publish_ok(cluster, "ecdsa release");

    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    REQUIRE(parse_pulled(pulled.out));
    require_same_tree(cluster.primary().dir, cluster.peer(0).dir);

    ProcessResult verified = git_with_signers(cluster, s.allowed, {"verify-commit", "main"});
    INFO(describe(verified));
    CHECK(verified.exit_code == 0);
    CHECK(contains(verified.err, "Good \"git\" signature for primary@depsync with ECDSA key"));
}

TEST_CASE("a commit pushed by plain git without a signature is refused and nothing is applied",
          "[e2e][signing]") {
    SignedCluster s(1);
    const Cluster& cluster = s.cluster;
    const Node& peer = cluster.peer(0);
    write_file(cluster.primary().dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='1'/>\n");
    publish_ok(cluster, "signed r1");
    REQUIRE_SUCCESS(cluster.pull(0));
    const std::string r1 = rev_parse(cluster, "main");
    const dt::TreeListing before = dt::describe_tree(peer.dir);
    const stdfs::path metrics = cluster.root() / "peer1.prom";
    set_config(peer, "metrics_file", metrics.string());

    const stdfs::path clone = clone_releases(cluster, "clone");
    write_file(clone / "synapse-configs/default/api/OrdersAPI.xml", "<api v='injected'/>\n");
    write_file(clone / "synapse-configs/default/api/Injected.xml", "<api name='Injected'/>\n");
    const std::string pushed = commit_and_push(clone, "unsigned hotfix");
    REQUIRE(!contains(raw_commit(cluster, pushed), "gpgsig"));

    for (int attempt = 1; attempt <= 2; ++attempt) {
        ProcessResult refused = cluster.pull(0);
        require_refusal_of(refused, pushed);
        INFO(refused.err);
        CHECK(std::regex_search(refused.err, std::regex("unsigned|not signed")));
        require_unchanged(before, peer.dir);
    }

    // The node shows itself as refusing: still on r1, the error and the failures counted.
    auto status = status_of(cluster, peer);
    CHECK(status.at("commit") == r1);
    CHECK(status.at("release") == "1");
    CHECK(contains(status.at("last_error"), pushed));
    CHECK(status.at("consecutive_failures") == "2");
    const std::string prom = read_file(metrics);
    INFO(prom);
    CHECK(std::regex_search(prom, std::regex("\ndepsync_consecutive_failures(\\{[^}]*\\})? 2\n")));
    CHECK(std::regex_search(prom, std::regex("\ndepsync_release(\\{[^}]*\\})? 1\n")));
}

TEST_CASE("a commit signed by a key the peer does not trust is refused", "[e2e][signing]") {
    SignedCluster s(1);
    const Cluster& cluster = s.cluster;
    const Node& peer = cluster.peer(0);
    write_file(cluster.primary().dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='1'/>\n");
    publish_ok(cluster, "signed r1");
    REQUIRE_SUCCESS(cluster.pull(0));
    const dt::TreeListing before = dt::describe_tree(peer.dir);

    const SshKey intruder = make_ed25519(cluster.root() / "keys", "intruder");
    const stdfs::path clone = clone_releases(cluster, "clone");
    write_file(clone / "synapse-configs/default/api/Injected.xml", "<api name='Injected'/>\n");
    const std::string pushed =
        commit_and_push(clone, "signed by someone else",
                        {"-c", "gpg.format=ssh", "-c", "user.signingkey=" + intruder.file.string()}, {"-S"});
    // Signed in git's format, and git itself names the key as not allowed.
    REQUIRE(contains(raw_commit(cluster, pushed), "gpgsig -----BEGIN SSH SIGNATURE-----"));
    ProcessResult git_says = git_with_signers(cluster, s.allowed, {"verify-commit", pushed});
    CHECK(git_says.exit_code != 0);

    ProcessResult refused = cluster.pull(0);
    require_refusal_of(refused, pushed);
    INFO(refused.err);
    CHECK(contains(refused.err, "key"));
    CHECK(!std::regex_search(refused.err, std::regex("unsigned|not signed")));
    require_unchanged(before, peer.dir);
    CHECK(!stdfs::exists(peer.dir / "synapse-configs/default/api/Injected.xml"));
}

TEST_CASE("a commit signed by plain git with a trusted key is applied", "[e2e][signing]") {
    SignedCluster s(1);
    const Cluster& cluster = s.cluster;
    write_file(cluster.primary().dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='1'/>\n");
    publish_ok(cluster, "signed r1");
    REQUIRE_SUCCESS(cluster.pull(0));

    const stdfs::path clone = clone_releases(cluster, "clone");
    write_file(clone / "synapse-configs/default/api/OrdersAPI.xml", "<api v='2'/>\n");
    commit_and_push(clone, "hotfix signed with the release key",
                    {"-c", "gpg.format=ssh", "-c", "user.signingkey=" + s.key.file.string()}, {"-S"});

    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    auto line = parse_pulled(pulled.out);
    INFO(pulled.out);
    REQUIRE(line);
    CHECK(line->to == 2);
    CHECK(read_file(cluster.peer(0).dir / "synapse-configs/default/api/OrdersAPI.xml") == "<api v='2'/>\n");
}

TEST_CASE("a signed release whose content was altered after signing is refused", "[e2e][signing]") {
    SignedCluster s(1);
    const Cluster& cluster = s.cluster;
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    write_file(primary.dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='1'/>\n");
    publish_ok(cluster, "signed r1");
    REQUIRE_SUCCESS(cluster.pull(0));
    const dt::TreeListing before = dt::describe_tree(peer.dir);
    write_file(primary.dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='2'/>\n");
    publish_ok(cluster, "second release");
    const std::string r2 = rev_parse(cluster, "main");
    const std::string raw = raw_commit(cluster, r2);
    REQUIRE(contains(raw, "gpgsig -----BEGIN SSH SIGNATURE-----"));

    std::string forged = raw;
    SECTION("the tree line points at other content") {
        // A tree with a planted file, pushed to a side branch so that its objects are in the repository.
        const stdfs::path clone = clone_releases(cluster, "clone");
        write_file(clone / "synapse-configs/default/api/Injected.xml", "<api name='Injected'/>\n");
        commit_and_push(clone, "side", {}, {}, "refs/heads/side");
        const std::string evil_tree = rev_parse(cluster, "side^{tree}");
        const std::string tree_line = "tree " + rev_parse(cluster, r2 + "^{tree}") + "\n";
        REQUIRE(forged.rfind(tree_line, 0) == 0);
        forged.replace(0, tree_line.size(), "tree " + evil_tree + "\n");
    }
    SECTION("the message is changed") {
        std::size_t at = forged.find("\n\nsecond release");
        REQUIRE(at != std::string::npos);
        forged.replace(at, 16, "\n\nsecond release, approved");
    }
    const std::string forged_id = write_commit_object(cluster, forged);
    REQUIRE(forged_id != r2);
    point_main_at(cluster, forged_id);
    // git agrees that the signature no longer holds.
    CHECK(git_with_signers(cluster, s.allowed, {"verify-commit", "main"}).exit_code != 0);

    ProcessResult refused = cluster.pull(0);
    require_refusal_of(refused, forged_id);
    require_unchanged(before, peer.dir);
    CHECK(status_of(cluster, peer).at("release") == "1");
}

TEST_CASE("a replayed older signed release cannot roll a peer back", "[e2e][signing]") {
    SignedCluster s(1);
    const Cluster& cluster = s.cluster;
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    for (int v = 1; v <= 3; ++v) {
        write_file(primary.dir / "synapse-configs/default/api/OrdersAPI.xml",
                   "<api v='" + std::to_string(v) + "'/>\n");
        publish_ok(cluster, "release " + std::to_string(v));
    }
    REQUIRE_SUCCESS(cluster.pull(0));
    const std::string r3 = rev_parse(cluster, "main");
    const dt::TreeListing before = dt::describe_tree(peer.dir);

    // Whoever controls the server moves the branch back to a release the primary really signed.
    const std::string r1 = rev_parse(cluster, "r1^{commit}");
    REQUIRE(git_with_signers(cluster, s.allowed, {"verify-commit", r1}).exit_code == 0);
    point_main_at(cluster, r1);

    ProcessResult refused = cluster.pull(0);
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(refused.out.empty());
    CHECK(contains(refused.err, "no longer contains the deployed release r3"));
    require_unchanged(before, peer.dir);
    CHECK(read_file(peer.dir / "synapse-configs/default/api/OrdersAPI.xml") == "<api v='3'/>\n");
    CHECK(status_of(cluster, peer).at("commit") == r3);
}

TEST_CASE("a rollback on the primary is a new signed release that peers accept", "[e2e][signing]") {
    SignedCluster s(1);
    const Cluster& cluster = s.cluster;
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    write_file(primary.dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='1'/>\n");
    publish_ok(cluster, "first");
    write_file(primary.dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='2'/>\n");
    write_file(primary.dir / "synapse-configs/default/api/StockAPI.xml", "<api name='stock'/>\n");
    publish_ok(cluster, "second");
    REQUIRE_SUCCESS(cluster.pull(0));

    ProcessResult rollback = cluster.depsync(primary, {"rollback", "r1", "-m", "second broke orders"});
    REQUIRE_SUCCESS(rollback);
    CHECK(cluster.release_commits() == 3);
    ProcessResult verified = git_with_signers(cluster, s.allowed, {"verify-commit", "main"});
    INFO(describe(verified));
    CHECK(verified.exit_code == 0);

    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    auto line = parse_pulled(pulled.out);
    INFO(pulled.out);
    REQUIRE(line);
    CHECK(line->from == std::optional<std::uint64_t>(2));
    CHECK(line->to == 3);
    CHECK(read_file(peer.dir / "synapse-configs/default/api/OrdersAPI.xml") == "<api v='1'/>\n");
    CHECK(!stdfs::exists(peer.dir / "synapse-configs/default/api/StockAPI.xml"));
    require_same_tree(primary.dir, peer.dir);
}

TEST_CASE("key rotation: releases signed by either of two allowed keys are applied", "[e2e][signing]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    const SshKey old_key = make_ed25519(cluster.root() / "keys", "release-2025");
    const SshKey new_key = make_ed25519(cluster.root() / "keys", "release-2026");
    const stdfs::path allowed =
        write_allowed_signers(cluster.root() / "allowed_signers",
                              {{"release-2025@depsync", old_key}, {"release-2026@depsync", new_key}});
    set_config(peer, "allowed_signers", allowed.string());
    const auto api = primary.dir / "synapse-configs/default/api/OrdersAPI.xml";

    set_config(primary, "signing_key", old_key.file.string());
    write_file(api, "<api v='1'/>\n");
    publish_ok(cluster, "signed with the old key");
    ProcessResult first = cluster.pull(0);
    REQUIRE_SUCCESS(first);
    CHECK(first.out == "none -> r1 (+1 ~0 -0)\n");

    set_config(primary, "signing_key", new_key.file.string());
    write_file(api, "<api v='2'/>\n");
    publish_ok(cluster, "signed with the new key");
    CHECK(contains(git_with_signers(cluster, allowed, {"verify-commit", "main"}).err,
                   "Good \"git\" signature for release-2026@depsync"));
    ProcessResult second = cluster.pull(0);
    REQUIRE_SUCCESS(second);
    CHECK(second.out == "r1 -> r2 (+0 ~1 -0)\n");
    require_same_tree(primary.dir, peer.dir);

    // The rotation ends: the old key leaves the list, and a release it signs is no longer applied.
    write_allowed_signers(allowed, {{"release-2026@depsync", new_key}});
    set_config(primary, "signing_key", old_key.file.string());
    write_file(api, "<api v='3, old key'/>\n");
    publish_ok(cluster, "signed with the retired key");
    const std::string r3 = rev_parse(cluster, "main");
    const dt::TreeListing before = dt::describe_tree(peer.dir);
    require_refusal_of(cluster.pull(0), r3);
    require_unchanged(before, peer.dir);

    set_config(primary, "signing_key", new_key.file.string());
    write_file(api, "<api v='4'/>\n");
    publish_ok(cluster, "signed with the new key again");
    ProcessResult fourth = cluster.pull(0);
    REQUIRE_SUCCESS(fourth);
    CHECK(fourth.out == "r2 -> r4 (+0 ~1 -0)\n");
    require_same_tree(primary.dir, peer.dir);
}

TEST_CASE("with no allowed_signers configured, unsigned releases are applied as before", "[e2e][signing]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    write_file(primary.dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='1'/>\n");
    publish_ok(cluster, "unsigned");
    REQUIRE(!contains(raw_commit(cluster, "main"), "gpgsig"));
    ProcessResult first = cluster.pull(0);
    REQUIRE_SUCCESS(first);
    CHECK(first.out == "none -> r1 (+1 ~0 -0)\n");
    require_same_tree(primary.dir, cluster.peer(0).dir);

    const stdfs::path clone = clone_releases(cluster, "clone");
    write_file(clone / "synapse-configs/default/api/OrdersAPI.xml", "<api v='plain git'/>\n");
    commit_and_push(clone, "plain unsigned commit");
    ProcessResult second = cluster.pull(0);
    REQUIRE_SUCCESS(second);
    CHECK(second.out == "r1 -> r2 (+0 ~1 -0)\n");
    CHECK(read_file(cluster.peer(0).dir / "synapse-configs/default/api/OrdersAPI.xml") ==
          "<api v='plain git'/>\n");
}

TEST_CASE("a signing key that cannot be used is a clear error before anything is committed",
          "[e2e][signing]") {
    Cluster cluster(0);
    const Node& primary = cluster.primary();
    write_file(primary.dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='1'/>\n");
    publish_ok(cluster, "unsigned first");
    write_file(primary.dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='2'/>\n");
    const std::string tip = rev_parse(cluster, "main");
    const stdfs::path keys = cluster.root() / "keys";
    stdfs::create_directories(keys);

    stdfs::path key;
    std::string named;  // what the message must say about the key
    SECTION("a key file that does not exist") {
        key = keys / "missing";
        named = "cannot be read";
    }
    SECTION("a file that holds no key") {
        key = keys / "not-a-key";
        write_file(key, "this is not a private key\n");
        stdfs::permissions(key, stdfs::perms::owner_read | stdfs::perms::owner_write,
                           stdfs::perm_options::replace);
        named = "ed25519";
    }
    SECTION("an RSA key") {
        key = make_key(keys, "rsa", {"-t", "rsa", "-b", "2048"}).file;
        named = "rsa";
    }
    SECTION("an RSA key without its .pub file") {
        key = make_key(keys, "rsa-alone", {"-t", "rsa", "-b", "2048"}).file;
        stdfs::remove(key.string() + ".pub");
        named = "rsa";
    }
    SECTION("a key that group and others may read") {
        key = make_ed25519(keys, "open").file;
        stdfs::permissions(key, stdfs::perms::group_read | stdfs::perms::others_read,
                           stdfs::perm_options::add);
        named = "chmod 600";
    }
    set_config(primary, "signing_key", key.string());

    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"publish", "-m", "must not be committed"},
          std::vector<std::string>{"rollback", "r1"}}) {
        ProcessResult refused = cluster.depsync(primary, args);
        INFO(args[0] << ": " << describe(refused));
        CHECK(refused.exit_code == 2);
        CHECK(refused.out.empty());
        CHECK(contains(refused.err, key.string()));
        CHECK(contains(refused.err, named));
        CHECK(cluster.release_commits() == 1);
        CHECK(rev_parse(cluster, "main") == tip);
    }
}

TEST_CASE("pin and pull --to refuse an unsigned release and apply a signed one", "[e2e][signing]") {
    Cluster cluster(2);
    const Node& primary = cluster.primary();
    const auto api = primary.dir / "synapse-configs/default/api/OrdersAPI.xml";
    // r1 predates signing; r2 and r3 are signed.
    write_file(api, "<api v='1'/>\n");
    publish_ok(cluster, "before signing");
    const std::string r1 = rev_parse(cluster, "main");
    const SshKey key = make_ed25519(cluster.root() / "keys", "primary");
    const stdfs::path allowed =
        write_allowed_signers(cluster.root() / "allowed_signers", {{"primary@depsync", key}});
    set_config(primary, "signing_key", key.file.string());
    for (int v = 2; v <= 3; ++v) {
        write_file(api, "<api v='" + std::to_string(v) + "'/>\n");
        publish_ok(cluster, "signed " + std::to_string(v));
    }
    for (std::size_t i = 0; i < 2; ++i) set_config(cluster.peer(i), "allowed_signers", allowed.string());

    SECTION("on a peer that runs a signed release") {
        const Node& peer = cluster.peer(0);
        REQUIRE_SUCCESS(cluster.pull(0));
        const dt::TreeListing before = dt::describe_tree(peer.dir);

        require_refusal_of(cluster.pull(0, {"--to", "r1"}), r1);
        require_unchanged(before, peer.dir);
        require_refusal_of(cluster.depsync(peer, {"pin", "r1"}), r1);
        require_unchanged(before, peer.dir);
        auto status = status_of(cluster, peer);
        CHECK(status.at("release") == "3");
        CHECK(status.at("pinned") == "false");

        ProcessResult to = cluster.pull(0, {"--to", "r2"});
        REQUIRE_SUCCESS(to);
        CHECK(to.out == "r3 -> r2 (+0 ~1 -0)\n");
        ProcessResult pin = cluster.depsync(peer, {"pin", "r3"});
        REQUIRE_SUCCESS(pin);
        CHECK(read_file(peer.dir / "synapse-configs/default/api/OrdersAPI.xml") == "<api v='3'/>\n");
        CHECK(status_of(cluster, peer).at("pinned") == "true");
    }
    SECTION("on a peer that runs nothing yet") {
        const Node& peer = cluster.peer(1);
        const dt::TreeListing before = dt::describe_tree(peer.dir);
        require_refusal_of(cluster.depsync(peer, {"pin", "r1"}), r1);
        require_refusal_of(cluster.pull(1, {"--to", r1}), r1);
        require_unchanged(before, peer.dir);
        auto status = status_of(cluster, peer);
        CHECK(status.at("release") == "null");
        CHECK(status.at("pinned") == "false");
    }
}

TEST_CASE("depsync log and verify show each release's signature state on a peer with allowed signers",
          "[e2e][signing]") {
    Cluster cluster(1);
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    const auto api = primary.dir / "synapse-configs/default/api/OrdersAPI.xml";
    write_file(api, "<api v='1'/>\n");
    publish_ok(cluster, "before signing");
    const SshKey key = make_ed25519(cluster.root() / "keys", "primary");
    const stdfs::path allowed =
        write_allowed_signers(cluster.root() / "allowed_signers", {{"primary@depsync", key}});
    set_config(primary, "signing_key", key.file.string());
    write_file(api, "<api v='2'/>\n");
    publish_ok(cluster, "signed");
    set_config(peer, "allowed_signers", allowed.string());
    REQUIRE_SUCCESS(cluster.pull(0));

    ProcessResult log = cluster.depsync(peer, {"log"});
    REQUIRE_SUCCESS(log);
    INFO(log.out);
    std::string r1_line, r2_line;
    for (const std::string& line : lines_of(log.out)) {
        if (line.rfind("r1 ", 0) == 0) r1_line = lowercase(line);
        if (line.rfind("r2 ", 0) == 0) r2_line = lowercase(line);
    }
    CHECK(contains(r2_line, "good"));
    CHECK(contains(r2_line, "primary@depsync"));
    CHECK(std::regex_search(r1_line, std::regex("unsigned|not signed")));

    ProcessResult verify = cluster.depsync(peer, {"verify"});
    REQUIRE_SUCCESS(verify);
    INFO(verify.out);
    CHECK(contains(lowercase(verify.out), "good"));
}

TEST_CASE("a commit re-signed by the trusted key is applied only when signed for git's namespace",
          "[e2e][signing]") {
    SignedCluster s(1);
    const Cluster& cluster = s.cluster;
    const Node& primary = cluster.primary();
    const Node& peer = cluster.peer(0);
    const auto api = primary.dir / "synapse-configs/default/api/OrdersAPI.xml";
    write_file(api, "<api v='1'/>\n");
    publish_ok(cluster, "signed r1");
    REQUIRE_SUCCESS(cluster.pull(0));
    write_file(api, "<api v='2'/>\n");
    publish_ok(cluster, "signed r2");
    // The same commit with a fresh signature over its exact data, made outside depsync.
    const std::string payload = split_signed_commit(raw_commit(cluster, "main")).payload;
    const dt::TreeListing before = dt::describe_tree(peer.dir);

    SECTION("namespace git: git and the peer accept it") {
        const std::string id = write_commit_object(
            cluster, with_signature(payload, ssh_sign(cluster.root(), payload, s.key, "git")));
        point_main_at(cluster, id);
        CHECK(git_with_signers(cluster, s.allowed, {"verify-commit", id}).exit_code == 0);
        ProcessResult pulled = cluster.pull(0);
        REQUIRE_SUCCESS(pulled);
        CHECK(pulled.out == "r1 -> r2 (+0 ~1 -0)\n");
        CHECK(status_of(cluster, peer).at("commit") == id);
    }
    SECTION("namespace file: a signature the key made for another purpose is refused") {
        const std::string id = write_commit_object(
            cluster, with_signature(payload, ssh_sign(cluster.root(), payload, s.key, "file")));
        point_main_at(cluster, id);
        CHECK(git_with_signers(cluster, s.allowed, {"verify-commit", id}).exit_code != 0);
        require_refusal_of(cluster.pull(0), id);
        require_unchanged(before, peer.dir);
    }
}

TEST_CASE("allowed signers are read in git's format: comments and options", "[e2e][signing]") {
    SignedCluster s(1);
    const Cluster& cluster = s.cluster;
    const Node& peer = cluster.peer(0);
    write_file(cluster.primary().dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='1'/>\n");
    publish_ok(cluster, "signed r1");
    const std::string id = rev_parse(cluster, "main");
    const SshKey other = make_ed25519(cluster.root() / "keys", "other");
    const std::string other_line = "other@depsync " + other.public_line + "\n";

    SECTION("the key limited to the git namespace is trusted") {
        write_file(s.allowed, "# release keys of the cluster\n" + other_line +
                                  "primary@depsync namespaces=\"git\" " + s.key.public_line +
                                  " primary key\n");
        CHECK(git_with_signers(cluster, s.allowed, {"verify-commit", "main"}).exit_code == 0);
        ProcessResult pulled = cluster.pull(0);
        REQUIRE_SUCCESS(pulled);
        CHECK(pulled.out == "none -> r1 (+1 ~0 -0)\n");
    }
    SECTION("the key limited to another namespace is not") {
        write_file(s.allowed, "# release keys of the cluster\n" + other_line +
                                  "primary@depsync namespaces=\"file\" " + s.key.public_line + "\n");
        CHECK(git_with_signers(cluster, s.allowed, {"verify-commit", "main"}).exit_code != 0);
        const dt::TreeListing before = dt::describe_tree(peer.dir);
        require_refusal_of(cluster.pull(0), id);
        require_unchanged(before, peer.dir);
    }
}

TEST_CASE("a blank line in allowed_signers does not stop a trusted release", "[e2e][signing]") {
    SignedCluster s(1);
    const Cluster& cluster = s.cluster;
    write_file(cluster.primary().dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='1'/>\n");
    publish_ok(cluster, "signed r1");
    write_file(s.allowed, "# release keys of the cluster\n\nprimary@depsync " + s.key.public_line + "\n");
    CHECK(git_with_signers(cluster, s.allowed, {"verify-commit", "main"}).exit_code == 0);

    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    CHECK(pulled.out == "none -> r1 (+1 ~0 -0)\n");
    require_same_tree(cluster.primary().dir, cluster.peer(0).dir);
}

TEST_CASE("a passphrase-protected signing key is a configuration error before anything is committed",
          "[e2e][signing]") {
    Cluster cluster(0);
    const Node& primary = cluster.primary();
    write_file(primary.dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='1'/>\n");
    publish_ok(cluster, "unsigned first");
    write_file(primary.dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='2'/>\n");
    const SshKey key = make_key(cluster.root() / "keys", "locked", {"-t", "ed25519", "-N", "secret"});
    set_config(primary, "signing_key", key.file.string());

    // As cron or systemd runs it: no terminal to ask for the passphrase on.
    ProcessResult refused = dt::run({"setsid", "-w", dt::depsync_bin(), "-c", primary.config.string(),
                                     "--settle", "1", "publish", "-m", "must not be committed"});
    INFO(describe(refused));
    CHECK(cluster.release_commits() == 1);
    CHECK(contains(refused.err, key.file.string()));
    CHECK(contains(refused.err, "passphrase"));
    CHECK(refused.exit_code == 2);
}

TEST_CASE("an allowed_signers file that does not exist is a configuration error naming it",
          "[e2e][signing]") {
    SignedCluster s(1);
    const Cluster& cluster = s.cluster;
    const Node& peer = cluster.peer(0);
    write_file(cluster.primary().dir / "synapse-configs/default/api/OrdersAPI.xml", "<api v='1'/>\n");
    publish_ok(cluster, "signed r1");
    const stdfs::path missing = cluster.root() / "no-such-allowed-signers";
    set_config(peer, "allowed_signers", missing.string());
    const dt::TreeListing before = dt::describe_tree(peer.dir);

    ProcessResult refused = cluster.pull(0);
    INFO(describe(refused));
    require_unchanged(before, peer.dir);
    CHECK(contains(refused.err, missing.string()));
    CHECK(refused.exit_code == 2);
    CHECK(std::regex_search(lowercase(refused.err), std::regex("does not exist|cannot be read|cannot read")));
}

TEST_CASE("the security docs say what a peer without allowed_signers trusts", "[e2e][signing]") {
    const std::string security = read_file(stdfs::path(dt::source_dir()) / "docs" / "security.md");
    CHECK(contains(security, "signing_key"));
    CHECK(contains(security, "allowed_signers"));
}
