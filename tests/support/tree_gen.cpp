#include "support/tree_gen.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <stdexcept>

#include "support/synapse_xml.hpp"
#include "support/zip_writer.hpp"

namespace depsync::testing {
namespace {

namespace stdfs = std::filesystem;

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::string_view synapse_dir = "synapse-configs/default";

struct SizeBand {
    std::size_t count;
    std::uint64_t min_bytes;
    std::uint64_t max_bytes;
};

struct XmlFolder {
    std::string_view folder;  // relative to synapse-configs/default
    XmlKind kind;
    std::string_view suffix;  // appended to the business noun: OrdersAPI.xml
    std::size_t count;
};

struct ProfileSpec {
    std::vector<SizeBand> capps;
    std::size_t modules;
    std::size_t mediators;
    std::size_t libraries;
    std::size_t dataservices;
    std::size_t userstores;
    std::vector<XmlFolder> xml;  // synapse folders not listed stay empty
};

ProfileSpec spec_for(Profile profile) {
    switch (profile) {
        case Profile::small:
            return {{{5, 4 * KiB, 200 * KiB}},
                    2,
                    1,
                    1,
                    1,
                    1,
                    {{"api", XmlKind::api, "API", 3},
                     {"endpoints", XmlKind::endpoint, "EP", 3},
                     {"proxy-services", XmlKind::proxy, "Proxy", 2},
                     {"local-entries", XmlKind::local_entry, "Config", 2},
                     {"sequences", XmlKind::sequence, "Sequence", 2}}};
        case Profile::typical:
            return {{{22, 5 * KiB, 100 * KiB}, {5, 1 * MiB, 3 * MiB}, {3, 5 * MiB, 50 * MiB}},
                    4,
                    4,
                    3,
                    4,
                    1,
                    {{"api", XmlKind::api, "API", 25},
                     {"endpoints", XmlKind::endpoint, "EP", 30},
                     {"proxy-services", XmlKind::proxy, "Proxy", 15},
                     {"local-entries", XmlKind::local_entry, "Config", 10},
                     {"sequences", XmlKind::sequence, "Sequence", 20},
                     {"message-stores", XmlKind::message_store, "Store", 4},
                     {"message-processors", XmlKind::message_processor, "Processor", 4},
                     {"templates", XmlKind::template_, "Template", 6}}};
        case Profile::large:
            return {{{2, 100 * MiB, 200 * MiB},
                     {50, 5 * KiB, 100 * KiB},
                     {12, 1 * MiB, 3 * MiB},
                     {3, 5 * MiB, 30 * MiB}},
                    8,
                    20,
                    10,
                    60,
                    2,
                    {{"api", XmlKind::api, "API", 2150},
                     {"endpoints", XmlKind::endpoint, "EP", 2650},
                     {"proxy-services", XmlKind::proxy, "Proxy", 1500},
                     {"local-entries", XmlKind::local_entry, "Config", 1200},
                     {"sequences", XmlKind::sequence, "Sequence", 1500},
                     {"message-stores", XmlKind::message_store, "Store", 250},
                     {"message-processors", XmlKind::message_processor, "Processor", 250},
                     {"templates", XmlKind::template_, "Template", 300}}};
    }
    throw std::invalid_argument("unknown profile");
}

// Most Synapse artifacts are a few KB; a few carry large inline payloads or mappings.
std::uint64_t xml_size(Rng& rng) {
    const std::uint64_t band = rng() % 100;
    if (band < 90) return log_uniform(rng, 300, 8 * KiB);
    if (band < 99) return log_uniform(rng, 8 * KiB, 64 * KiB);
    return log_uniform(rng, 64 * KiB, 300 * KiB);
}

class Scaler {
  public:
    explicit Scaler(double factor) : m_factor(factor) {}
    std::uint64_t operator()(std::uint64_t bytes) const {
        return std::max<std::uint64_t>(64, static_cast<std::uint64_t>(static_cast<double>(bytes) * m_factor));
    }

  private:
    double m_factor;
};

void write_file(const stdfs::path& path, std::string_view content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.close();
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

// Unique, readable names: Orders, Payments, ..., then OrdersService, PaymentsService, ...
std::string numbered_name(std::size_t index, std::string_view suffix) {
    static constexpr std::array<std::string_view, 6> variants{"",     "Service", "Integration",
                                                              "Sync", "Gateway", "Batch"};
    const std::size_t round = index / business_noun_count();
    std::string name(business_noun(index));
    if (round < variants.size()) return name + std::string(variants[round]) + std::string(suffix);
    return name + std::string(suffix) + "_" + std::to_string(round);
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

void prepare_root(const stdfs::path& root) {
    stdfs::create_directories(root);
    for (const auto& entry : stdfs::directory_iterator(root)) {
        if (entry.path().filename().string().rfind('.', 0) != 0)
            throw std::runtime_error("cannot generate a tree in " + root.string() + ": it is not empty");
    }
}

TreeSummary summarize(const stdfs::path& root) {
    TreeSummary summary;
    for (const auto& entry : stdfs::recursive_directory_iterator(root)) {
        if (entry.is_directory()) {
            ++summary.folders;
            if (stdfs::is_empty(entry.path())) ++summary.empty_folders;
        } else if (entry.is_regular_file()) {
            ++summary.files;
            summary.bytes += entry.file_size();
            if (entry.path().extension() == ".car") ++summary.capps;
        }
    }
    return summary;
}

void write_capps(const stdfs::path& dir, const std::vector<SizeBand>& bands, const Scaler& scale, Rng& rng) {
    std::size_t index = 0;
    for (const auto& band : bands) {
        for (std::size_t i = 0; i < band.count; ++i, ++index) {
            const std::string version =
                "1." + std::to_string(uniform(rng, 0, 3)) + "." + std::to_string(uniform(rng, 0, 9));
            const std::string app = numbered_name(index, "");
            const std::uint64_t size = scale(log_uniform(rng, band.min_bytes, band.max_bytes));
            write_car(dir / (app + "_" + version + ".car"), app, version, size, rng);
        }
    }
}

void write_binaries(const stdfs::path& root, const ProfileSpec& spec, const Scaler& scale, Rng& rng) {
    static constexpr std::array<std::string_view, 8> modules{
        "addressing", "rampart", "sandesha2", "throttle", "caching", "metering", "wso2mex", "mtompolicy"};
    for (std::size_t i = 0; i < spec.modules; ++i) {
        const std::string name = std::string(modules[i % modules.size()]) +
                                 (i < modules.size() ? "" : std::to_string(i / modules.size())) + "-4.0." +
                                 std::to_string(uniform(rng, 0, 9)) + ".mar";
        write_binary_archive(root / "axis2modules" / name, scale(log_uniform(rng, 20 * KiB, 150 * KiB)), rng);
    }
    for (std::size_t i = 0; i < spec.mediators; ++i) {
        const std::string name =
            lower(numbered_name(i, "")) + "-mediator-1.0." + std::to_string(uniform(rng, 0, 9)) + ".jar";
        write_binary_archive(root / "class-mediators" / name, scale(log_uniform(rng, 10 * KiB, 500 * KiB)),
                             rng);
    }
    for (std::size_t i = 0; i < spec.libraries; ++i) {
        const std::string name =
            lower(numbered_name(i + 7, "")) + "-connector-2." + std::to_string(uniform(rng, 0, 9)) + ".0.zip";
        write_binary_archive(root / "synapse-libs" / name, scale(log_uniform(rng, 50 * KiB, 2 * MiB)), rng);
    }
    // One executable file, so that tests see the exec bit travel.
    const stdfs::path script = root / "class-mediators" / "run-check.sh";
    write_file(script,
               "#!/bin/sh\n# Health probe run by the operators' cron after a deployment.\n"
               "exec curl -fsS http://localhost:9164/management/health >/dev/null\n");
    stdfs::permissions(script, stdfs::perms::owner_all | stdfs::perms::group_read | stdfs::perms::group_exec |
                                   stdfs::perms::others_read | stdfs::perms::others_exec);
}

void write_xml_files(const stdfs::path& root, const ProfileSpec& spec, const Scaler& scale, Rng& rng) {
    const stdfs::path synapse = root / synapse_dir;
    write_file(synapse / "synapse.xml", make_xml_artifact(XmlKind::synapse, "Default", scale(1 * KiB), rng));
    write_file(synapse / "registry.xml", make_xml_artifact(XmlKind::registry, "Registry", scale(600), rng));
    write_file(synapse / "sequences" / "main.xml",
               make_xml_artifact(XmlKind::sequence, "main", scale(900), rng));
    write_file(synapse / "sequences" / "fault.xml",
               make_xml_artifact(XmlKind::sequence, "fault", scale(1200), rng));
    for (const auto& folder : spec.xml) {
        for (std::size_t i = 0; i < folder.count; ++i) {
            const std::string name = numbered_name(i, folder.suffix);
            write_file(synapse / folder.folder / (name + ".xml"),
                       make_xml_artifact(folder.kind, name, scale(xml_size(rng)), rng));
        }
    }
    for (std::size_t i = 0; i < spec.dataservices; ++i) {
        const std::string name = numbered_name(i, "DataService");
        write_file(root / "dataservices" / (name + ".dbs"),
                   make_xml_artifact(XmlKind::dataservice, name, scale(xml_size(rng)), rng));
    }
    for (std::size_t i = 0; i < spec.userstores; ++i) {
        const std::string domain = lower(business_noun(i)) + "_example_com";
        write_file(root / "userstores" / (domain + ".xml"),
                   make_xml_artifact(XmlKind::userstore, domain, scale(2 * KiB), rng));
    }
}

}  // namespace

std::optional<Profile> parse_profile(std::string_view name) {
    if (name == "small") return Profile::small;
    if (name == "typical") return Profile::typical;
    if (name == "large") return Profile::large;
    return std::nullopt;
}

std::string_view profile_name(Profile profile) {
    switch (profile) {
        case Profile::small:
            return "small";
        case Profile::typical:
            return "typical";
        case Profile::large:
            return "large";
    }
    return "unknown";
}

const std::vector<std::string>& layout_folders() {
    static const std::vector<std::string> folders{
        "axis2modules",
        "carbonapps",
        "synapse-configs",
        "synapse-configs/default",
        "synapse-configs/default/api",
        "synapse-configs/default/endpoints",
        "synapse-configs/default/imports",
        "synapse-configs/default/inbound-endpoints",
        "synapse-configs/default/local-entries",
        "synapse-configs/default/message-processors",
        "synapse-configs/default/message-stores",
        "synapse-configs/default/proxy-services",
        "synapse-configs/default/sequences",
        "synapse-configs/default/tasks",
        "synapse-configs/default/templates",
        "dataservices",
        "synapse-libs",
        "class-mediators",
        "userstores",
    };
    return folders;
}

TreeSummary generate_tree(const stdfs::path& root, Profile profile, std::uint64_t seed, double scale) {
    if (!(scale > 0.0)) throw std::invalid_argument("cannot generate a tree: scale must be positive");
    prepare_root(root);
    for (const auto& folder : layout_folders()) stdfs::create_directories(root / folder);

    Rng rng(seed);
    const ProfileSpec spec = spec_for(profile);
    const Scaler scaler(scale);
    write_capps(root / "carbonapps", spec.capps, scaler, rng);
    write_binaries(root, spec, scaler, rng);
    write_xml_files(root, spec, scaler, rng);
    return summarize(root);
}

void write_car(const stdfs::path& path, std::string_view app_name, std::string_view version,
               std::uint64_t payload_bytes, Rng& rng) {
    const std::string app(app_name), ver(version);
    struct Artifact {
        std::string name;
        std::string type;
        std::string file;
    };
    std::vector<Artifact> artifacts{{app + "API", "synapse/api", app + "API.xml"},
                                    {app + "Sequence", "synapse/sequence", app + "Sequence.xml"},
                                    {app + "Endpoint", "synapse/endpoint", app + "Endpoint.xml"}};
    // Real CApps bundle connector zips and mediator jars; they carry the (incompressible) bulk.
    const std::size_t pieces =
        static_cast<std::size_t>(std::min<std::uint64_t>(1 + payload_bytes / (8 * MiB), 8));
    for (std::size_t i = 0; i < pieces; ++i) {
        if (i % 2 == 0)
            artifacts.push_back({app + "Connector" + std::to_string(i), "synapse/lib",
                                 lower(app) + "-connector" + std::to_string(i) + "-" + ver + ".zip"});
        else
            artifacts.push_back({app + "Mediator" + std::to_string(i), "lib/synapse/mediator",
                                 lower(app) + "-mediator" + std::to_string(i) + "-" + ver + ".jar"});
    }

    std::string descriptor =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<artifacts>\n    <artifact name=\"" + app +
        "\" version=\"" + ver + "\" type=\"carbon/application\">\n";
    for (const auto& artifact : artifacts)
        descriptor += "        <dependency artifact=\"" + artifact.name + "\" version=\"" + ver +
                      "\" include=\"true\" serverRole=\"EnterpriseIntegrator\"/>\n";
    descriptor += "    </artifact>\n</artifacts>\n";

    ZipWriter zip(path);
    zip.add_file("artifacts.xml", descriptor);
    std::uint64_t payload_left = payload_bytes;
    std::size_t piece = 0;
    for (const auto& artifact : artifacts) {
        const std::string folder = artifact.name + "_" + ver + "/";
        zip.add_directory(folder);
        zip.add_file(folder + "artifact.xml",
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<artifact name=\"" + artifact.name +
                         "\" version=\"" + ver + "\" type=\"" + artifact.type +
                         "\" serverRole=\"EnterpriseIntegrator\">\n    <file>" + artifact.file +
                         "</file>\n</artifact>\n");
        if (artifact.type.rfind("synapse/", 0) == 0 && artifact.type != "synapse/lib") {
            const auto kind = artifact.type == "synapse/api"        ? XmlKind::api
                              : artifact.type == "synapse/sequence" ? XmlKind::sequence
                                                                    : XmlKind::endpoint;
            zip.add_file(folder + artifact.file,
                         make_xml_artifact(kind, artifact.name, log_uniform(rng, 400, 4 * KiB), rng));
            continue;
        }
        ++piece;
        const std::uint64_t size = piece == pieces ? payload_left
                                                   : uniform(rng, payload_left / (2 * (pieces - piece + 1)),
                                                             payload_left / (pieces - piece + 1));
        zip.add_random_file(folder + artifact.file, size, rng);
        payload_left -= size;
    }
    zip.finish();
}

void write_binary_archive(const stdfs::path& path, std::uint64_t payload_bytes, Rng& rng) {
    ZipWriter zip(path);
    zip.add_directory("META-INF/");
    zip.add_file("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: depsync-testgen\nBuild-Id: " +
                                             random_token(rng, 16) + "\n");
    const std::uint64_t first = payload_bytes / 2 + uniform(rng, 0, payload_bytes / 4);
    zip.add_random_file("org/example/" + random_token(rng, 8) + "/Main.class", first, rng);
    zip.add_random_file("org/example/" + random_token(rng, 8) + "/Support.class", payload_bytes - first, rng);
    zip.finish();
}

std::uint64_t write_partial_zip(const stdfs::path& path, Rng& rng) {
    write_car(path, "Partial", "1.0.0", 512 * KiB, rng);
    const std::uint64_t kept = stdfs::file_size(path) / 2;
    stdfs::resize_file(path, kept);
    return kept;
}

std::optional<CarName> parse_car_name(std::string_view file_name) {
    constexpr std::string_view extension = ".car";
    if (file_name.size() <= extension.size() ||
        file_name.substr(file_name.size() - extension.size()) != extension)
        return std::nullopt;
    const std::string_view stem = file_name.substr(0, file_name.size() - extension.size());
    const auto underscore = stem.rfind('_');
    if (underscore == std::string_view::npos || underscore == 0 || underscore + 1 == stem.size())
        return std::nullopt;
    return CarName{std::string(stem.substr(0, underscore)), std::string(stem.substr(underscore + 1))};
}

}  // namespace depsync::testing
