#pragma once
// A second look, with OpenSSL, at a server certificate libgit2's TLS library (mbedTLS 2.28 here) did not
// accept: whether it is right after all (an IP address named only as an IP subjectAltName, which mbedTLS
// cannot match), and if not, why, in operator terms: expired, not valid yet, issued for other names, or not
// issued by a trusted CA.

#include <git2.h>

#include <filesystem>
#include <string>

namespace depsync::git {

// Empty when `cert` is valid for `host` (issued by a CA in `ca_file`, else the system's, valid now, for TLS
// servers, naming `host`); otherwise the reason, a sentence fragment ("has expired on ...").
std::string certificate_problem(const git_cert_x509& cert, const std::string& host,
                                const std::filesystem::path& ca_file);

}  // namespace depsync::git
