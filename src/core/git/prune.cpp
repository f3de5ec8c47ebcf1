#include "core/git/prune.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/git/handle.hpp"
#include "core/git/object_hash.hpp"
#include "core/git/repository.hpp"
#include "core/progress.hpp"

namespace depsync::git {
namespace {

namespace stdfs = std::filesystem;

stdfs::path objects_dir(git_repository* repo) {
    return repository_dir(repo) / "objects";
}

class Walker {
  public:
    explicit Walker(git_repository* repo) : m_repo(repo) {}

    void add_root(const git_oid& id, bool must_exist) {
        git_object* raw = nullptr;
        int rc = git_object_lookup(&raw, m_repo, &id, GIT_OBJECT_ANY);
        if (rc == GIT_ENOTFOUND && !must_exist) {
            git_error_clear();
            return;
        }
        check_object(rc, "read object " + short_hex(id));
        ObjectPtr obj(raw);
        while (git_object_type(obj.get()) == GIT_OBJECT_TAG) {
            m_seen.insert(*git_object_id(obj.get()));
            git_object* target = nullptr;
            check_object(git_tag_target(&target, reinterpret_cast<git_tag*>(obj.get())),
                         "read the target of tag " + short_hex(*git_object_id(obj.get())));
            obj.reset(target);
        }
        const git_oid* oid = git_object_id(obj.get());
        switch (git_object_type(obj.get())) {
            case GIT_OBJECT_COMMIT:
                m_commits.push_back(*oid);
                break;
            case GIT_OBJECT_TREE:
                add_tree(*oid);
                break;
            default:
                m_seen.insert(*oid);
                break;
        }
    }

    OidSet finish() {
        if (m_commits.empty()) return std::move(m_seen);
        git_revwalk* raw = nullptr;
        check(git_revwalk_new(&raw, m_repo), "walk history");
        RevwalkPtr walk(raw);
        for (const git_oid& c : m_commits) check_object(git_revwalk_push(walk.get(), &c), "walk history");
        git_oid id;
        int rc;
        while ((rc = git_revwalk_next(&id, walk.get())) == 0) {
            m_seen.insert(id);
            CommitPtr commit;
            git_commit* c = nullptr;
            check_object(git_commit_lookup(&c, m_repo, &id), "read commit " + short_hex(id));
            commit.reset(c);
            add_tree(*git_commit_tree_id(commit.get()));
        }
        if (rc != GIT_ITEROVER) check_object(rc, "walk history");
        return std::move(m_seen);
    }

  private:
    git_repository* m_repo;
    OidSet m_seen;
    std::vector<git_oid> m_commits;

    void add_tree(const git_oid& id) {
        if (!m_seen.insert(id).second) return;
        git_tree* raw = nullptr;
        if (git_tree_lookup(&raw, m_repo, &id) < 0) {
            // An entry of folder mode naming another type, or a tree libgit2 cannot parse (a hostile
            // release): kept as it is, nothing below it. Only a missing object stops the prune.
            std::string err = last_error_text();
            if (!git_odb_exists(open_odb(m_repo).get(), &id))
                throw ObjectError("cannot read tree " + short_hex(id) + ": " + err);
            return;
        }
        TreePtr tree(raw);
        for (std::size_t i = 0, n = git_tree_entrycount(tree.get()); i < n; ++i) {
            const git_tree_entry* e = git_tree_entry_byindex(tree.get(), i);
            if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
                add_tree(*git_tree_entry_id(e));
            else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB)
                m_seen.insert(*git_tree_entry_id(e));
            // Submodule links name commits of other repositories.
        }
    }
};

struct LooseObject {
    git_oid id;
    stdfs::path path;
};

bool hex_name(const std::string& s, std::size_t len) {
    if (s.size() != len) return false;
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// Loose objects whose files existed before `start` (objects written since then are never touched).
std::vector<LooseObject> loose_objects(const stdfs::path& objects, stdfs::file_time_type start) {
    std::vector<LooseObject> out;
    std::error_code ec;
    for (const auto& fan : stdfs::directory_iterator(objects, ec)) {
        std::string prefix = fan.path().filename().string();
        if (!hex_name(prefix, 2) || !fan.is_directory(ec)) continue;
        for (const auto& f : stdfs::directory_iterator(fan.path(), ec)) {
            std::string rest = f.path().filename().string();
            if (!hex_name(rest, GIT_OID_HEXSZ - 2)) continue;
            auto mtime = stdfs::last_write_time(f.path(), ec);
            if (ec || mtime >= start) continue;
            LooseObject o;
            if (git_oid_fromstr(&o.id, (prefix + rest).c_str()) < 0) continue;
            o.path = f.path();
            out.push_back(std::move(o));
        }
    }
    return out;
}

// pack-*.pack files (without a .keep beside them) that existed before the prune.
std::vector<stdfs::path> existing_packs(const stdfs::path& objects) {
    std::vector<stdfs::path> out;
    std::error_code ec;
    for (const auto& f : stdfs::directory_iterator(objects / "pack", ec)) {
        const stdfs::path& p = f.path();
        if (p.extension() != ".pack" || p.filename().string().rfind("pack-", 0) != 0) continue;
        if (stdfs::exists(stdfs::path(p).replace_extension(".keep"), ec)) continue;
        out.push_back(p);
    }
    return out;
}

void remove_pack(const stdfs::path& pack) {
    std::error_code ec;
    // The index goes first: a reader that still finds the index also finds the pack.
    for (const char* ext : {".idx", ".rev", ".bitmap", ".pack"})
        stdfs::remove(stdfs::path(pack).replace_extension(ext), ec);
}

void fsync_path(const stdfs::path& p) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot open " + p.string() + " to flush it");
    int rc = ::fsync(fd);
    ::close(fd);
    if (rc < 0) throw Error("cannot flush " + p.string() + " to disk");
}

// Streams objects as a version 2 pack into libgit2's indexer, which writes pack-<hash>.pack and .idx.
class PackWriter {
  public:
    PackWriter(git_repository* repo, std::size_t count) : m_odb(open_odb(repo)) {
        git_indexer_options opts = GIT_INDEXER_OPTIONS_INIT;
        git_indexer* raw = nullptr;
        stdfs::path dir = objects_dir(repo) / "pack";
        check(git_indexer_new(&raw, dir.c_str(), 0, m_odb.get(), &opts), "start a pack");
        m_indexer.reset(raw);
        m_dir = dir;
        const unsigned char header[12] = {'P',
                                          'A',
                                          'C',
                                          'K',
                                          0,
                                          0,
                                          0,
                                          2,
                                          static_cast<unsigned char>(count >> 24),
                                          static_cast<unsigned char>(count >> 16),
                                          static_cast<unsigned char>(count >> 8),
                                          static_cast<unsigned char>(count)};
        put(header, sizeof header);
    }

    // Returns the object's size.
    std::size_t add(const git_oid& id) {
        git_odb_stream* raw_stream = nullptr;
        std::size_t size = 0;
        git_object_t type = GIT_OBJECT_INVALID;
        // Loose objects are streamed: read whole, libgit2 holds the compressed file and the content at once.
        if (git_odb_open_rstream(&raw_stream, &size, &type, m_odb.get(), &id) == 0) {
            std::unique_ptr<git_odb_stream, void (*)(git_odb_stream*)> stream(raw_stream,
                                                                              git_odb_stream_free);
            // A stream is not checked against its name the way git_odb_read checks it, and the loose file
            // is deleted once the pack is written: a mismatch must stop the prune here.
            ObjectHash hash(type, size);
            std::size_t total = 0;
            write_entry(id, type, size, [&](const unsigned char** data) -> std::size_t {
                if (!stream) return 0;
                int n =
                    git_odb_stream_read(stream.get(), reinterpret_cast<char*>(m_rbuf.data()), m_rbuf.size());
                if (n < 0) check_object(n, "read object " + short_hex(id));
                if (n == 0) {
                    // The stream maps the whole loose file; it goes before the indexer maps the entry back.
                    stream.reset();
                    if (total != size || !hash.matches(id))
                        throw ObjectError("cannot read object " + short_hex(id) +
                                          ": its content does not match");
                    return 0;
                }
                hash.update(m_rbuf.data(), static_cast<std::size_t>(n));
                total += static_cast<std::size_t>(n);
                *data = m_rbuf.data();
                return static_cast<std::size_t>(n);
            });
            return size;
        }
        git_error_clear();
        // Packed objects are read whole (libgit2 1.5 has no streaming reads from packs).
        git_odb_object* raw = nullptr;
        check_object(git_odb_read(&raw, m_odb.get(), &id), "read object " + short_hex(id));
        OdbObjectPtr obj(raw);
        bool given = false;
        write_entry(id, git_odb_object_type(obj.get()), git_odb_object_size(obj.get()),
                    [&](const unsigned char** data) -> std::size_t {
                        if (given) return 0;
                        given = true;
                        *data = static_cast<const unsigned char*>(git_odb_object_data(obj.get()));
                        return git_odb_object_size(obj.get());
                    });
        return git_odb_object_size(obj.get());
    }

    // Writes the trailer, lets the indexer finish, flushes both files; returns the .pack path.
    stdfs::path finish() {
        flush();
        const git_oid trailer = m_sha.finish();
        check(git_indexer_append(m_indexer.get(), trailer.id, GIT_OID_RAWSZ, &m_stats), "write pack");
        check(git_indexer_commit(m_indexer.get(), &m_stats), "index pack");
        stdfs::path pack = m_dir / ("pack-" + std::string(git_indexer_name(m_indexer.get())) + ".pack");
        fsync_path(pack);
        fsync_path(stdfs::path(pack).replace_extension(".idx"));
        fsync_path(m_dir);
        return pack;
    }

  private:
    using IndexerPtr = Handle<git_indexer, git_indexer_free>;
    OdbPtr m_odb;
    ObjectHash m_sha;  // of the pack's bytes: its trailer
    IndexerPtr m_indexer;
    git_indexer_progress m_stats{};  // the indexer keeps its counts here across appends
    stdfs::path m_dir;
    std::vector<unsigned char> m_buf;
    std::vector<unsigned char> m_zbuf = std::vector<unsigned char>(1 << 20);
    std::vector<unsigned char> m_rbuf = std::vector<unsigned char>(1 << 20);

    // Fills `*data` with the next part of an object's content and returns its length; 0 after the last.
    using ChunkSource = std::function<std::size_t(const unsigned char** data)>;

    // One pack entry: the type and size header, then the content deflated as `next` hands it over.
    void write_entry(const git_oid& id, git_object_t type, std::size_t size, const ChunkSource& next) {
        // Entry header: type and size, 4 bits of size in the first byte, then 7 bits per byte.
        unsigned char head[16];
        std::size_t n = 0;
        std::size_t rest = size >> 4;
        head[n++] = static_cast<unsigned char>((rest ? 0x80 : 0) | (static_cast<unsigned>(type) << 4) |
                                               (size & 0x0f));
        while (rest) {
            head[n++] = static_cast<unsigned char>((rest > 0x7f ? 0x80 : 0) | (rest & 0x7f));
            rest >>= 7;
        }
        put(head, n);

        const unsigned char* data = nullptr;
        std::size_t len = next(&data);
        // Archives are stored as they are (deflate gains nothing on them); everything else at level 1.
        const bool compressed =
            len >= 4 && ((data[0] == 'P' && data[1] == 'K' && data[2] == 3 && data[3] == 4) ||
                         (data[0] == 0x1f && data[1] == 0x8b));
        z_stream z{};
        if (deflateInit(&z, compressed ? Z_NO_COMPRESSION : Z_BEST_SPEED) != Z_OK)
            throw Error("cannot start zlib stream");
        std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&z, deflateEnd);
        for (;;) {
            const int flush = len == 0 ? Z_FINISH : Z_NO_FLUSH;
            z.next_in = const_cast<Bytef*>(data);
            z.avail_in = static_cast<uInt>(len);  // objects over 4 GiB are not expected in a deployment
            int rc;
            do {
                z.next_out = m_zbuf.data();
                z.avail_out = static_cast<uInt>(m_zbuf.size());
                rc = deflate(&z, flush);
                if (rc == Z_STREAM_ERROR) throw Error("cannot deflate object " + short_hex(id));
                put(m_zbuf.data(), m_zbuf.size() - z.avail_out);
            } while (flush == Z_FINISH ? rc != Z_STREAM_END : z.avail_out == 0);
            if (flush == Z_FINISH) break;
            len = next(&data);
        }
    }

    void put(const unsigned char* data, std::size_t len) {
        m_buf.insert(m_buf.end(), data, data + len);
        if (m_buf.size() >= (1 << 20)) flush();
    }

    void flush() {
        if (m_buf.empty()) return;
        m_sha.update(m_buf.data(), m_buf.size());
        check(git_indexer_append(m_indexer.get(), m_buf.data(), m_buf.size(), &m_stats), "write pack");
        m_buf.clear();
    }
};

// Objects first by type (commits, trees, blobs, tags), the order git's own packs use.
std::vector<git_oid> in_pack_order(git_repository* repo, const OidSet& ids) {
    OdbPtr odb = open_odb(repo);
    std::array<std::vector<git_oid>, 5> by_type;
    for (const git_oid& id : ids) {
        std::size_t len = 0;
        git_object_t type = GIT_OBJECT_INVALID;
        check_object(git_odb_read_header(&len, &type, odb.get(), &id), "read object " + short_hex(id));
        std::size_t slot = type == GIT_OBJECT_COMMIT ? 0
                           : type == GIT_OBJECT_TREE ? 1
                           : type == GIT_OBJECT_BLOB ? 2
                                                     : 3;
        by_type[slot].push_back(id);
    }
    std::vector<git_oid> out;
    for (auto& v : by_type) out.insert(out.end(), v.begin(), v.end());
    return out;
}

stdfs::path write_pack(git_repository* repo, const OidSet& ids) {
    std::vector<git_oid> order = in_pack_order(repo, ids);
    PackWriter writer(repo, order.size());
    Progress progress("gc: packing", order.size());
    for (const git_oid& id : order) progress.add(1, writer.add(id));
    return writer.finish();
}

}  // namespace

OidSet reachable_objects(git_repository* repo, const std::vector<git_oid>& extra) {
    Walker walker(repo);
    git_reference_iterator* raw_it = nullptr;
    check(git_reference_iterator_new(&raw_it, repo), "list refs");
    std::unique_ptr<git_reference_iterator, void (*)(git_reference_iterator*)> it(
        raw_it, git_reference_iterator_free);
    git_reference* raw_ref = nullptr;
    int rc;
    while ((rc = git_reference_next(&raw_ref, it.get())) == 0) {
        ReferencePtr ref(raw_ref);
        git_reference* resolved = nullptr;
        if (git_reference_resolve(&resolved, ref.get()) < 0) {
            git_error_clear();  // a symbolic ref to nothing (HEAD of an empty repository)
            continue;
        }
        ReferencePtr owned(resolved);
        walker.add_root(*git_reference_target(owned.get()), true);
    }
    if (rc != GIT_ITEROVER) check(rc, "list refs");
    for (const git_oid& id : extra) walker.add_root(id, false);
    return walker.finish();
}

std::uint64_t objects_bytes(git_repository* repo) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (auto it = stdfs::recursive_directory_iterator(objects_dir(repo), ec);
         it != stdfs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (it->is_regular_file(ec)) total += it->file_size(ec);
    }
    return total;
}

PruneReport prune_repository(git_repository* repo, const std::vector<git_oid>& extra, PruneMode mode) {
    const stdfs::path objects = objects_dir(repo);
    const auto start = stdfs::file_time_type::clock::now();
    PruneReport report;
    report.bytes_before = objects_bytes(repo);
    const std::vector<stdfs::path> old_packs = existing_packs(objects);
    OidSet keep = reachable_objects(repo, extra);
    report.reachable = keep.size();
    std::vector<LooseObject> loose = loose_objects(objects, start);
    std::error_code ec;

    std::optional<stdfs::path> new_pack;
    if (mode == PruneMode::pack) {
        new_pack = write_pack(repo, keep);
        report.objects_packed = keep.size();
        for (const LooseObject& o : loose)
            if (stdfs::remove(o.path, ec)) ++report.loose_removed;
    } else {
        OidSet loose_ids;
        for (const LooseObject& o : loose) {
            if (keep.count(o.id)) {
                loose_ids.insert(o.id);
            } else if (stdfs::remove(o.path, ec)) {
                ++report.loose_removed;
            }
        }
        // Packed objects that nothing reaches any more: rewrite the packs with what is still needed.
        struct Scan {
            const OidSet* keep;
            const OidSet* loose;
            bool garbage = false;
        } scan{&keep, &loose_ids};
        if (!old_packs.empty()) {
            OdbPtr odb = open_odb(repo);
            auto on_object = [](const git_oid* id, void* payload) {
                auto* state = static_cast<Scan*>(payload);
                if (state->keep->count(*id) || state->loose->count(*id)) return 0;
                state->garbage = true;
                return 1;  // one is enough to know
            };
            int rc = git_odb_foreach(odb.get(), on_object, &scan);
            if (rc < 0) check(rc, "list objects");
        }
        if (!scan.garbage) {
            report.bytes_after = objects_bytes(repo);
            return report;
        }
        OidSet packed;
        for (const git_oid& id : keep)
            if (!loose_ids.count(id)) packed.insert(id);
        if (!packed.empty()) {
            new_pack = write_pack(repo, packed);
            report.objects_packed = packed.size();
        }
    }
    for (const stdfs::path& p : old_packs) {
        if (new_pack && p == *new_pack) continue;  // the same objects: the same pack
        remove_pack(p);
        ++report.packs_removed;
    }
    // Empty fan-out folders go too (rmdir fails on the others).
    for (const auto& fan : stdfs::directory_iterator(objects, ec))
        if (hex_name(fan.path().filename().string(), 2)) ::rmdir(fan.path().c_str());
    git_odb* raw = nullptr;
    if (git_repository_odb(&raw, repo) == 0) {
        git_odb_refresh(raw);
        git_odb_free(raw);
    }
    report.bytes_after = objects_bytes(repo);
    spdlog::debug("objects: {} reachable, {} loose removed, {} packs removed, {} packed", report.reachable,
                  report.loose_removed, report.packs_removed, report.objects_packed);
    return report;
}

}  // namespace depsync::git
