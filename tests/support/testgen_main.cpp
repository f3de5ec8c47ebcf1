// depsync-testgen: builds realistic deployment trees, applies release-like changes to them and
// checks zip archives. Used by the demo, the end-to-end tests and the benchmark harness.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/fs/zip_check.hpp"
#include "support/tree_gen.hpp"

namespace {

namespace dt = depsync::testing;

constexpr const char* usage_text =
    "usage:\n"
    "  depsync-testgen tree DIR [--profile small|typical|large] [--seed N] [--scale F]\n"
    "  depsync-testgen mutate DIR KIND [--seed N] [--count N] [--bytes N]\n"
    "      KIND: bump, rebuild, delete-app, empty-carbonapps, edit-xml, standard-change,\n"
    "            release-change (--bytes: size of its new CApp, default 30 MiB)\n"
    "  depsync-testgen partial-zip FILE [--seed N]\n"
    "  depsync-testgen zipcheck FILE...\n";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Arguments {
    std::vector<std::string> positional;
    std::map<std::string, std::string> options;

    std::string option(const std::string& name, const std::string& fallback) const {
        const auto it = options.find(name);
        return it == options.end() ? fallback : it->second;
    }
};

// Accepts "--name value" and "--name=value" for the options listed in `allowed`.
Arguments parse_arguments(const std::vector<std::string>& args, const std::vector<std::string>& allowed) {
    Arguments parsed;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg.rfind("--", 0) != 0) {
            parsed.positional.push_back(arg);
            continue;
        }
        const auto equals = arg.find('=');
        const std::string name = arg.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
        if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
            throw UsageError("unknown option " + arg);
        if (equals != std::string::npos) {
            parsed.options[name] = arg.substr(equals + 1);
        } else {
            if (i + 1 >= args.size()) throw UsageError("option --" + name + " needs a value");
            parsed.options[name] = args[++i];
        }
    }
    return parsed;
}

std::uint64_t parse_count(const std::string& text, const char* what) {
    std::size_t used = 0;
    try {
        if (!text.empty() && text[0] != '-') {
            const std::uint64_t value = std::stoull(text, &used);
            if (used == text.size()) return value;
        }
    } catch (const std::exception&) {
    }
    throw UsageError(std::string("invalid ") + what + ": " + text);
}

double parse_scale(const std::string& text) {
    std::size_t used = 0;
    try {
        const double value = std::stod(text, &used);
        if (used == text.size() && value > 0.0) return value;
    } catch (const std::exception&) {
    }
    throw UsageError("invalid scale: " + text + " (expected a positive number)");
}

int run_tree(const std::vector<std::string>& args) {
    const Arguments parsed = parse_arguments(args, {"profile", "seed", "scale"});
    if (parsed.positional.size() != 1) throw UsageError("tree needs exactly one DIR");
    const std::string profile_text = parsed.option("profile", "small");
    const auto profile = dt::parse_profile(profile_text);
    if (!profile) throw UsageError("unknown profile " + profile_text);
    const std::uint64_t seed = parse_count(parsed.option("seed", "1"), "seed");
    const double scale = parse_scale(parsed.option("scale", "1"));

    const dt::TreeSummary summary = dt::generate_tree(parsed.positional[0], *profile, seed, scale);
    std::cout << "generated " << dt::profile_name(*profile) << " tree in " << parsed.positional[0] << ": "
              << summary.files << " files (" << summary.capps << " CApps), " << summary.folders
              << " folders (" << summary.empty_folders << " empty), " << summary.bytes << " bytes\n";
    return 0;
}

int run_mutate(const std::vector<std::string>& args) {
    const Arguments parsed = parse_arguments(args, {"seed", "count", "bytes"});
    if (parsed.positional.size() != 2) throw UsageError("mutate needs DIR and KIND");
    const std::filesystem::path root = parsed.positional[0];
    const std::string& kind = parsed.positional[1];
    const std::uint64_t seed = parse_count(parsed.option("seed", "1"), "seed");
    dt::Rng rng(seed);

    std::string done;
    if (kind == "bump") {
        done = dt::bump_version(root, rng);
    } else if (kind == "rebuild") {
        done = dt::rebuild_in_place(root, rng);
    } else if (kind == "delete-app") {
        done = dt::delete_app(root, rng);
    } else if (kind == "empty-carbonapps") {
        done = dt::empty_folder(root, "carbonapps");
    } else if (kind == "edit-xml") {
        done = dt::edit_xml(
            root, static_cast<std::size_t>(parse_count(parsed.option("count", "10"), "count")), rng);
    } else if (kind == "standard-change") {
        done = dt::standard_change(root, seed);
    } else if (kind == "release-change") {
        done = dt::release_change(root, seed, parse_count(parsed.option("bytes", "31457280"), "bytes"));
    } else {
        throw UsageError("unknown mutation " + kind);
    }
    std::cout << done << "\n";
    return 0;
}

int run_partial_zip(const std::vector<std::string>& args) {
    const Arguments parsed = parse_arguments(args, {"seed"});
    if (parsed.positional.size() != 1) throw UsageError("partial-zip needs exactly one FILE");
    dt::Rng rng(parse_count(parsed.option("seed", "1"), "seed"));
    const std::uint64_t kept = dt::write_partial_zip(parsed.positional[0], rng);
    std::cout << "wrote " << parsed.positional[0] << ": a CApp cut off after " << kept << " bytes\n";
    return 0;
}

int run_zipcheck(const std::vector<std::string>& args) {
    const Arguments parsed = parse_arguments(args, {});
    if (parsed.positional.empty()) throw UsageError("zipcheck needs at least one FILE");
    int status = 0;
    for (const auto& file : parsed.positional) {
        const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            std::cerr << "depsync-testgen: cannot open " << file << ": " << std::strerror(errno) << "\n";
            status = 1;
            continue;
        }
        const auto defect = depsync::fs::find_zip_defect(fd);
        ::close(fd);
        std::cout << file << ": " << (defect ? *defect : "ok") << "\n";
        if (defect) status = 1;
    }
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (args.empty()) throw UsageError("missing command");
        const std::string& command = args[0];
        const std::vector<std::string> rest(args.begin() + 1, args.end());
        if (command == "tree") return run_tree(rest);
        if (command == "mutate") return run_mutate(rest);
        if (command == "partial-zip") return run_partial_zip(rest);
        if (command == "zipcheck") return run_zipcheck(rest);
        if (command == "help" || command == "--help" || command == "-h") {
            std::cout << usage_text;
            return 0;
        }
        throw UsageError("unknown command " + command);
    } catch (const UsageError& error) {
        std::cerr << "depsync-testgen: " << error.what() << "\n" << usage_text;
        return 2;
    } catch (const std::exception& error) {
        std::cerr << "depsync-testgen: " << error.what() << "\n";
        return 1;
    }
}
