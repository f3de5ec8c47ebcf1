#include "cli/suggest.hpp"

#include <algorithm>

namespace depsync::cli {
namespace {

// Levenshtein distance, with a swap of two neighbours counting as one edit (rollabck -> rollback).
std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

// The visible subcommands of `app` (hidden ones have no group).
std::vector<const CLI::App*> commands_of(const CLI::App& app) {
    std::vector<const CLI::App*> out;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
        if (!sub->get_group().empty()) out.push_back(sub);
    return out;
}

// The option `arg` names in `app` or, as CLI11 falls through, in its parents.
const CLI::Option* option_named(const CLI::App* app, const std::string& arg) {
    std::string name = arg.substr(0, arg.find('='));
    if (name.size() > 2 && name[1] != '-') name = name.substr(0, 2);  // -cFILE
    for (; app; app = app->get_parent())
        if (const CLI::Option* opt = app->get_option_no_throw(name)) return opt;
    return nullptr;
}

const CLI::App* subcommand_named(const CLI::App& app, const std::string& name) {
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
        if (sub->check_name(name)) return sub;
    return nullptr;
}

}  // namespace

std::string nearest_name(const std::string& word, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_distance = std::min<std::size_t>(3, (word.size() + 1) / 2);
    for (const auto& c : candidates) {
        std::size_t d = edit_distance(word, c);
        if (d < best_distance) {
            best = c;
            best_distance = d;
        }
    }
    return best;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
    std::string best = nearest_name(word, candidates);
    return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

std::optional<std::string> unknown_command(const CLI::App& app, int argc, char** argv) {
    const CLI::App* current = &app;
    std::string path;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--") return std::nullopt;
        if (arg.size() > 1 && arg[0] == '-') {
            const CLI::Option* opt = option_named(current, arg);
            bool inline_value = arg.find('=') != std::string::npos || (arg[1] != '-' && arg.size() > 2);
            if (opt && opt->get_expected_min() > 0 && !inline_value) ++i;
            continue;
        }
        auto commands = commands_of(*current);
        if (commands.empty()) return std::nullopt;
        if (const CLI::App* sub = subcommand_named(*current, arg)) {
            current = sub;
            path += arg + " ";
            continue;
        }
        // A command that takes positionals as well as subcommands would make this a value: none does.
        if (!current->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty())
            return std::nullopt;
        std::vector<std::string> names;
        for (const CLI::App* c : commands) names.push_back(c->get_name());
        std::string message = "unknown command '" + path + arg + "'";
        std::string best = nearest_name(arg, names);
        if (!best.empty()) return message + "; did you mean '" + path + best + "'?";
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        return message + " (the commands" +
               (path.empty() ? "" : " of '" + path.substr(0, path.size() - 1) + "'") + ": " + list + ")";
    }
    return std::nullopt;
}

}  // namespace depsync::cli
