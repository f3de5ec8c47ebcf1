#include "cluster.hpp"

#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace depsync::e2e {
namespace {

ProcessResult checked(const ProcessResult& result, const std::string& what) {
    if (result.exit_code != 0) throw std::runtime_error("cannot " + what + ":\n" + describe(result));
    return result;
}

Node make_node(const testing::TempDir& temp, const std::string& name) {
    return Node{name, temp / (name + "/server"), temp / (name + "/state"), temp / (name + ".conf")};
}

Counts counts_from(const std::smatch& m, std::size_t first) {
    return Counts{std::stoull(m[first]), std::stoull(m[first + 1]), std::stoull(m[first + 2])};
}

std::string first_line(const std::string& text) {
    return text.substr(0, text.find('\n'));
}

}  // namespace

Cluster::Cluster(std::size_t peers) : m_primary(make_node(m_temp, "primary")) {
    checked(testing::run({testing::depsync_bin(), "-c", m_primary.config.string(), "init", "primary", "--dir",
                          m_primary.dir.string(), "--repo", repo().string(), "--state",
                          m_primary.state.string(), "--node", m_primary.name}),
            "init the primary");
    for (std::size_t i = 0; i < peers; ++i) add_peer("peer" + std::to_string(i + 1), repo().string());
}

Node Cluster::add_peer(const std::string& name, const std::string& remote) {
    Node peer = make_node(m_temp, name);
    // --no-check: a test may point a peer at a remote that is not ready yet, or is wrong on purpose.
    checked(testing::run({testing::depsync_bin(), "-c", peer.config.string(), "init", "peer", "--dir",
                          peer.dir.string(), "--remote", remote, "--state", peer.state.string(), "--node",
                          peer.name, "--no-check"}),
            "init " + peer.name);
    m_peers.push_back(peer);
    return m_peers.back();
}

ProcessResult Cluster::depsync(const Node& node, const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {testing::depsync_bin(), "-c", node.config.string(), "--settle", "1"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run(argv);
}

ProcessResult Cluster::publish(const std::string& message) const {
    return depsync(m_primary, {"publish", "-m", message});
}

ProcessResult Cluster::pull(std::size_t peer, const std::vector<std::string>& extra_args) const {
    std::vector<std::string> args = {"pull"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    return depsync(m_peers.at(peer), args);
}

ProcessResult Cluster::status_json(const Node& node) const {
    return depsync(node, {"status", "--json"});
}

std::size_t Cluster::release_commits() const {
    ProcessResult r = git({"-C", repo().string(), "rev-list", "--count", "main"});
    if (r.exit_code != 0) return 0;  // no branch yet
    return std::stoul(r.out);
}

std::string describe(const ProcessResult& result) {
    return "exit code " + std::to_string(result.exit_code) + "\n--- stdout:\n" + result.out +
           "--- stderr:\n" + result.err;
}

ProcessResult git(const std::vector<std::string>& args, std::optional<std::string> cwd) {
    std::vector<std::string> argv = {"git"};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run(argv,
                        {{"GIT_CONFIG_NOSYSTEM", "1"},
                         {"GIT_CONFIG_GLOBAL", "/dev/null"},
                         {"GIT_AUTHOR_NAME", "Plain Git"},
                         {"GIT_AUTHOR_EMAIL", "plain@example.com"},
                         {"GIT_COMMITTER_NAME", "Plain Git"},
                         {"GIT_COMMITTER_EMAIL", "plain@example.com"},
                         {"GIT_TERMINAL_PROMPT", "0"}},
                        std::move(cwd));
}

std::map<std::string, std::string> parse_flat_json(const std::string& text) {
    std::map<std::string, std::string> out;
    std::size_t i = 0;
    auto fail = [&](const std::string& what) {
        throw std::runtime_error("cannot parse JSON (" + what + " at " + std::to_string(i) + "): " + text);
    };
    auto skip_space = [&] {
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    };
    auto read_string = [&] {
        if (text[i] != '"') fail("expected a string");
        std::string s;
        for (++i; i < text.size() && text[i] != '"'; ++i) {
            if (text[i] != '\\') {
                s += text[i];
                continue;
            }
            if (++i >= text.size()) fail("unfinished escape");
            switch (text[i]) {
                case 'n':
                    s += '\n';
                    break;
                case 't':
                    s += '\t';
                    break;
                case 'r':
                    s += '\r';
                    break;
                case 'u':
                    if (i + 4 >= text.size()) fail("short \\u escape");
                    s += static_cast<char>(std::stoi(text.substr(i + 1, 4), nullptr, 16));
                    i += 4;
                    break;
                default:
                    s += text[i];
            }
        }
        if (i >= text.size()) fail("unfinished string");
        ++i;
        return s;
    };
    skip_space();
    if (i >= text.size() || text[i++] != '{') fail("expected '{'");
    skip_space();
    if (i < text.size() && text[i] == '}') return out;
    for (;;) {
        skip_space();
        std::string key = read_string();
        skip_space();
        if (i >= text.size() || text[i++] != ':') fail("expected ':'");
        skip_space();
        if (i >= text.size()) fail("missing value");
        if (text[i] == '"') {
            out[key] = read_string();
        } else {
            std::size_t start = i;
            while (i < text.size() && text[i] != ',' && text[i] != '}' &&
                   !std::isspace(static_cast<unsigned char>(text[i])))
                ++i;
            out[key] = text.substr(start, i - start);
        }
        skip_space();
        if (i >= text.size()) fail("unfinished object");
        if (text[i] == '}') break;
        if (text[i++] != ',') fail("expected ','");
    }
    return out;
}

std::optional<PublishedLine> parse_published(const std::string& output) {
    static const std::regex re(R"(^published r(\d+) ([0-9a-f]{7,40}) \(\+(\d+) ~(\d+) -(\d+)\)$)");
    std::smatch m;
    std::string line = first_line(output);
    if (!std::regex_match(line, m, re)) return std::nullopt;
    return PublishedLine{std::stoull(m[1]), m[2], counts_from(m, 3)};
}

std::optional<PulledLine> parse_pulled(const std::string& output) {
    static const std::regex re(R"(^(none|r(\d+)) -> r(\d+) \(\+(\d+) ~(\d+) -(\d+)\)$)");
    std::smatch m;
    std::string line = first_line(output);
    if (!std::regex_match(line, m, re)) return std::nullopt;
    PulledLine p;
    if (m[2].matched) p.from = std::stoull(m[2]);
    p.to = std::stoull(m[3]);
    p.counts = counts_from(m, 4);
    return p;
}

std::optional<std::uint64_t> parse_nothing_to_publish(const std::string& output) {
    static const std::regex re(R"(^nothing to publish: r(\d+) is current$)");
    std::smatch m;
    std::string line = first_line(output);
    if (!std::regex_match(line, m, re)) return std::nullopt;
    return std::stoull(m[1]);
}

std::optional<std::uint64_t> parse_up_to_date(const std::string& output) {
    static const std::regex re(R"(^up to date at r(\d+)$)");
    std::smatch m;
    std::string line = first_line(output);
    if (!std::regex_match(line, m, re)) return std::nullopt;
    return std::stoull(m[1]);
}

void write_file(const std::filesystem::path& path, const std::string& content) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::ostringstream content;
    content << in.rdbuf();
    return content.str();
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

void set_key(const std::filesystem::path& config, const std::string& key, const std::string& value) {
    std::istringstream in(read_file(config));
    std::string text;
    bool done = false;
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(key + " =", 0) == 0) {
            line = key + " = " + value;
            done = true;
        }
        text += line + "\n";
    }
    if (!done) text += key + " = " + value + "\n";
    write_file(config, text);
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

std::vector<std::string> differences(const std::filesystem::path& primary,
                                     const std::filesystem::path& peer) {
    return testing::diff_trees(primary, peer);
}

}  // namespace depsync::e2e
