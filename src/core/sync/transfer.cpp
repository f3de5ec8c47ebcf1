#include "core/sync/transfer.hpp"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <cstdlib>
#include <string>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/fs/bounded_child.hpp"
#include "core/git/handle.hpp"
#include "core/git/local_fetch.hpp"
#include "core/git/repository.hpp"
#include "core/sync/release.hpp"

namespace depsync::sync {
namespace {

// Space a fetch leaves free on the state folder's file system, whatever the server sends.
constexpr std::uint64_t fetch_space_reserve = 64ull << 20;

// Runs `work` with a fresh handle on the repository at `repo_path`, in a bounded child, and returns what it
// returned; a non-zero memory_limit bounds the child's address space.
std::string run_transfer(const Settings& settings, const std::string& what,
                         const std::filesystem::path& repo_path,
                         const std::function<std::string(git_repository*)>& work,
                         std::uint64_t memory_limit = 0) {
    return fs::run_bounded(
        what, settings.timeout,
        [&] {
            git::RepositoryPtr repo = git::open_repository(repo_path);
            if (!repo) throw Error("cannot open repository " + repo_path.string());
            return work(repo.get());
        },
        memory_limit, "max_fetch_memory");
}

// A fetch's outcome as the transfer child reports it.
const char* outcome_name(git::FetchOutcome outcome) {
    switch (outcome) {
        case git::FetchOutcome::updated:
            return "updated";
        case git::FetchOutcome::unchanged:
            return "unchanged";
        case git::FetchOutcome::empty:
            return "empty";
    }
    return "";
}

git::FetchOutcome outcome_named(const std::string& name, const std::string& what) {
    for (auto outcome : {git::FetchOutcome::updated, git::FetchOutcome::unchanged, git::FetchOutcome::empty})
        if (name == outcome_name(outcome)) return outcome;
    throw Error("cannot " + what + ": the transfer process reported an unknown outcome");
}

// The temp packs libgit2's indexer writes while a fetch receives ("pack_git2_*"): a killed or refused
// transfer leaves them behind, as large as what the server sent.
void remove_partial_packs(const std::filesystem::path& git_dir) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(git_dir / "objects" / "pack", ec)) {
        if (e.path().filename().string().rfind("pack_git2_", 0) != 0) continue;
        std::error_code rm;
        std::filesystem::remove(e.path(), rm);
        if (rm) spdlog::warn("cannot remove {}: {}", e.path().string(), rm.message());
    }
}

std::string url_digest(const std::string& url) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(url.data(), url.size(), md, &len, EVP_sha1(), nullptr);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < 8; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

// The release branch and every tag by name (libgit2 1.5 does not expand wildcards when pushing).
std::vector<std::string> mirror_refspecs(git_repository* repo) {
    std::vector<std::string> specs{std::string("+") + primary_ref + ":" + primary_ref};
    std::vector<std::string> tags;
    try {
        tags = git::tag_names(repo);
    } catch (const Error&) {
        // Tags that cannot be listed are not pushed; the branch, which names the releases, still is.
    }
    for (const std::string& tag : tags) specs.push_back("+" + git::tag_ref(tag) + ":" + git::tag_ref(tag));
    return specs;
}

}  // namespace

git::TransportOptions transport_options(const Settings& settings) {
    git::TransportOptions o;
    o.known_hosts = settings.known_hosts;
    o.ssh_key = settings.ssh_key;
    o.ssh_config = settings.ssh_config;
    o.timeout = settings.timeout;
    o.ca_file = settings.ca_file;
    o.https_user = settings.https_user;
    o.https_secret = settings.https_secret;
    o.max_receive_bytes = settings.max_fetch_bytes;
    o.max_receive_reason = "config 'max_fetch_bytes'";
    struct statvfs vfs {};
    if (::statvfs(settings.state.c_str(), &vfs) == 0) {
        std::uint64_t free_bytes = static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
        std::uint64_t usable = free_bytes > fetch_space_reserve ? free_bytes - fetch_space_reserve : 1;
        if (o.max_receive_bytes == 0 || usable < o.max_receive_bytes) {
            o.max_receive_bytes = usable;
            o.max_receive_reason = "the free space of " + settings.state.string() + ", less " +
                                   std::to_string(fetch_space_reserve >> 20) + " MiB kept free";
        }
    }
    return o;
}

git::FetchOutcome fetch_upstream(const Settings& settings, git_repository* repo) {
    git::TransportOptions options = transport_options(settings);
    std::string what = "fetch from " + git::redact_url(settings.remote);
    // Validate the URL in this process, so a typo is a usage error rather than a child's failure.
    git::RemoteUrl url = git::parse_remote_url(settings.remote);
    if (url.scheme == git::Scheme::local)
        return git::fetch_local(repo, url.path, {primary_ref, upstream_ref});
    const std::filesystem::path git_dir = git::repository_dir(repo);
    std::string outcome;
    try {
        outcome = run_transfer(
            settings, what, git_dir,
            [&](git_repository* child_repo) {
                git::TransportSession session(settings.remote, options);
                session.prepare_process();
                return std::string(
                    outcome_name(git::fetch_branch(child_repo, session, {primary_ref, upstream_ref})));
            },
            settings.max_fetch_memory);
    } catch (const Error&) {
        remove_partial_packs(git_dir);
        throw;
    }
    return outcome_named(outcome, what);
}

std::string check_upstream(const Settings& settings) {
    const std::string shown = git::redact_url(settings.remote);
    git::RemoteUrl url = git::parse_remote_url(settings.remote);
    std::optional<git_oid> tip;
    if (url.scheme == git::Scheme::local) {
        git::RepositoryPtr repo = git::open_repository(url.path);
        if (!repo)
            throw Error(
                "cannot reach remote " + shown + ": there is no repository there (give the primary's repo)",
                ExitCode::usage);
        tip = git::resolve_ref(repo.get(), primary_ref);
        if (!tip && git::has_refs(repo.get(), shown))
            throw Error(shown + " is not a depsync repository (it has no " + std::string(primary_ref) + ")",
                        ExitCode::usage);
    } else {
        git::TransportOptions options = transport_options(settings);
        // The child's result is the tip's id, or nothing when the remote has no refs yet.
        std::string hex = fs::run_bounded(
            "contact " + shown, settings.timeout,
            [&] {
                git::TransportSession session(settings.remote, options);
                session.prepare_process();
                auto found = git::remote_tip(session, primary_ref);
                return found ? git::to_hex(*found) : std::string();
            },
            settings.max_fetch_memory, "max_fetch_memory");
        if (!hex.empty()) tip = git::oid_from_hex(hex);
    }
    if (!tip) return "remote " + shown + " answers: nothing published yet";
    return "remote " + shown + " answers: its branch main is at " + git::short_hex(*tip);
}

std::vector<MirrorReport> push_mirrors(const Settings& settings, git_repository* repo) {
    std::optional<git_oid> head = git::resolve_ref(repo, primary_ref);
    if (!head) return {};
    return push_mirrors(settings, git::repository_dir(repo), *head);
}

std::vector<MirrorReport> push_mirrors(const Settings& settings, const std::filesystem::path& git_dir,
                                       const git_oid& head) {
    std::vector<MirrorReport> reports;
    git::TransportOptions options = transport_options(settings);
    for (const std::string& url : settings.mirrors) {
        MirrorReport report;
        report.url = git::redact_url(url);
        std::filesystem::path record = StatePaths(settings.state).mirror_record(url_digest(url));
        auto pushed = fs::read_file(record);
        if (pushed && *pushed == git::to_hex(head)) {
            report.up_to_date = true;
            reports.push_back(report);
            continue;
        }
        try {
            // Bounded in memory too: a hostile mirror's endless ref advertisement would otherwise grow the
            // push process until the timeout (over ssh nothing else counts what it receives).
            run_transfer(
                settings, "push to mirror " + report.url, git_dir,
                [&](git_repository* child_repo) {
                    git::TransportSession session(url, options);
                    session.prepare_process();
                    git::push_refs(child_repo, session, mirror_refspecs(child_repo));
                    return std::string();
                },
                settings.max_fetch_memory);
            fs::write_file_atomically(record, git::to_hex(head), 0600);
            report.pushed = true;
        } catch (const Error& e) {
            report.error = e.what();
            spdlog::warn("mirror {}: {} (retried on the next publish)", report.url, e.what());
        }
        reports.push_back(report);
    }
    return reports;
}

}  // namespace depsync::sync
