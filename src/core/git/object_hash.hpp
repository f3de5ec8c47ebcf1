#pragma once
// An object's id computed as git computes it, with OpenSSL's SHA-1: "<type> <size>\0", then the content.

#include <git2.h>
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace depsync::git {

class ObjectHash {
  public:
    // Hashes the header of an object of `type` and `size` bytes; the content follows through update().
    ObjectHash(git_object_t type, std::uint64_t size);
    // The bare digest of whatever update() is given (no header): a pack's trailer.
    ObjectHash();
    void update(const void* data, std::size_t len);
    // The id; call once.
    git_oid finish();
    // Whether the id is `id`; call once, instead of finish().
    bool matches(const git_oid& id);

  private:
    struct Free {
        void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
    };
    std::unique_ptr<EVP_MD_CTX, Free> m_ctx;
};

}  // namespace depsync::git
