#include "core/sync/release.hpp"

#include <sstream>

#include "core/error.hpp"
#include "core/git/repository.hpp"
#include "core/git/signing.hpp"

namespace depsync::sync {

std::optional<std::string> message_trailer(const std::string& message, const std::string& key) {
    std::istringstream in(message);
    std::string line;
    std::optional<std::string> value;
    std::string prefix = key + ": ";
    while (std::getline(in, line))
        if (line.compare(0, prefix.size(), prefix) == 0) value = line.substr(prefix.size());
    return value;
}

namespace {

std::optional<std::uint64_t> number_trailer(const std::string& message, const std::string& key) {
    auto v = message_trailer(message, key);
    if (!v) return std::nullopt;
    try {
        return std::stoull(*v);
    } catch (...) {
        return std::nullopt;
    }
}

}  // namespace

Release describe_release(git_repository* repo, const git_oid& commit) {
    git::CommitPtr c = git::lookup_commit(repo, commit);
    Release r;
    r.commit = commit;
    r.tree = *git_commit_tree_id(c.get());
    r.time = static_cast<std::int64_t>(git_commit_time(c.get()));
    std::string message = git_commit_message(c.get());
    r.subject = message.substr(0, message.find('\n'));
    r.node = message_trailer(message, "Depsync-Node").value_or("");
    r.host = message_trailer(message, "Depsync-Host").value_or("");
    r.restores = number_trailer(message, "Depsync-Restores");
    r.roots = message_trailer(message, "Depsync-Roots").value_or("");
    r.cut = number_trailer(message, "Depsync-Cut");
    if (auto n = number_trailer(message, "Depsync-Release")) {
        r.number = *n;
        return r;
    }
    if (r.node.empty()) r.node = git_commit_author(c.get())->name;
    // Not made by depsync: one above the nearest numbered first-parent ancestor.
    std::uint64_t steps = 1;
    git::CommitPtr cur = std::move(c);
    while (git_commit_parentcount(cur.get()) > 0) {
        git::CommitPtr parent = git::lookup_commit(repo, *git_commit_parent_id(cur.get(), 0));
        if (auto n = number_trailer(git_commit_message(parent.get()), "Depsync-Release")) {
            r.number = *n + steps;
            return r;
        }
        ++steps;
        cur = std::move(parent);
    }
    r.number = steps;
    return r;
}

std::string format_release_message(const std::string& message, const ReleaseTrailers& t) {
    std::string out = message.empty() ? "release r" + std::to_string(t.number) : message;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    out += "\n\nDepsync-Release: " + std::to_string(t.number) + "\n";
    out += "Depsync-Node: " + t.node + "\n";
    out += "Depsync-Host: " + t.host + "\n";
    if (t.restores) out += "Depsync-Restores: " + std::to_string(*t.restores) + "\n";
    if (!t.roots.empty()) out += "Depsync-Roots: " + t.roots + "\n";
    return out;
}

std::function<std::string(const std::string&)> release_signer(const Settings& settings) {
    if (settings.signing_key.empty()) return {};
    git::check_signing_key(settings.signing_key);
    std::filesystem::path key = settings.signing_key;
    std::filesystem::path workdir = settings.state / "home";
    return [key, workdir](const std::string& content) {
        std::string sig = git::ssh_sign(content, key, workdir);
        while (!sig.empty() && sig.back() == '\n') sig.pop_back();
        return sig;
    };
}

void require_trusted_release(const Settings& settings, git_repository* repo, const git_oid& commit) {
    if (settings.allowed_signers.empty()) return;
    git::SignatureCheck check =
        git::verify_commit_signature(repo, commit, settings.allowed_signers, settings.state / "home");
    if (check.state == git::SignatureState::good) return;
    std::string why = check.state == git::SignatureState::unsigned_commit ? "it is not signed" : check.detail;
    throw Error("refusing release " + git::short_hex(commit) + " (" + git::to_hex(commit) + "): " + why +
                "; nothing was applied (allowed signers: " + settings.allowed_signers.string() + ")");
}

std::string roots_trailer(const Settings& settings) {
    std::string out;
    for (const Root& r : settings.roots) out += (out.empty() ? "" : ",") + r.name;
    return out;
}

std::string release_tag(std::uint64_t number) {
    return "refs/tags/r" + std::to_string(number);
}

std::string release_name(std::optional<std::uint64_t> number) {
    return number ? "r" + std::to_string(*number) : std::string("none");
}

}  // namespace depsync::sync
