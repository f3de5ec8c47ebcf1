#pragma once
// Headless Chromium for the tests that look at the HTML cluster page: found in PATH, run bounded by a
// timeout, without the sandbox (the tests may run as root) and with its own profile folder, never the user's.

#include <filesystem>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace depsync::e2e {

// The first of Debian's and others' names for a Chromium binary found in PATH; empty when there is none.
std::string find_chromium();

class HeadlessChromium {
  public:
    // `binary` from find_chromium; the profile lives in `profile` (created by Chromium).
    HeadlessChromium(std::string binary, std::filesystem::path profile);

    // Chromium with `extra` options on file://`page`, killed after two minutes.
    testing::ProcessResult run(const std::vector<std::string>& extra,
                               const std::filesystem::path& page) const;
    // The DOM after the page's load (its inline scripts have run) in a window `width` x `height`.
    testing::ProcessResult dump_dom(const std::filesystem::path& page, int width, int height) const;
    // A PNG of the window's `width` x `height` view of the page, written to `png`.
    testing::ProcessResult screenshot(const std::filesystem::path& page, int width, int height,
                                      const std::filesystem::path& png) const;

  private:
    std::string m_binary;
    std::filesystem::path m_profile;
};

}  // namespace depsync::e2e
