// A release that changes only a file's exec bit: the peer chmods the file in place. A rewrite would give it a
// new inode and mtime, and the server would redeploy the CApp for nothing.

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;

struct stat stat_of(const stdfs::path& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st;
}

bool same_mtime(const struct stat& a, const struct stat& b) {
    return a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

}  // namespace

TEST_CASE("a change of the exec bit alone is a chmod in place on the peer: same inode, same mtime", "[e2e]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    const stdfs::path peer = cluster.peer(0).dir;
    const std::string car = "carbonapps/Tools_1.0.0.car";
    dt::generate_tree(primary, dt::Profile::small, 111);
    dt::Rng rng(112);
    dt::write_car(primary / car, "Tools", "1.0.0", 4000, rng);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));
    const struct stat before = stat_of(peer / car);
    CHECK((before.st_mode & 0111) == 0);

    for (const auto& [mode, shown] : {std::pair<stdfs::perms, std::string>{stdfs::perms(0755), "chmod +x "},
                                      {stdfs::perms(0644), "chmod -x "}}) {
        INFO(shown);
        stdfs::permissions(primary / car, mode);
        ProcessResult published = cluster.publish("mode of " + car);
        REQUIRE_SUCCESS(published);
        CHECK(parse_published(published.out)->counts.modified == 1);

        ProcessResult dry = cluster.pull(0, {"--dry-run"});
        REQUIRE_SUCCESS(dry);
        INFO(dry.out);
        CHECK(dry.out.find("\n  " + shown + car + "  (mode only: changed in place)\n") != std::string::npos);
        CHECK(dry.out.find("write  " + car) == std::string::npos);

        ProcessResult pulled = cluster.pull(0);
        REQUIRE_SUCCESS(pulled);
        CHECK(parse_pulled(pulled.out)->counts.modified == 1);
        const struct stat after = stat_of(peer / car);
        CHECK((after.st_mode & 07777) == static_cast<unsigned>(mode));
        CHECK(after.st_ino == before.st_ino);
        CHECK(same_mtime(after, before));
        CHECK(read_file(peer / car) == read_file(primary / car));
        CHECK(differences(primary, peer).empty());
        ProcessResult verified = cluster.depsync(cluster.peer(0), {"verify"});
        INFO(describe(verified));
        CHECK(verified.exit_code == 0);
    }
}
