#include "core/git/tls_check.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <memory>

namespace depsync::git {
namespace {

std::string time_text(const ASN1_TIME* t) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (!bio || ASN1_TIME_print(bio.get(), t) != 1) return "?";
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

// "DNS:a, IP:1.2.3.4" from the subjectAltName, else "CN=..." of the subject.
std::string names_of(X509* x509) {
    std::string out;
    auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x509, NID_subject_alt_name, nullptr, nullptr));
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
        const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
        std::string one;
        if (n->type == GEN_DNS) {
            one = "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                                       static_cast<std::size_t>(ASN1_STRING_length(n->d.dNSName)));
        } else if (n->type == GEN_IPADD) {
            char text[INET6_ADDRSTRLEN] = "?";
            int len = ASN1_STRING_length(n->d.iPAddress);
            const unsigned char* raw = ASN1_STRING_get0_data(n->d.iPAddress);
            if (len == 4 || len == 16) ::inet_ntop(len == 4 ? AF_INET : AF_INET6, raw, text, sizeof text);
            one = std::string("IP:") + text;
        }
        if (one.empty()) continue;
        // Names come from the server: keep them printable.
        for (char& c : one)
            if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
        out += (out.empty() ? "" : ", ") + one;
    }
    GENERAL_NAMES_free(names);
    if (!out.empty()) return out;
    char cn[256] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(x509), NID_commonName, cn, sizeof cn);
    out = std::string("CN=") + cn;
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
    return out;
}

}  // namespace

std::string certificate_problem(const git_cert_x509& cert, const std::string& host_in,
                                const std::filesystem::path& ca_file) {
    std::string host = host_in;
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    const auto* der = static_cast<const unsigned char*>(cert.data);
    std::unique_ptr<X509, decltype(&X509_free)> x509(d2i_X509(nullptr, &der, static_cast<long>(cert.len)),
                                                     &X509_free);
    std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), &X509_STORE_free);
    std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                        &X509_STORE_CTX_free);
    if (!x509) return "cannot be read";
    std::string trust = ca_file.empty()
                            ? "a CA this system trusts (for a private CA set 'ca_file' in the config)"
                            : "a CA in ca_file " + ca_file.string();
    bool loaded = store && ctx &&
                  (ca_file.empty() ? X509_STORE_set_default_paths(store.get())
                                   : X509_STORE_load_file(store.get(), ca_file.c_str())) == 1;
    if (!loaded) {
        ERR_clear_error();
        return "is not trusted: cannot load " + (ca_file.empty() ? std::string("the system's CAs") : trust);
    }
    bool chain_ok = X509_STORE_CTX_init(ctx.get(), store.get(), x509.get(), nullptr) == 1 &&
                    X509_STORE_CTX_set_default(ctx.get(), "ssl_server") == 1 &&
                    X509_verify_cert(ctx.get()) == 1;
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    if (!chain_ok) {
        switch (err) {
            case X509_V_ERR_CERT_HAS_EXPIRED:
                return "has expired (valid until " + time_text(X509_get0_notAfter(x509.get())) + ")";
            case X509_V_ERR_CERT_NOT_YET_VALID:
                return "is not valid yet (valid from " + time_text(X509_get0_notBefore(x509.get())) + ")";
            default:
                return "is not trusted: it is not issued by " + trust + " (" +
                       X509_verify_cert_error_string(err) + ")";
        }
    }
    unsigned char address[16];
    bool is_address =
        ::inet_pton(AF_INET, host.c_str(), address) == 1 || ::inet_pton(AF_INET6, host.c_str(), address) == 1;
    int named = is_address ? X509_check_ip_asc(x509.get(), host.c_str(), 0)
                           : X509_check_host(x509.get(), host.c_str(), host.size(), 0, nullptr);
    ERR_clear_error();
    if (named != 1) return "is issued for " + names_of(x509.get()) + ", not for " + host;
    return {};
}

}  // namespace depsync::git
