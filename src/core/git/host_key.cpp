#include "core/git/host_key.hpp"

#include <openssl/evp.h>

#include <sstream>
#include <vector>

#include "core/fs/child_process.hpp"

namespace depsync::git {
namespace {

// The key types in the order OpenSSH's client prefers them.
int preference(const std::string& type) {
    if (type == "ssh-ed25519") return 0;
    if (type.rfind("ecdsa-sha2-", 0) == 0) return 1;
    if (type == "ssh-rsa" || type.rfind("rsa-sha2-", 0) == 0) return 2;
    return 3;
}

}  // namespace

std::string sha256_fingerprint(const std::string& base64_key) {
    std::vector<unsigned char> blob(base64_key.size() / 4 * 3 + 3);
    int n = EVP_DecodeBlock(blob.data(), reinterpret_cast<const unsigned char*>(base64_key.data()),
                            static_cast<int>(base64_key.size()));
    if (n < 0 || base64_key.empty() || base64_key.size() % 4 != 0) return "";
    std::size_t size = static_cast<std::size_t>(n);
    for (auto it = base64_key.rbegin(); it != base64_key.rend() && *it == '='; ++it) --size;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_Digest(blob.data(), size, md, &md_len, EVP_sha256(), nullptr);
    std::vector<unsigned char> text(4 * ((md_len + 2) / 3) + 1);
    EVP_EncodeBlock(text.data(), md, static_cast<int>(md_len));
    std::string out(reinterpret_cast<const char*>(text.data()));
    while (!out.empty() && out.back() == '=') out.pop_back();
    return "SHA256:" + out;
}

std::optional<std::string> explain_host_key_failure(const std::string& host, int port,
                                                    const std::filesystem::path& known_hosts,
                                                    int timeout_seconds) {
    const std::string name = port == 0 || port == 22 ? host : "[" + host + "]:" + std::to_string(port);
    fs::ChildResult scan = fs::run_child({{"ssh-keyscan", "-T", std::to_string(timeout_seconds), "-p",
                                           std::to_string(port == 0 ? 22 : port), "--", host},
                                          {},
                                          fs::Secrets::drop},
                                         timeout_seconds + 5, 256 * 1024);
    std::string type, key;
    std::istringstream lines(scan.out);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::string listed, t, k;
        if (line.empty() || line[0] == '#' || !(words >> listed >> t >> k)) continue;
        if (key.empty() || preference(t) < preference(type)) type = t, key = k;
    }
    if (key.empty()) return std::nullopt;
    const std::string fingerprint = sha256_fingerprint(key);
    const std::string file = known_hosts.string();
    // Hashed entries included: ssh-keygen -F finds the host however the file records it.
    fs::ChildResult listed =
        fs::run_child({{"ssh-keygen", "-F", name, "-f", file}, {}, fs::Secrets::drop}, 10, 64 * 1024);
    if (listed.error.empty() && listed.exit.exit_code == 0)
        return "HOST KEY CHANGED for " + name + "! It presents the " + type + " key " + fingerprint +
               ", which is not the one recorded in " + file +
               ". Someone may be intercepting the connection. If the key was rotated on purpose, replace the "
               "entry for " +
               name + " in " + file + " (ssh-keygen -R '" + name + "' -f " + file + ")";
    return "unknown ssh host " + name + ": its " + type + " key fingerprint is " + fingerprint +
           ". If that is right, add this line to " + file + ": " + name + " " + type + " " + key;
}

}  // namespace depsync::git
