// gc on a signing primary signs the kept releases again: only what a trusted key signed may be signed again,
// else a plain-git push would come out of gc signed by the primary and peers would apply it as good.

#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

std::string git_out(const stdfs::path& repo, const std::vector<std::string>& args) {
    std::vector<std::string> full{"-C", repo.string()};
    full.insert(full.end(), args.begin(), args.end());
    ProcessResult r = git(full);
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    return r.out;
}

struct Key {
    stdfs::path file;
    std::string public_line;  // "ssh-ed25519 AAAA..."
};

Key make_key(const stdfs::path& dir, const std::string& name) {
    stdfs::create_directories(dir);
    Key key{dir / name, ""};
    REQUIRE_SUCCESS(
        dt::run({"ssh-keygen", "-q", "-N", "", "-t", "ed25519", "-C", name, "-f", key.file.string()}));
    std::istringstream pub(read_file(key.file.string() + ".pub"));
    std::string type, body;
    pub >> type >> body;
    key.public_line = type + " " + body;
    return key;
}

// Sets `key = "value"` in a node's config; the file stays private, as a config naming a key must be.
void set_config(const Node& node, const std::string& key, const std::string& value) {
    write_file(node.config, read_file(node.config) + key + " = \"" + value + "\"\n");
    stdfs::permissions(node.config, stdfs::perms::owner_read | stdfs::perms::owner_write,
                       stdfs::perm_options::replace);
}

// Every ref of the release repository with the object it names, and every object it holds.
std::string refs_of(const stdfs::path& repo) {
    return git_out(repo, {"for-each-ref", "--format=%(refname) %(objectname)"});
}
std::string objects_of(const stdfs::path& repo) {
    return git_out(repo, {"cat-file", "--batch-all-objects", "--batch-check"});
}

// A signing primary (its key trusted by the peer under primary@depsync) with releases r1..r3 published.
struct SignedHistory {
    Cluster cluster{1};
    Key key;
    stdfs::path clone;

    SignedHistory() {
        key = make_key(cluster.root() / "keys", "primary");
        const stdfs::path allowed = cluster.root() / "peer_allowed_signers";
        write_file(allowed, "primary@depsync " + key.public_line + "\n");
        set_config(cluster.primary(), "signing_key", key.file.string());
        set_config(cluster.peer(0), "allowed_signers", allowed.string());
        for (int n = 1; n <= 3; ++n) {
            write_file(cluster.primary().dir / "api/a.xml", "<a v='" + std::to_string(n) + "'/>\n");
            REQUIRE_SUCCESS(cluster.publish("r" + std::to_string(n)));
        }
        clone = cluster.root() / "clone";
        REQUIRE_SUCCESS(git({"clone", "-q", cluster.repo().string(), clone.string()}));
    }

    // A commit made by plain git on top of the branch (`sign_with`: a key for `commit -S`), pushed; its id.
    std::string push_plain(const std::string& content, const stdfs::path& sign_with = {}) {
        write_file(clone / "api/a.xml", content);
        REQUIRE_SUCCESS(git({"-C", clone.string(), "add", "--all"}));
        std::vector<std::string> argv{"-C", clone.string()};
        if (!sign_with.empty())
            argv.insert(argv.end(), {"-c", "gpg.format=ssh", "-c", "user.signingkey=" + sign_with.string()});
        argv.insert(argv.end(), {"commit", "-q", "-m", "pushed by plain git"});
        if (!sign_with.empty()) argv.push_back("-S");
        REQUIRE_SUCCESS(git(argv));
        REQUIRE_SUCCESS(git({"-C", clone.string(), "push", "-q", "origin", "HEAD:refs/heads/main"}));
        return trimmed(git_out(clone, {"rev-parse", "HEAD"}));
    }
};

// Every file of a node's state folder (but the lock, a peer's fetched copy and the run record, which a
// refused run updates on purpose) with its bytes; folders as "<dir>".
std::map<std::string, std::string> state_files(const Node& node, bool with_run_record = false) {
    std::map<std::string, std::string> out;
    for (auto it = stdfs::recursive_directory_iterator(node.state);
         it != stdfs::recursive_directory_iterator(); ++it) {
        const std::string rel = stdfs::relative(it->path(), node.state).string();
        if (rel == "repo.git") it.disable_recursion_pending();
        if (rel == "lock" || rel == "repo.git" || (rel == "last-run" && !with_run_record)) continue;
        out[rel] = it->is_regular_file() ? read_file(it->path()) : std::string("<dir>");
    }
    return out;
}

// gc refused the commit: exit 1 naming it, and the repository exactly as before (refs and objects), and the
// primary's state folder too but for the run record, which holds the refusal for status and monitoring; a dry
// run, no run of the node, leaves the run record too.
void require_refused(const SignedHistory& h, const std::string& commit,
                     const std::vector<std::string>& args) {
    const std::string refs = refs_of(h.cluster.repo());
    const std::string objects = objects_of(h.cluster.repo());
    const bool dry = std::find(args.begin(), args.end(), "--dry-run") != args.end();
    const auto state = state_files(h.cluster.primary(), dry);
    ProcessResult refused = h.cluster.depsync(h.cluster.primary(), args);
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(contains(refused.err, commit));
    CHECK(contains(refused.err, "nothing was changed"));
    CHECK(refs_of(h.cluster.repo()) == refs);
    CHECK(objects_of(h.cluster.repo()) == objects);
    CHECK(state_files(h.cluster.primary(), dry) == state);
    if (!dry) CHECK(contains(read_file(h.cluster.primary().state / "last-run"), commit));
}

const std::vector<std::string> gc_keep_2 = {"gc", "--keep", "2", "--keep-days", "0"};

}  // namespace

TEST_CASE("gc refuses to sign again a commit pushed by plain git without a signature", "[e2e][gc][signing]") {
    SignedHistory h;
    const std::string unsigned_commit = h.push_plain("<a v='unsigned'/>\n");
    require_refused(h, unsigned_commit, gc_keep_2);
    // A dry run says the same, so an operator learns it before the real run.
    require_refused(h, unsigned_commit, {"gc", "--keep", "2", "--keep-days", "0", "--dry-run"});
    // The peer still refuses the unsigned commit as it did before gc was tried.
    ProcessResult pulled = h.cluster.pull(0);
    CHECK(pulled.exit_code == 1);
    CHECK(contains(pulled.err, unsigned_commit));
}

TEST_CASE("gc refuses to sign again a commit signed by a key the primary does not trust",
          "[e2e][gc][signing]") {
    SignedHistory h;
    const Key stranger = make_key(h.cluster.root() / "keys", "stranger");
    const std::string foreign = h.push_plain("<a v='foreign'/>\n", stranger.file);
    require_refused(h, foreign, gc_keep_2);
}

TEST_CASE("gc signs again what the primary's signing key or its allowed_signers signed, and peers accept it",
          "[e2e][gc][signing]") {
    SignedHistory h;
    // A second operator's key, trusted by the primary's allowed_signers (not by the peer): gc may sign its
    // commit again with the primary's key.
    const Key colleague = make_key(h.cluster.root() / "keys", "colleague");
    const stdfs::path primary_allowed = h.cluster.root() / "primary_allowed_signers";
    write_file(primary_allowed, "colleague@depsync " + colleague.public_line + "\n");
    set_config(h.cluster.primary(), "allowed_signers", primary_allowed.string());
    h.push_plain("<a v='colleague'/>\n", colleague.file);
    write_file(h.cluster.primary().dir / "api/a.xml", "<a v='colleague'/>\n");
    write_file(h.cluster.primary().dir / "api/b.xml", "<b/>\n");
    REQUIRE_SUCCESS(h.cluster.publish("r5"));
    REQUIRE_SUCCESS(h.cluster.pull(0));

    // A dry run checks the signatures a real run checks, and changes no ref, object or state file.
    {
        const std::string refs = refs_of(h.cluster.repo());
        const std::string objects = objects_of(h.cluster.repo());
        const auto state = state_files(h.cluster.primary());
        std::vector<std::string> dry_gc = gc_keep_2;
        dry_gc.push_back("--dry-run");
        ProcessResult dry = h.cluster.depsync(h.cluster.primary(), dry_gc);
        INFO(describe(dry));
        CHECK(dry.exit_code == 0);
        CHECK(refs_of(h.cluster.repo()) == refs);
        CHECK(objects_of(h.cluster.repo()) == objects);
        CHECK(state_files(h.cluster.primary()) == state);
    }
    REQUIRE_SUCCESS(h.cluster.depsync(h.cluster.primary(), gc_keep_2));
    CHECK(git_out(h.cluster.repo(), {"rev-list", "--count", "main"}) == "2\n");
    // Every kept commit verifies with git against the primary's key.
    const stdfs::path primary_key = h.cluster.root() / "primary_key_only";
    write_file(primary_key, "primary@depsync " + h.key.public_line + "\n");
    for (const char* rev : {"main", "main~1"}) {
        INFO(rev);
        ProcessResult verified =
            git({"-C", h.cluster.repo().string(), "-c", "gpg.format=ssh", "-c",
                 "gpg.ssh.allowedSignersFile=" + primary_key.string(), "verify-commit", rev});
        INFO(describe(verified));
        CHECK(verified.exit_code == 0);
    }
    // The peer follows the cut (its release was rewritten) and ends on the newest release.
    write_file(h.cluster.primary().dir / "api/c.xml", "<c/>\n");
    REQUIRE_SUCCESS(h.cluster.publish("r6"));
    // A dry run checks the cut's signatures like the pull, and writes no record.
    const auto peer_state = state_files(h.cluster.peer(0));
    ProcessResult dry = h.cluster.pull(0, {"--dry-run"});
    REQUIRE_SUCCESS(dry);
    CHECK(contains(dry.out, "would apply r5 -> r6"));
    CHECK(state_files(h.cluster.peer(0)) == peer_state);
    ProcessResult pulled = h.cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    auto line = parse_pulled(pulled.out);
    REQUIRE(line);
    CHECK(line->from == std::optional<std::uint64_t>(5));
    CHECK(line->to == 6);
    CHECK(differences(h.cluster.primary().dir, h.cluster.peer(0).dir).empty());
}

TEST_CASE(
    "with allowed_signers, a cut whose history is not signed throughout is refused and changes no record",
    "[e2e][gc][signing][cut]") {
    SignedHistory h;
    const Cluster& cluster = h.cluster;
    REQUIRE_SUCCESS(cluster.pull(0));
    const std::string genuine = trimmed(git_out(cluster.repo(), {"rev-parse", "main"}));
    const std::string root = trimmed(git_out(cluster.repo(), {"rev-list", "--max-parents=0", "main"}));
    const std::string tree = trimmed(git_out(cluster.repo(), {"rev-parse", "main^{tree}"}));
    const std::string deployed = read_file(cluster.peer(0).state / "deployed");
    // A forged cut that names everything right but is not signed, and the primary's next release signed on
    // top of it (publish signs whatever it adds to the branch).
    const std::string forged =
        trimmed(git_out(cluster.repo(), {"commit-tree", tree, "-m",
                                         "r3\n\nDepsync-Release: 3\nDepsync-Replaces: " + genuine +
                                             "\nDepsync-Cut: 2\nDepsync-Origin: " + root}));
    REQUIRE_SUCCESS(git({"-C", cluster.repo().string(), "update-ref", "refs/heads/main", forged}));
    write_file(cluster.primary().dir / "api/a.xml", "<a v='4'/>\n");
    REQUIRE_SUCCESS(cluster.publish("r4"));

    ProcessResult refused = cluster.pull(0);
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(contains(refused.err, forged));
    CHECK(contains(refused.err, "not signed"));
    CHECK(read_file(cluster.peer(0).state / "deployed") == deployed);
    CHECK(read_file(cluster.peer(0).dir / "api/a.xml") == "<a v='3'/>\n");
}

TEST_CASE("with allowed_signers, an older genuine cut served again is refused and changes no record",
          "[e2e][gc][signing][cut]") {
    SignedHistory h;
    const Cluster& cluster = h.cluster;
    const Node& peer = cluster.peer(0);
    REQUIRE_SUCCESS(cluster.pull(0));
    // A first cut (r2, r3 kept), which the peer follows; every commit of it is signed by the primary.
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), gc_keep_2));
    const std::string old_cut = trimmed(git_out(cluster.repo(), {"rev-parse", "main"}));
    const stdfs::path saved = cluster.root() / "saved.git";  // what a stale mirror keeps
    REQUIRE_SUCCESS(git({"clone", "-q", "--bare", cluster.repo().string(), saved.string()}));
    REQUIRE_SUCCESS(cluster.pull(0));
    // The cluster moves on: r4, r5 and a second cut; the peer follows to r5.
    for (int n = 4; n <= 5; ++n) {
        write_file(cluster.primary().dir / "api/a.xml", "<a v='" + std::to_string(n) + "'/>\n");
        REQUIRE_SUCCESS(cluster.publish("r" + std::to_string(n)));
    }
    REQUIRE_SUCCESS(cluster.pull(0));
    REQUIRE_SUCCESS(cluster.depsync(cluster.primary(), gc_keep_2));
    REQUIRE_SUCCESS(cluster.pull(0));
    REQUIRE(read_file(peer.dir / "api/a.xml") == "<a v='5'/>\n");

    // A mirror serves the first cut again: genuine and signed throughout, same origin, but it holds no
    // replacement of r5 (newer than its cut r1), so it is not a cut of the node's history.
    const auto records = state_files(peer);
    REQUIRE_SUCCESS(
        git({"-C", saved.string(), "push", "-q", "--force", cluster.repo().string(), "main:main"}));
    REQUIRE(trimmed(git_out(cluster.repo(), {"rev-parse", "main"})) == old_cut);
    for (bool dry : {true, false}) {
        INFO((dry ? "pull --dry-run" : "pull"));
        ProcessResult refused =
            cluster.pull(0, dry ? std::vector<std::string>{"--dry-run"} : std::vector<std::string>{});
        INFO(describe(refused));
        CHECK(refused.exit_code == 1);
        CHECK(contains(refused.err, "no release of it replaces r5"));
        CHECK(contains(refused.err, "Nothing was applied"));
        auto after = state_files(peer);
        if (!dry) {
            after.erase("last-run");
            auto before = records;
            before.erase("last-run");
            CHECK(after == before);
        } else {
            CHECK(after == records);
        }
        CHECK(read_file(peer.dir / "api/a.xml") == "<a v='5'/>\n");
    }
}
