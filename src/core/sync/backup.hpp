#pragma once
// Backups of local changes: before a pull overwrites or removes a file that differs from the deployed
// release, the file is saved to STATE/backup/<YYYYmmdd-HHMMSS>-<label>/<path>. A hard link where the state
// folder shares the directory's file system (free), else a copy that keeps holes (a sparse file costs what
// its data costs). Copies are bounded by `backup_max_bytes` and by the free space of the state folder's file
// system, both checked before anything visible changes; a copy that fails is removed, never left partial.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/sync/settings.hpp"

namespace depsync::sync {

// The backups one run saves into one folder. Saving happens while an apply is staged, before its first
// visible change; when the apply fails, discard() removes what was saved.
class Backup {
  public:
    Backup(std::filesystem::path dir, std::uint64_t max_copy_bytes);

    // Accounts for saving the entry `name` of folder `dfd` (release path `rel`, shown as `shown`): throws
    // when its backup path is longer than the system allows, or when copying it would take this run's
    // copies over the bound. Changes nothing.
    void plan(int dfd, const std::string& name, const std::string& rel, const std::filesystem::path& shown);
    // Throws when the copies planned so far do not fit in the free space of the backup's file system.
    void check_space() const;
    // Saves the entry (a folder or a missing entry is skipped). A failed copy is removed before the throw.
    void save(int dfd, const std::string& name, const std::string& rel, const std::filesystem::path& shown);
    // Flushes what was saved to disk: the originals are about to go.
    void sync() const;
    // Removes everything this run saved (the folder itself when this run created it).
    void discard() noexcept;

    const std::filesystem::path& dir() const { return m_dir; }
    bool used() const { return m_created || !m_saved.empty(); }

  private:
    std::filesystem::path m_dir;
    std::uint64_t m_max_copy_bytes;
    std::uint64_t m_copy_bytes = 0;    // apparent sizes of the files planned to be copied (the bound)
    std::uint64_t m_copy_alloc = 0;    // what those copies allocate (the space check)
    std::filesystem::path m_fs_probe;  // the nearest existing folder at or above m_dir
    dev_t m_dev = 0;
    bool m_created = false;
    std::vector<std::filesystem::path> m_saved;

    void find_file_system();
    void create_dir();
};

// A folder name for a new backup that no earlier run used: STATE/backup/<time>-<label>[-N].
std::filesystem::path new_backup_dir(const Settings& settings, const std::string& label);

// Removes the oldest backups so that settings.backup_keep remain, counting this run's; the backups this run
// made (`this_run`) are never removed, so backup_keep = 0 keeps only this run's.
void prune_backups(const Settings& settings, const std::vector<std::filesystem::path>& this_run = {});

struct BackupInfo {
    std::filesystem::path path;
    std::size_t files = 0;
    std::uint64_t bytes = 0;
};
// Saved backups, oldest first.
std::vector<BackupInfo> list_backups(const Settings& settings);

}  // namespace depsync::sync
