#include "core/git/blob_stream.hpp"

#include <git2/sys/odb_backend.h>

#include <vector>

#include "core/error.hpp"
#include "core/git/handle.hpp"
#include "core/git/object_hash.hpp"

namespace depsync::git {
namespace {

// A file entry naming a tree (or anything but a blob) is a malformed release, not damage to this copy: an
// Error, not an ObjectError (which would have the copy fetched again, in vain).
void require_blob(const git_oid& id, git_object_t type) {
    if (type == GIT_OBJECT_BLOB) return;
    throw Error("release refused: a file entry names " + std::string(git_object_type2string(type)) +
                " object " + short_hex(id) + ", not a file's content; nothing was applied");
}

}  // namespace

std::uint64_t blob_size(git_odb* odb, const git_oid& id) {
    std::size_t len = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    check_object(git_odb_read_header(&len, &type, odb, &id), "read object " + short_hex(id));
    require_blob(id, type);
    return len;
}

void read_blob(git_odb* odb, const git_oid& id, const std::function<void(const char*, std::size_t)>& sink) {
    git_odb_stream* stream = nullptr;
    std::size_t len = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    if (git_odb_open_rstream(&stream, &len, &type, odb, &id) == 0) {
        if (type != GIT_OBJECT_BLOB) {
            git_odb_stream_free(stream);
            require_blob(id, type);
        }
        // Reused across blobs: a fresh megabyte per file costs more than the copy itself for small files.
        thread_local std::vector<char> buf(1 << 20);
        // libgit2 checks an object read whole against its id, never a stream: a loose file whose content is
        // not the object it is named after (written in place on the primary, then hard-linked by a local
        // fetch) would be applied as the release, signed or not. Checked here, before the caller's write
        // becomes visible.
        ObjectHash hash(GIT_OBJECT_BLOB, len);
        std::size_t total = 0;
        for (;;) {
            int n = git_odb_stream_read(stream, buf.data(), buf.size());
            if (n < 0) {
                std::string err = last_error_text();
                git_odb_stream_free(stream);
                throw ObjectError("cannot read object " + short_hex(id) + ": " + err);
            }
            if (n == 0) break;
            hash.update(buf.data(), static_cast<std::size_t>(n));
            sink(buf.data(), static_cast<std::size_t>(n));
            total += static_cast<std::size_t>(n);
        }
        git_odb_stream_free(stream);
        if (total != len) throw ObjectError("cannot read object " + short_hex(id) + ": truncated");
        if (!hash.matches(id))
            throw ObjectError("cannot read object " + short_hex(id) + ": its content does not match its id");
        return;
    }
    git_error_clear();
    git_odb_object* obj = nullptr;
    check_object(git_odb_read(&obj, odb, &id), "read object " + short_hex(id));
    OdbObjectPtr owned(obj);
    require_blob(id, git_odb_object_type(obj));
    sink(static_cast<const char*>(git_odb_object_data(obj)), git_odb_object_size(obj));
}

std::string read_small_blob(git_odb* odb, const git_oid& id) {
    std::string out;
    read_blob(odb, id, [&](const char* data, std::size_t len) { out.append(data, len); });
    return out;
}

}  // namespace depsync::git
