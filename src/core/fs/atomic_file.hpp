#pragma once
// Small files (config, state, journal, caches) replaced atomically: written to a temp file beside the target,
// fsynced, renamed over it, and the folder fsynced. A reader sees the old content or the new, never a mix.

#include <filesystem>
#include <optional>
#include <string>

namespace depsync::fs {

enum class Fsync { yes, no };

void write_file_atomically(const std::filesystem::path& path, const std::string& content,
                           unsigned mode = 0644, Fsync fsync = Fsync::yes);

// The whole content of a file, or nullopt when it does not exist. Other errors throw.
std::optional<std::string> read_file(const std::filesystem::path& path);

// Creates the folder and its parents with `mode` for the ones it creates.
void create_directories(const std::filesystem::path& path, unsigned mode = 0755);

}  // namespace depsync::fs
