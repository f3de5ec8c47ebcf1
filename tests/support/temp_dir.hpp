#pragma once
// A fresh folder under /tmp for one test, removed with everything in it when the test ends.
// Set DEPSYNC_KEEP_TEMP=1 to keep it for inspection (its path is printed on stderr).

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace depsync::testing {

class TempDir {
  public:
    TempDir() {
        std::string pattern = "/tmp/depsync-test-XXXXXX";
        std::vector<char> buffer(pattern.begin(), pattern.end());
        buffer.push_back('\0');
        if (::mkdtemp(buffer.data()) == nullptr) {
            throw std::runtime_error(std::string("cannot create temp dir: ") + std::strerror(errno));
        }
        m_path = buffer.data();
    }

    ~TempDir() {
        if (m_path.empty()) return;
        if (std::getenv("DEPSYNC_KEEP_TEMP") != nullptr) {
            std::cerr << "keeping temp dir " << m_path.string() << "\n";
            return;
        }
        // Tests may leave read-only folders behind; make them writable so removal cannot fail half-way.
        std::error_code ec;
        for (auto it = std::filesystem::recursive_directory_iterator(
                 m_path, std::filesystem::directory_options::skip_permission_denied, ec);
             !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
            if (it->is_directory(ec) && !it->is_symlink(ec)) {
                std::filesystem::permissions(it->path(), std::filesystem::perms::owner_all,
                                             std::filesystem::perm_options::add, ec);
            }
        }
        std::filesystem::remove_all(m_path, ec);
    }

    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    TempDir(TempDir&&) = delete;
    TempDir& operator=(TempDir&&) = delete;

    const std::filesystem::path& path() const { return m_path; }
    std::filesystem::path operator/(const std::string& relative) const { return m_path / relative; }

  private:
    std::filesystem::path m_path;
};

}  // namespace depsync::testing
