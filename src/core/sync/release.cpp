#include "core/sync/release.hpp"

#include <spdlog/spdlog.h>

#include <cctype>
#include <map>
#include <mutex>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/git/repository.hpp"
#include "core/git/signing.hpp"

namespace depsync::sync {

namespace {

bool blank(std::string_view line) {
    return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

// "Token: value" with a token of letters, digits and '-' (git's trailer line with ':' as separator).
std::optional<std::pair<std::string, std::string>> trailer_line(std::string_view line) {
    std::size_t colon = line.find(": ");
    if (colon == 0 || colon == std::string_view::npos) return std::nullopt;
    for (char c : line.substr(0, colon))
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return std::nullopt;
    return std::make_pair(std::string(line.substr(0, colon)), std::string(line.substr(colon + 2)));
}

}  // namespace

std::vector<std::pair<std::string, std::string>> message_trailers(const std::string& message) {
    std::vector<std::string_view> lines;
    std::string_view rest(message);
    while (!rest.empty()) {
        std::size_t eol = rest.find('\n');
        lines.push_back(rest.substr(0, eol));
        rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
    }
    while (!lines.empty() && blank(lines.back())) lines.pop_back();
    std::size_t start = lines.size();
    while (start > 0 && !blank(lines[start - 1])) --start;
    // The first paragraph is the subject and its body, never trailers.
    bool earlier_text = false;
    for (std::size_t i = 0; i < start; ++i) earlier_text = earlier_text || !blank(lines[i]);
    std::vector<std::pair<std::string, std::string>> out;
    if (!earlier_text || start == lines.size()) return out;
    for (std::size_t i = start; i < lines.size(); ++i) {
        auto t = trailer_line(lines[i]);
        if (!t) return {};  // one line that is not a trailer: the paragraph is text
        out.push_back(std::move(*t));
    }
    return out;
}

std::optional<std::string> message_trailer(const std::string& message, const std::string& key) {
    std::optional<std::string> value;
    for (auto& [k, v] : message_trailers(message))
        if (k == key) value = v;
    return value;
}

std::optional<std::uint64_t> release_number_text(std::string_view text) {
    if (text.empty() || text.size() > 15 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
    std::uint64_t n = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (n == 0) return std::nullopt;
    return n;
}

namespace {

std::optional<std::uint64_t> number_trailer(const std::string& message, const std::string& key) {
    auto v = message_trailer(message, key);
    if (!v) return std::nullopt;
    return release_number_text(*v);
}

// A commit's number is a function of its id (which fixes its whole first-parent history), so numbers found
// once are kept for the rest of the run: a walk down the history is paid once per process.
std::mutex numbers_mutex;
std::map<std::string, std::uint64_t> known_numbers;  // raw 20-byte id -> number

std::string key_of(const git_oid& id) {
    return std::string(reinterpret_cast<const char*>(id.id), GIT_OID_RAWSZ);
}

// The release number of `commit`: its Depsync-Release trailer when that is a plain decimal number in range
// and greater than its first parent's number, else one above its first parent's (1 for a root commit).
std::uint64_t release_number(git_repository* repo, const git_oid& commit) {
    std::lock_guard<std::mutex> lock(numbers_mutex);
    // Down the first parents until a commit whose number is known, or the root; then up again.
    std::vector<std::pair<git_oid, std::optional<std::uint64_t>>> chain;
    std::uint64_t base = 0;
    git_oid cur = commit;
    for (;;) {
        if (auto it = known_numbers.find(key_of(cur)); it != known_numbers.end()) {
            base = it->second;
            break;
        }
        git::CommitPtr c = git::lookup_commit(repo, cur);
        chain.emplace_back(cur, number_trailer(git_commit_message(c.get()), "Depsync-Release"));
        std::optional<git_oid> parent = git::first_parent(c.get());
        if (!parent) break;
        cur = *parent;
    }
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        base = it->second && *it->second > base ? *it->second : base + 1;
        known_numbers[key_of(it->first)] = base;
    }
    return base;
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
    if (r.node.empty()) r.node = git_commit_author(c.get())->name;
    r.number = release_number(repo, commit);
    return r;
}

void tag_release(git_repository* repo, std::uint64_t number, const git_oid& commit) {
    const std::string name = release_tag(number);
    for (int attempt = 0; attempt < 3; ++attempt) {
        std::optional<git::RefValue> tag = git::read_ref(repo, name);
        if (!tag) {
            if (git::update_ref(repo, name, commit, std::nullopt, "depsync release")) return;
            continue;  // created meanwhile: look again
        }
        if (tag->target && git_oid_equal(&*tag->target, &commit)) return;
        std::string was = tag->target ? git::short_hex(*tag->target) : tag->symbolic;
        spdlog::warn("tag r{} named {}, not release r{}; moved it to {}", number, was, number,
                     git::short_hex(commit));
        git::set_ref(repo, name, commit, "depsync release: tag repaired", "update " + name);
        return;
    }
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
    std::filesystem::path workdir = StatePaths(settings.state).home();
    return [key, workdir](const std::string& content) {
        std::string sig = git::ssh_sign(content, key, workdir);
        while (!sig.empty() && sig.back() == '\n') sig.pop_back();
        return sig;
    };
}

std::optional<git::SignatureCheck> release_signature(const Settings& settings, git_repository* repo,
                                                     const git_oid& commit) {
    if (settings.allowed_signers.empty()) return std::nullopt;
    return git::verify_commit_signature(repo, commit, settings.allowed_signers,
                                        StatePaths(settings.state).home());
}

void require_trusted_release(const Settings& settings, git_repository* repo, const git_oid& commit) {
    std::optional<git::SignatureCheck> check = release_signature(settings, repo, commit);
    if (!check || check->state == git::SignatureState::good) return;
    std::string why =
        check->state == git::SignatureState::unsigned_commit ? "it is not signed" : check->detail;
    throw Error("refusing release " + git::short_hex(commit) + " (" + git::to_hex(commit) + "): " + why +
                "; nothing was applied (allowed signers: " + settings.allowed_signers.string() + ")");
}

std::string roots_trailer(const Settings& settings) {
    std::string out;
    for (const Root& r : settings.roots) out += (out.empty() ? "" : ",") + r.name;
    return out;
}

git::TreeLimits tree_limits(const Settings& settings) {
    git::TreeLimits limits;
    limits.max_entries = settings.max_entries;
    return limits;
}

std::string release_tag(std::uint64_t number) {
    return git::tag_ref("r" + std::to_string(number));
}

std::string release_name(std::optional<std::uint64_t> number) {
    return number ? "r" + std::to_string(*number) : std::string("none");
}

}  // namespace depsync::sync
