// A malformed archive that holds still (a 0-byte .car, a corrupt one) is no copy in progress: publish takes
// it as it is, names it in its output, status, last-run and the metrics, and publishes the other changes with
// it. One that is still being appended to keeps being refused.

#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "cluster.hpp"
#include "support/tree_gen.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

const std::string api = "synapse-configs/default/api";

// The Cluster's publish runs with --settle 1: an archive must have held still for twice that.
void let_settle_twice() {
    std::this_thread::sleep_for(2200ms);
}

std::string metric_line(const stdfs::path& file, const std::string& name) {
    std::string text = read_file(file);
    auto at = text.find("\n" + name + "{");
    if (at == std::string::npos) return "";
    auto end = text.find('\n', at + 1);
    return text.substr(at + 1, end - at - 1);
}

}  // namespace

TEST_CASE("a 0-byte and a corrupt archive that hold still are published as they are, with a warning",
          "[e2e][malformed]") {
    Cluster cluster(1);
    const stdfs::path primary = cluster.primary().dir;
    const stdfs::path metrics = cluster.root() / "primary.prom";
    write_file(cluster.primary().config,
               read_file(cluster.primary().config) + "metrics_file = \"" + metrics.string() + "\"\n");
    dt::generate_tree(primary, dt::Profile::small, 91);
    REQUIRE_SUCCESS(cluster.publish("r1"));
    REQUIRE_SUCCESS(cluster.pull(0));
    CHECK(contains(metric_line(metrics, "depsync_malformed_archives"), "} 0"));

    dt::Rng rng(92);
    write_file(primary / "carbonapps/Empty_1.0.0.car", "");
    dt::write_partial_zip(primary / "carbonapps/Broken_1.0.0.car", rng);
    const std::string broken = read_file(primary / "carbonapps/Broken_1.0.0.car");
    write_file(primary / api / "Other.xml", "<api name=\"Other\"/>\n");
    let_settle_twice();

    ProcessResult published = cluster.publish("with malformed archives");
    INFO(describe(published));
    REQUIRE(published.exit_code == 0);
    auto line = parse_published(published.out);
    REQUIRE(line);
    CHECK(line->release == 2);
    CHECK(line->counts.added == 3);
    CHECK(contains(published.out, "malformed archive, published as it is: carbonapps/Empty_1.0.0.car ("));
    CHECK(contains(published.out, "malformed archive, published as it is: carbonapps/Broken_1.0.0.car ("));
    CHECK(contains(published.err, "carbonapps/Broken_1.0.0.car is a malformed archive"));

    // Every node gets the bytes the primary runs.
    ProcessResult pulled = cluster.pull(0);
    REQUIRE_SUCCESS(pulled);
    CHECK(read_file(cluster.peer(0).dir / "carbonapps/Empty_1.0.0.car").empty());
    CHECK(read_file(cluster.peer(0).dir / "carbonapps/Broken_1.0.0.car") == broken);
    CHECK(read_file(cluster.peer(0).dir / api / "Other.xml") == "<api name=\"Other\"/>\n");
    CHECK(differences(primary, cluster.peer(0).dir).empty());

    // status, status --json, last-run and the metrics name or count them.
    ProcessResult status = cluster.depsync(cluster.primary(), {"status"});
    REQUIRE_SUCCESS(status);
    CHECK(contains(status.out, "malformed archive, published as it is: carbonapps/Empty_1.0.0.car ("));
    CHECK(contains(status.out, "malformed archive, published as it is: carbonapps/Broken_1.0.0.car ("));
    auto json = parse_flat_json(cluster.status_json(cluster.primary()).out);
    CHECK(json.at("malformed_archives") == "2");
    CHECK(json.at("malformed_archive_paths") == "carbonapps/Broken_1.0.0.car\ncarbonapps/Empty_1.0.0.car");
    CHECK(contains(read_file(cluster.primary().state / "last-run"), "\nmalformed_archives=2\n"));
    CHECK(contains(metric_line(metrics, "depsync_malformed_archives"), "} 2"));
    auto peer_json = parse_flat_json(cluster.status_json(cluster.peer(0)).out);
    CHECK(peer_json.at("malformed_archives") == "0");

    // verify on the primary marks them; they are not drift.
    ProcessResult verified = cluster.depsync(cluster.primary(), {"verify"});
    INFO(describe(verified));
    CHECK(verified.exit_code == 0);
    CHECK(contains(verified.out, "malformed archive: carbonapps/Empty_1.0.0.car ("));
    CHECK(contains(verified.out, "malformed archive: carbonapps/Broken_1.0.0.car ("));

    // A later publish reads them from its cache and still names them; nothing to publish names them too.
    write_file(primary / api / "Later.xml", "<api name=\"Later\"/>\n");
    ProcessResult later = cluster.publish("later");
    REQUIRE_SUCCESS(later);
    CHECK(parse_published(later.out)->release == 3);
    CHECK(contains(later.out, "carbonapps/Broken_1.0.0.car ("));
    ProcessResult same = cluster.publish("same");
    REQUIRE_SUCCESS(same);
    CHECK(parse_nothing_to_publish(same.out) == std::optional<std::uint64_t>(3));
    CHECK(contains(same.out, "carbonapps/Empty_1.0.0.car ("));

    // Repaired and removed, they are no longer counted.
    dt::write_car(primary / "carbonapps/Broken_1.0.0.car", "Broken", "1.0.0", 5000, rng);
    stdfs::remove(primary / "carbonapps/Empty_1.0.0.car");
    ProcessResult repaired = cluster.publish("repaired");
    INFO(describe(repaired));
    REQUIRE_SUCCESS(repaired);
    CHECK_FALSE(contains(repaired.out, "malformed"));
    CHECK(parse_flat_json(cluster.status_json(cluster.primary()).out).at("malformed_archives") == "0");
    CHECK(contains(metric_line(metrics, "depsync_malformed_archives"), "} 0"));
}

TEST_CASE("an archive appended to while publish waits is refused, even after holding still before",
          "[e2e][malformed]") {
    Cluster cluster(0);
    const stdfs::path primary = cluster.primary().dir;
    dt::generate_tree(primary, dt::Profile::small, 93);
    REQUIRE_SUCCESS(cluster.publish("r1"));

    dt::Rng rng(94);
    const stdfs::path growing = primary / "carbonapps/Growing_1.0.0.car";
    dt::write_partial_zip(growing, rng);
    write_file(primary / api / "Other.xml", "<api name=\"Other\"/>\n");
    let_settle_twice();
    // The copy resumes: a byte every 50 ms, through the publish's whole wait.
    dt::BackgroundProcess writer;
    writer.start({"sh", "-c", "while :; do printf x >> \"$0\"; sleep 0.05; done", growing.string()});
    const auto size = stdfs::file_size(growing);
    while (stdfs::file_size(growing) == size) std::this_thread::sleep_for(10ms);

    ProcessResult refused = cluster.publish("during the copy");
    writer.kill(SIGKILL);
    writer.wait();
    INFO(describe(refused));
    CHECK(refused.exit_code == 1);
    CHECK(contains(refused.err, "carbonapps/Growing_1.0.0.car"));
    CHECK_FALSE(contains(refused.out, "malformed"));
    CHECK(cluster.release_commits() == 1);
}
