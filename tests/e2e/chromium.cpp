#include "chromium.hpp"

namespace depsync::e2e {

namespace dt = depsync::testing;

std::string find_chromium() {
    for (const char* name : {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"})
        if (dt::run({"sh", "-c", std::string("command -v ") + name}).exit_code == 0) return name;
    return "";
}

HeadlessChromium::HeadlessChromium(std::string binary, std::filesystem::path profile)
    : m_binary(std::move(binary)), m_profile(std::move(profile)) {}

dt::ProcessResult HeadlessChromium::run(const std::vector<std::string>& extra,
                                        const std::filesystem::path& page) const {
    std::vector<std::string> argv = {"timeout",
                                     "120",
                                     m_binary,
                                     "--headless",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--disable-quic",
                                     "--no-first-run",
                                     "--disable-background-networking",
                                     "--disable-component-update",
                                     "--disable-sync",
                                     "--user-data-dir=" + m_profile.string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("file://" + page.string());
    return dt::run(argv);
}

namespace {
std::string window_size(int width, int height) {
    return "--window-size=" + std::to_string(width) + "," + std::to_string(height);
}
}  // namespace

dt::ProcessResult HeadlessChromium::dump_dom(const std::filesystem::path& page, int width, int height) const {
    return run({"--dump-dom", window_size(width, height)}, page);
}

dt::ProcessResult HeadlessChromium::screenshot(const std::filesystem::path& page, int width, int height,
                                               const std::filesystem::path& png) const {
    return run({window_size(width, height), "--screenshot=" + png.string()}, page);
}

}  // namespace depsync::e2e
