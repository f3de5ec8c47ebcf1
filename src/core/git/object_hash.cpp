#include "core/git/object_hash.hpp"

#include <string>

#include "core/error.hpp"

namespace depsync::git {

ObjectHash::ObjectHash() : m_ctx(EVP_MD_CTX_new()) {
    if (!m_ctx || EVP_DigestInit_ex(m_ctx.get(), EVP_sha1(), nullptr) != 1) throw Error("cannot start SHA-1");
}

ObjectHash::ObjectHash(git_object_t type, std::uint64_t size) : ObjectHash() {
    const std::string head = std::string(git_object_type2string(type)) + " " + std::to_string(size);
    update(head.c_str(), head.size() + 1);  // the terminating NUL is part of the header
}

void ObjectHash::update(const void* data, std::size_t len) {
    EVP_DigestUpdate(m_ctx.get(), data, len);
}

git_oid ObjectHash::finish() {
    unsigned char md[EVP_MAX_MD_SIZE] = {};
    unsigned int len = 0;
    EVP_DigestFinal_ex(m_ctx.get(), md, &len);
    git_oid oid{};
    git_oid_fromraw(&oid, md);
    return oid;
}

bool ObjectHash::matches(const git_oid& id) {
    git_oid got = finish();
    return git_oid_equal(&got, &id) != 0;
}

}  // namespace depsync::git
