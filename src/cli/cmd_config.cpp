// depsync config: the settings in effect, each with where it came from.

#include <iostream>

#include "cli/config_file.hpp"
#include "cli/config_keys.hpp"
#include "cli/context.hpp"
#include "cli/output.hpp"
#include "core/printable.hpp"
#include "core/sync/publish.hpp"

namespace depsync::cli {
namespace {

struct Source {
    std::string kind;  // file, option, environment, default
    std::string file;
    int line = 0;
};

Source source_of(const CLI::App& app, const GlobalOptions& g, const ConfigKey& key) {
    if (app.get_option("--" + key.name)->count() > 0) return {"option", "", 0};
    if (auto it = g.file_lines.find(key.name); it != g.file_lines.end())
        return {"file", g.config_file, it->second};
    return {"default", "", 0};
}

// Where the config file's name came from: -c, $DEPSYNC_CONFIG or the built-in path.
std::string config_file_source(const CLI::App& app) {
    if (app.get_option("--config")->count() > 0) return "option";
    const char* env = std::getenv("DEPSYNC_CONFIG");
    return env && *env ? "environment" : "default";
}

Json typed_value(const ConfigKey& key, const GlobalOptions& g) {
    return std::visit([&](auto member) { return Json(g.*member); }, key.field);
}

// The host name stands for an empty `node`, as every command takes it.
GlobalOptions effective(const GlobalOptions& g) {
    GlobalOptions e = g;
    if (e.node.empty()) e.node = sync::host_name();
    return e;
}

void print_json(const CLI::App& app, const GlobalOptions& g) {
    const GlobalOptions e = effective(g);
    std::error_code ec;
    Json out = {{"config",
                 {{"file", g.config_file},
                  {"source", config_file_source(app)},
                  {"exists", std::filesystem::exists(g.config_file, ec)}}}};
    Json settings = Json::object();
    for (const ConfigKey& key : config_keys()) {
        Source source = source_of(app, g, key);
        Json item = {{"value", typed_value(key, e)}, {"source", source.kind}};
        if (source.kind == "file") {
            item["file"] = source.file;
            item["line"] = source.line;
        }
        settings[key.name] = std::move(item);
    }
    out["settings"] = std::move(settings);
    std::cout << json_text(out) << "\n";
}

void print_text(const CLI::App& app, const GlobalOptions& g) {
    const GlobalOptions e = effective(g);
    std::error_code ec;
    std::string file_source = config_file_source(app);
    std::cout << "# config " << printable(g.config_file) << " ("
              << (file_source == "option"        ? "option -c"
                  : file_source == "environment" ? "environment DEPSYNC_CONFIG"
                                                 : "default")
              << (std::filesystem::exists(g.config_file, ec) ? "" : "; does not exist") << ")\n";
    for (const ConfigKey& key : config_keys()) {
        Source source = source_of(app, g, key);
        std::string line = config_line(key, field_values(key, e));
        std::string from = source.kind == "file"     ? source.file + ":" + std::to_string(source.line)
                           : source.kind == "option" ? "option --" + key.name
                           : key.name == "node" && g.node.empty() ? "default (host name)"
                                                                  : "default";
        if (line.size() < 40) line.resize(40, ' ');
        std::cout << printable(line + "  # " + from) << "\n";
    }
}

}  // namespace

void add_config(CLI::App& app, Context& ctx) {
    auto* config = app.add_subcommand("config", "Print the settings in effect and where each came from");
    config->add_flag("--json", ctx.cmd.json, "Machine-readable output");
    config->footer(
        "Each key as a config file writes it, then where its value came from: FILE:LINE, option --KEY, or\n"
        "default. The https token and password are not settings and never shown. Example: depsync config");
    config->callback([&app, &ctx] {
        if (ctx.cmd.json) {
            print_json(app, ctx.global);
        } else {
            print_text(app, ctx.global);
        }
    });
}

}  // namespace depsync::cli
