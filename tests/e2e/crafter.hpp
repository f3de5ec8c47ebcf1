#pragma once
// Crafting release objects by hand in a bare repository, with the git CLI (`hash-object --literally` writes
// what git itself would refuse): hostile trees, odd modes, unsorted or duplicated entries, forged commit
// messages. Used by the hostile-repository tests.

#include <filesystem>
#include <string>
#include <vector>

namespace depsync::e2e {

inline const char* const tree_mode = "40000";
inline const char* const blob_mode = "100644";
inline const char* const exec_mode = "100755";
inline const char* const link_mode = "120000";
inline const char* const gitlink_mode = "160000";

// One entry of a raw tree object, written as git stores it: "<mode> <name>\0<20-byte id>".
struct RawEntry {
    std::string mode;
    std::string name;
    std::string id;  // 40 hex digits
};

// Runs git (no user or system config); throws std::runtime_error when it fails. Returns stdout's first line.
std::string checked_git(const std::vector<std::string>& args);

class Crafter {
  public:
    Crafter(std::filesystem::path repo, std::filesystem::path scratch);

    // A blob holding exactly `content` (NUL bytes included).
    std::string blob(const std::string& content);
    // A tree with exactly `entries`, sorted as git sorts them (a folder as if its name ended in '/'),
    // duplicates and invalid names kept.
    std::string tree(std::vector<RawEntry> entries);
    // A tree with `entries` in the order given (an unsorted tree when they are not in git's order).
    std::string tree_as_is(const std::vector<RawEntry>& entries);
    // An object of any type with the raw `content` ("tree" with a malformed body, say).
    std::string object(const std::string& type, const std::string& content);

    // The entries of an existing tree.
    std::vector<RawEntry> entries_of(const std::string& tree_id);
    // `base` with `extra` added to the folder at `dir` ("" for the root; every folder on the way must exist).
    std::string with_entries(const std::string& base, const std::string& dir,
                             const std::vector<RawEntry>& extra);

    // A commit of `tree_id` on top of `parent` with `message`; not moving any ref.
    std::string commit(const std::string& tree_id, const std::string& parent,
                       const std::string& message = "crafted release");
    // Makes `tree_id` the release branch's tip, as a plain commit on top of `parent`.
    std::string publish(const std::string& tree_id, const std::string& parent,
                        const std::string& message = "crafted release");
    std::string rev(const std::string& what);

    const std::filesystem::path& repo() const { return m_repo; }

  private:
    std::filesystem::path m_repo;
    std::filesystem::path m_scratch;
    int m_count = 0;

    std::filesystem::path next_file();
};

}  // namespace depsync::e2e
