#pragma once
// The end-to-end fixture: a primary and N peers on one machine, each with its deployment directory, state
// folder and config file in one temp folder, set up by the real binary (`depsync -c CONF init ...`).
// Every helper runs the built depsync and returns its ProcessResult; assertions stay in the tests.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "support/tree_compare.hpp"

namespace depsync::e2e {

using testing::ProcessResult;

struct Node {
    std::string name;
    std::filesystem::path dir;     // the deployment directory
    std::filesystem::path state;   // the state folder (lock, caches, fetched releases)
    std::filesystem::path config;  // the config file written by init
};

class Cluster {
  public:
    // Runs init for a primary and `peers` peers; throws std::runtime_error if any init fails.
    explicit Cluster(std::size_t peers = 2);

    const std::filesystem::path& root() const { return m_temp.path(); }
    std::filesystem::path repo() const { return m_temp / "releases.git"; }
    const Node& primary() const { return m_primary; }
    const Node& peer(std::size_t index) const { return m_peers.at(index); }
    // Sets up one more peer (index peer_count() before the call) fetching from `remote`; throws if init
    // fails.
    Node add_peer(const std::string& name, const std::string& remote);
    std::size_t peer_count() const { return m_peers.size(); }

    // `depsync -c CONF --settle 1 ARGS...` for the node; the short settle keeps a refused publish fast.
    ProcessResult depsync(const Node& node, const std::vector<std::string>& args) const;
    ProcessResult publish(const std::string& message) const;
    ProcessResult pull(std::size_t peer, const std::vector<std::string>& extra_args = {}) const;
    ProcessResult status_json(const Node& node) const;

    // Number of commits on the bare repository's release branch (0 before the first publish).
    std::size_t release_commits() const;

  private:
    testing::TempDir m_temp;
    Node m_primary;
    std::vector<Node> m_peers;
};

// The exit code, stdout and stderr of a run, for failure messages.
std::string describe(const ProcessResult& result);

// `git ARGS...` with a fixed identity and no user or system config, so the host's git setup cannot interfere.
ProcessResult git(const std::vector<std::string>& args, std::optional<std::string> cwd = {});

// A flat JSON object (as `status --json` prints it): key -> value, strings unquoted and unescaped, other
// values as written (`null`, `3`, `true`). Throws std::runtime_error on anything else.
std::map<std::string, std::string> parse_flat_json(const std::string& text);

// The result lines of the command-line contract, parsed; nullopt when `output`'s first line is not one.
struct Counts {
    std::uint64_t added = 0, modified = 0, deleted = 0;
};
struct PublishedLine {  // published rN <id> (+a ~m -d)
    std::uint64_t release = 0;
    std::string id;
    Counts counts;
};
struct PulledLine {  // rN -> rM (+a ~m -d); `from` is nullopt for the first pull ("none -> rM")
    std::optional<std::uint64_t> from;
    std::uint64_t to = 0;
    Counts counts;
};
std::optional<PublishedLine> parse_published(const std::string& output);
std::optional<PulledLine> parse_pulled(const std::string& output);
std::optional<std::uint64_t> parse_nothing_to_publish(
    const std::string& output);  // nothing to publish: rN is current
std::optional<std::uint64_t> parse_up_to_date(const std::string& output);  // up to date at rN

// Writes `content` to `path` (parents created), replacing what is there.
void write_file(const std::filesystem::path& path, const std::string& content);
std::string read_file(const std::filesystem::path& path);
// `s` without the newlines and spaces at its end (a command's one line of output).
std::string trimmed(std::string s);

// Sets `key = value` in a config file: replaces the line that sets it, else appends one.
void set_key(const std::filesystem::path& config, const std::string& key, const std::string& value);

// The lines of `text` without their newlines (a last line without one counts).
std::vector<std::string> lines_of(const std::string& text);
bool contains(const std::string& text, const std::string& part);

// Differences between the primary's tree and a peer's, as diff_trees lines.
std::vector<std::string> differences(const std::filesystem::path& primary, const std::filesystem::path& peer);

}  // namespace depsync::e2e

// Requires that a run succeeded, showing its output when it did not.
#define REQUIRE_SUCCESS(run_expression)                                 \
    do {                                                                \
        const ::depsync::testing::ProcessResult& r_ = (run_expression); \
        INFO(::depsync::e2e::describe(r_));                             \
        REQUIRE(r_.exit_code == 0);                                     \
    } while (false)
