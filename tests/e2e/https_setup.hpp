#pragma once
// Helpers of the https tests: config keys set in a node's config file, and secrets nobody could mistake for
// other text.

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "cluster.hpp"

namespace depsync::e2e {

inline std::string in_quotes(const std::string& s) {
    return "\"" + s + "\"";
}

// Sets config keys of a node: the line of a key already there is replaced, other keys are appended, and the
// file becomes mode 600, as depsync requires of a config naming a credentials file.
inline void set_config(const std::filesystem::path& config,
                       const std::vector<std::pair<std::string, std::string>>& keys) {
    std::ifstream in(config);
    std::string line, text;
    std::vector<bool> done(keys.size(), false);
    while (std::getline(in, line)) {
        for (std::size_t i = 0; i < keys.size(); ++i) {
            if (line.rfind(keys[i].first + " =", 0) == 0) {
                line = keys[i].first + " = " + keys[i].second;
                done[i] = true;
            }
        }
        text += line + "\n";
    }
    for (std::size_t i = 0; i < keys.size(); ++i)
        if (!done[i]) text += keys[i].first + " = " + keys[i].second + "\n";
    write_file(config, text);
    std::filesystem::permissions(config,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// A secret nobody could mistake for other text, so finding it anywhere is a leak.
inline std::string make_token() {
    static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    std::random_device device;
    std::string token = "dstok_";
    for (int i = 0; i < 32; ++i) token += alphabet[device() % (sizeof alphabet - 1)];
    return token;
}

}  // namespace depsync::e2e
