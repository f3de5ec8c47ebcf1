#include "crafter.hpp"

#include <algorithm>
#include <stdexcept>

#include "cluster.hpp"

namespace depsync::e2e {
namespace stdfs = std::filesystem;

namespace {

std::string hex_to_bytes(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
}

}  // namespace

std::string checked_git(const std::vector<std::string>& args) {
    ProcessResult r = git(args);
    if (r.exit_code != 0) throw std::runtime_error("git failed:\n" + describe(r));
    return r.out.substr(0, r.out.find('\n'));
}

Crafter::Crafter(stdfs::path repo, stdfs::path scratch)
    : m_repo(std::move(repo)), m_scratch(std::move(scratch)) {
    stdfs::create_directories(m_scratch);
}

stdfs::path Crafter::next_file() {
    return m_scratch / ("object-" + std::to_string(m_count++));
}

std::string Crafter::blob(const std::string& content) {
    return object("blob", content);
}

std::string Crafter::object(const std::string& type, const std::string& content) {
    stdfs::path file = next_file();
    write_file(file, content);
    return checked_git(
        {"-C", m_repo.string(), "hash-object", "-t", type, "--literally", "-w", file.string()});
}

std::string Crafter::tree_as_is(const std::vector<RawEntry>& entries) {
    std::string raw;
    for (const auto& e : entries) raw += e.mode + " " + e.name + std::string(1, '\0') + hex_to_bytes(e.id);
    return object("tree", raw);
}

std::string Crafter::tree(std::vector<RawEntry> entries) {
    auto key = [](const RawEntry& e) { return e.mode == tree_mode ? e.name + "/" : e.name; };
    std::stable_sort(entries.begin(), entries.end(),
                     [&](const RawEntry& a, const RawEntry& b) { return key(a) < key(b); });
    return tree_as_is(entries);
}

std::vector<RawEntry> Crafter::entries_of(const std::string& tree_id) {
    ProcessResult r = git({"-C", m_repo.string(), "ls-tree", "-z", tree_id});
    if (r.exit_code != 0) throw std::runtime_error("git ls-tree failed:\n" + describe(r));
    std::vector<RawEntry> out;
    std::size_t pos = 0;
    while (pos < r.out.size()) {
        std::size_t end = r.out.find('\0', pos);
        std::string line = r.out.substr(pos, end - pos);
        pos = end + 1;
        // "<mode> <type> <id>\t<name>"
        std::size_t sp1 = line.find(' '), sp2 = line.find(' ', sp1 + 1), tab = line.find('\t');
        std::string mode = line.substr(0, sp1);
        if (mode == "040000") mode = tree_mode;
        out.push_back({mode, line.substr(tab + 1), line.substr(sp2 + 1, tab - sp2 - 1)});
    }
    return out;
}

std::string Crafter::with_entries(const std::string& base, const std::string& dir,
                                  const std::vector<RawEntry>& extra) {
    std::vector<RawEntry> entries = entries_of(base);
    if (dir.empty()) {
        entries.insert(entries.end(), extra.begin(), extra.end());
        return tree(entries);
    }
    std::string first = dir.substr(0, dir.find('/'));
    std::string rest = dir.find('/') == std::string::npos ? "" : dir.substr(dir.find('/') + 1);
    for (auto& e : entries)
        if (e.name == first && e.mode == tree_mode) e.id = with_entries(e.id, rest, extra);
    return tree(entries);
}

std::string Crafter::commit(const std::string& tree_id, const std::string& parent,
                            const std::string& message) {
    stdfs::path file = next_file();
    write_file(file, message);
    std::vector<std::string> args{"-C", m_repo.string(), "commit-tree", tree_id};
    if (!parent.empty()) args.insert(args.end(), {"-p", parent});
    args.insert(args.end(), {"-F", file.string()});
    return checked_git(args);
}

std::string Crafter::publish(const std::string& tree_id, const std::string& parent,
                             const std::string& message) {
    std::string c = commit(tree_id, parent, message);
    checked_git({"-C", m_repo.string(), "update-ref", "refs/heads/main", c});
    return c;
}

std::string Crafter::rev(const std::string& what) {
    return checked_git({"-C", m_repo.string(), "rev-parse", "--verify", what});
}

}  // namespace depsync::e2e
