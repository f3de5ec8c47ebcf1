#include "core/git/signing.hpp"

#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"
#include "core/fs/command.hpp"
#include "core/git/handle.hpp"
#include "core/git/transport.hpp"

namespace depsync::git {
namespace {

std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// Temp files named after this process, removed when the scope ends.
struct TempFiles {
    std::filesystem::path base;
    explicit TempFiles(const std::filesystem::path& dir) : base(dir / ("sig." + std::to_string(::getpid()))) {
        fs::create_directories(dir, 0700);
    }
    std::filesystem::path with(const char* suffix) const { return base.string() + suffix; }
    ~TempFiles() {
        std::error_code ec;
        for (const char* s : {".data", ".data.sig", ".sig"}) std::filesystem::remove(with(s), ec);
    }
};

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// A private key that cannot be used without its passphrase: a PEM key marked ENCRYPTED, or an OpenSSH key
// whose cipher is not "none".
bool needs_passphrase(const std::string& key_text) {
    std::istringstream in(key_text);
    std::string line, body;
    bool openssh = false;
    while (std::getline(in, line)) {
        if (line.rfind("-----BEGIN ENCRYPTED", 0) == 0 || line.rfind("Proc-Type: 4,ENCRYPTED", 0) == 0)
            return true;
        if (line.rfind("-----BEGIN OPENSSH PRIVATE KEY", 0) == 0) openssh = true;
        if (openssh && !line.empty() && line[0] != '-') body += line;
    }
    // The body begins "openssh-key-v1\0", then the cipher name as a 32-bit big-endian length and its bytes.
    const std::string magic("openssh-key-v1\0", 15);
    if (!openssh || body.size() < 64) return false;
    unsigned char raw[48];
    if (EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(body.data()), 64) != 48) return false;
    if (std::memcmp(raw, magic.data(), magic.size()) != 0) return false;
    std::size_t len = (std::size_t{raw[15]} << 24) | (std::size_t{raw[16]} << 16) |
                      (std::size_t{raw[17]} << 8) | std::size_t{raw[18]};
    return len != 4 || std::memcmp(raw + 19, "none", 4) != 0;
}

// Throws Error(usage) naming the file unless allowed_signers is a readable file.
void require_allowed_signers(const std::filesystem::path& file) {
    std::error_code ec;
    std::string why;
    if (!std::filesystem::exists(file, ec)) {
        why = "does not exist";
    } else if (!std::filesystem::is_regular_file(file, ec)) {
        why = "is not a file";
    } else if (::access(file.c_str(), R_OK) != 0) {
        why = std::string("cannot be read: ") + std::strerror(errno);
    } else {
        return;
    }
    throw Error("cannot check release signatures: allowed_signers file " + file.string() + " " + why +
                    " (set allowed_signers to the file of trusted keys, in git's allowed-signers format)",
                ExitCode::usage);
}

}  // namespace

void check_signing_key(const std::filesystem::path& key) {
    if (::access(key.c_str(), R_OK) != 0)
        throw Error("cannot sign releases: signing key " + key.string() + " cannot be read", ExitCode::usage);
    std::string type = ssh_key_type(key);
    if (type != "ssh-ed25519" && type.rfind("ecdsa", 0) != 0)
        throw Error("cannot sign releases with " + key.string() + ": its type is " +
                        (type.empty() ? std::string("unknown") : type) + "; use an ed25519 or ecdsa key",
                    ExitCode::usage);
    auto text = fs::read_file(key);
    if (text && needs_passphrase(*text))
        throw Error("cannot sign releases with " + key.string() +
                        ": the key is protected by a passphrase, which nobody is there to type when depsync "
                        "runs from cron or systemd; use a key without one (ssh-keygen -p -N '' -f " +
                        key.string() + " removes it)",
                    ExitCode::usage);
}

std::string ssh_public_key(const std::filesystem::path& key) {
    fs::CommandResult run =
        fs::run_command("ssh-keygen -y -f " + quote(key.string()) + " 2>/dev/null", {}, 60);
    std::istringstream in(run.output);
    std::string type, body;
    in >> type >> body;
    if (!run.ok() || body.empty() || (type.rfind("ssh-", 0) != 0 && type.rfind("ecdsa-", 0) != 0))
        throw Error("cannot read the public half of signing key " + key.string() + ": " + trim(run.output),
                    ExitCode::usage);
    return type + " " + body;
}

std::string ssh_sign(const std::string& data, const std::filesystem::path& key,
                     const std::filesystem::path& workdir) {
    TempFiles tmp(workdir);
    fs::write_file_atomically(tmp.with(".data"), data, 0600, fs::Fsync::no);
    fs::CommandResult run = fs::run_command(
        "ssh-keygen -q -Y sign -n git -f " + quote(key.string()) + " " + quote(tmp.with(".data").string()),
        {}, 60);
    if (!run.ok()) throw Error("cannot sign the release with " + key.string() + ": " + trim(run.output));
    auto sig = fs::read_file(tmp.with(".data.sig"));
    if (!sig) throw Error("cannot sign the release: ssh-keygen wrote no signature");
    return *sig;
}

bool is_signed(git_repository* repo, const git_oid& commit) {
    git_buf sig = GIT_BUF_INIT, data = GIT_BUF_INIT;
    git_oid id = commit;  // libgit2 1.5 takes a non-const id
    int rc = git_commit_extract_signature(&sig, &data, repo, &id, nullptr);
    git_buf_dispose(&sig);
    git_buf_dispose(&data);
    git_error_clear();
    return rc == 0;
}

SignatureCheck verify_commit_signature(git_repository* repo, const git_oid& commit,
                                       const std::filesystem::path& allowed_signers,
                                       const std::filesystem::path& workdir) {
    require_allowed_signers(allowed_signers);
    SignatureCheck result;
    git_buf signature = GIT_BUF_INIT;
    git_buf signed_data = GIT_BUF_INIT;
    git_oid id = commit;
    int rc = git_commit_extract_signature(&signature, &signed_data, repo, &id, "gpgsig");
    if (rc == GIT_ENOTFOUND) {
        git_error_clear();
        return result;
    }
    check_object(rc, "read the signature of " + short_hex(commit));
    std::string sig(signature.ptr, signature.size), data(signed_data.ptr, signed_data.size);
    git_buf_dispose(&signature);
    git_buf_dispose(&signed_data);
    if (sig.find("-----BEGIN SSH SIGNATURE-----") == std::string::npos) {
        result.state = SignatureState::bad;
        result.detail = "not an ssh signature";
        return result;
    }
    TempFiles tmp(workdir);
    fs::write_file_atomically(tmp.with(".sig"), sig, 0600, fs::Fsync::no);
    fs::write_file_atomically(tmp.with(".data"), data, 0600, fs::Fsync::no);
    fs::CommandResult who =
        fs::run_command("ssh-keygen -Y find-principals -s " + quote(tmp.with(".sig").string()) + " -f " +
                            quote(allowed_signers.string()) + " 2>/dev/null",
                        {}, 60);
    if (!who.ok()) {
        result.state = SignatureState::unknown_key;
        result.detail = "signed by a key not in " + allowed_signers.string();
        return result;
    }
    result.principal = trim(who.output.substr(0, who.output.find('\n')));
    fs::CommandResult check =
        fs::run_command("ssh-keygen -Y verify -n git -f " + quote(allowed_signers.string()) + " -I " +
                            quote(result.principal) + " -s " + quote(tmp.with(".sig").string()) + " < " +
                            quote(tmp.with(".data").string()),
                        {}, 60);
    result.state = check.ok() ? SignatureState::good : SignatureState::bad;
    if (!check.ok()) result.detail = "the signature does not match the commit: " + trim(check.output);
    return result;
}

const char* signature_state_name(SignatureState state) {
    switch (state) {
        case SignatureState::unsigned_commit:
            return "unsigned";
        case SignatureState::good:
            return "good";
        case SignatureState::unknown_key:
            return "unknown key";
        case SignatureState::bad:
            return "bad";
    }
    return "?";
}

}  // namespace depsync::git
