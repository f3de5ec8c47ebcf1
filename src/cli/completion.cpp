// The bash completion, written from the program's own commands and options (CLI11's) and the config key
// table: a command, an option or a key added to the program is completed without another edit.

#include "cli/generated.hpp"

#include <map>
#include <set>

#include "cli/config_keys.hpp"

namespace depsync::cli {
namespace {

// How the value of an option is completed.
enum class Completion { none, file, folder, words, revs };

struct ValueOption {
    std::vector<std::string> names;  // "-c", "--config"
    Completion completion = Completion::none;
    std::vector<std::string> words;  // Completion::words
};

// Options that are not config keys and whose value is completed: by their first long name.
const std::map<std::string, Completion>& other_values() {
    static const std::map<std::string, Completion> values = {{"config", Completion::file},
                                                             {"nodes", Completion::file},
                                                             {"html", Completion::file},
                                                             {"to", Completion::revs}};
    return values;
}

std::vector<std::string> names_of(const CLI::Option& option) {
    std::vector<std::string> names;
    for (const auto& s : option.get_snames()) names.push_back("-" + s);
    for (const auto& l : option.get_lnames()) names.push_back("--" + l);
    return names;
}

// The names bash offers for an option: its short names and its first long name (not the underscore form).
std::vector<std::string> offered_names(const CLI::Option& option) {
    std::vector<std::string> names;
    for (const auto& s : option.get_snames()) names.push_back("-" + s);
    if (!option.get_lnames().empty()) names.push_back("--" + option.get_lnames().front());
    return names;
}

bool takes_value(const CLI::Option& option) {
    return option.nonpositional() && option.get_expected_max() > 0;
}

// The config key an option stands for; none for the other options.
const ConfigKey* key_of(const CLI::Option& option) {
    if (option.get_group() != key_group) return nullptr;
    for (const ConfigKey& key : config_keys())
        for (const std::string& name : option.get_lnames())
            if (name == key.name) return &key;
    return nullptr;
}

ValueOption value_option(const CLI::Option& option) {
    ValueOption v{names_of(option), Completion::none, {}};
    if (const ConfigKey* key = key_of(option)) {
        if (key->value == Value::file) v.completion = Completion::file;
        if (key->value == Value::folder) v.completion = Completion::folder;
        if (key->value == Value::choice) v.completion = Completion::words;
        v.words = key->choices;
        return v;
    }
    auto it =
        option.get_lnames().empty() ? other_values().end() : other_values().find(option.get_lnames().front());
    if (it != other_values().end()) v.completion = it->second;
    return v;
}

std::vector<const CLI::App*> commands_of(const CLI::App& app) {
    return app.get_subcommands([](const CLI::App* sub) { return !sub->get_group().empty(); });
}

// Every option that takes a value, in the program and its commands, once.
std::vector<ValueOption> value_options(const CLI::App& app) {
    std::vector<ValueOption> out;
    std::set<std::string> seen;
    std::vector<const CLI::App*> pending{&app};
    while (!pending.empty()) {
        const CLI::App* a = pending.front();
        pending.erase(pending.begin());
        for (const CLI::Option* option : a->get_options())
            if (takes_value(*option) && seen.insert(option->get_name()).second)
                out.push_back(value_option(*option));
        for (const CLI::App* sub : commands_of(*a)) pending.push_back(sub);
    }
    return out;
}

// Space-separated words starting at `column`, broken before a word that would pass column 110; a new line
// starts with four spaces.
std::string word_lines(const std::vector<std::string>& words, std::size_t column) {
    std::string out;
    for (const std::string& word : words) {
        if (!out.empty() && column + 1 + word.size() > 110) {
            out += "\n    ";
            column = 4;
        } else if (!out.empty()) {
            out += " ";
            ++column;
        }
        out += word;
        column += word.size();
    }
    return out;
}

// A case pattern "a | b | c)" at `indent`, continued with " \" on lines indented four more.
std::string case_pattern(const std::vector<std::string>& names, const std::string& indent) {
    std::string out = indent;
    std::size_t column = indent.size();
    for (std::size_t i = 0; i < names.size(); ++i) {
        std::string piece = (i ? " | " : "") + names[i];
        if (i && column + piece.size() + 2 > 110) {
            out += " | \\\n" + indent + "    ";
            column = indent.size() + 4;
            piece = names[i];
        }
        out += piece;
        column += piece.size();
    }
    return out + ")\n";
}

std::string quoted(const std::vector<std::string>& words, std::size_t column) {
    return "'" + word_lines(words, column + 1) + "'";
}

std::vector<std::string> own_options(const CLI::App& app) {
    std::vector<std::string> names;
    for (const CLI::Option* option : app.get_options())
        if (option->nonpositional())
            for (const std::string& name : offered_names(*option)) names.push_back(name);
    return names;
}

std::vector<std::string> key_options() {
    std::vector<std::string> names;
    for (const ConfigKey& key : config_keys()) {
        std::string names_of_key = option_names(key);
        names.push_back(names_of_key.substr(0, names_of_key.find(',')));
    }
    return names;
}

bool takes_release(const CLI::App& command) {
    for (const CLI::Option* option : command.get_options())
        if (option->get_positional() && option->get_name() == "REV") return true;
    return false;
}

const char* const prologue =
    R"(# bash completion for depsync                                        -*- shell-script -*-
# Installed as /usr/share/bash-completion/completions/depsync.
# Written by 'depsync internal completion' from the program's commands and config keys: change those, then
# run scripts/generate-from-keys (a test fails while this file differs).

)";

const char* const helpers = R"(
# Release names for REV arguments: 'previous' and the node's recent releases (rN), read with the same -c.
_depsync_revs() {
    local config=() i
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        case ${COMP_WORDS[i]} in
            -c | --config) config=(-c "${COMP_WORDS[i + 1]}") ;;
        esac
    done
    echo previous
    "${COMP_WORDS[0]}" "${config[@]}" log -n 30 2>/dev/null | awk '$1 ~ /^r[0-9]+$/ { print $1 }'
}

# File names: bash-completion's _filedir when it is loaded, else plain compgen.
_depsync_files() {
    if declare -F _filedir >/dev/null; then
        _filedir "$@"
    elif [[ $1 == -d ]]; then
        COMPREPLY=($(compgen -d -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}

_depsync() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
        cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    fi

)";

// The `case $prev in` that completes an option's value.
std::string value_cases(const CLI::App& app) {
    std::vector<ValueOption> options = value_options(app);
    auto names_with = [&](Completion completion) {
        std::vector<std::string> names;
        for (const ValueOption& v : options)
            if (v.completion == completion) names.insert(names.end(), v.names.begin(), v.names.end());
        return names;
    };
    std::string out = "    # An option's value.\n    case $prev in\n";
    out += case_pattern(names_with(Completion::file), "        ") + "            _depsync_files\n";
    out += "            return\n            ;;\n";
    out += case_pattern(names_with(Completion::folder), "        ") + "            _depsync_files -d\n";
    out += "            return\n            ;;\n";
    for (const ValueOption& v : options) {
        if (v.completion != Completion::words) continue;
        out += case_pattern(v.names, "        ") + "            COMPREPLY=($(compgen -W " +
               quoted(v.words, 31) + " -- \"$cur\"))\n            return\n            ;;\n";
    }
    out += case_pattern(names_with(Completion::revs), "        ");
    out +=
        "            COMPREPLY=($(compgen -W \"$(_depsync_revs)\" -- \"$cur\"))\n            return\n        "
        "    ;;\n";
    out += case_pattern(names_with(Completion::none), "        ") + "            return\n            ;;\n";
    return out + "    esac\n\n";
}

// The loop that finds the command (and for init and cluster the second word), skipping global options.
std::string command_search(const CLI::App& app) {
    std::vector<std::string> global_values;
    for (const CLI::Option* option : app.get_options())
        if (takes_value(*option))
            for (const std::string& name : names_of(*option)) global_values.push_back(name);
    return "    # The command (and for init and cluster, the second word), skipping global options and their "
           "values.\n"
           "    local command='' sub='' i w\n"
           "    for ((i = 1; i < cword; i++)); do\n"
           "        w=${words[i]}\n"
           "        case $w in\n" +
           case_pattern(global_values, "            ") +
           "                ((i++))\n"
           "                ;;\n"
           "            -*) ;;\n"
           "            *)\n"
           "                if [[ -z $command ]]; then\n"
           "                    command=$w\n"
           "                elif [[ -z $sub ]]; then\n"
           "                    sub=$w\n"
           "                fi\n"
           "                ;;\n"
           "        esac\n"
           "    done\n\n";
}

// The options offered after a command: its own and, after init, every config key (init writes them).
std::string options_after(const CLI::App& command, bool init, std::size_t column) {
    if (!init) return quoted(own_options(command), column);
    return "\"" + word_lines(own_options(command), column + 1) + " $_depsync_config_keys\"";
}

std::string command_case(const CLI::App& command) {
    const std::string& name = command.get_name();
    const bool init = name == "init";
    std::vector<const CLI::App*> subs = commands_of(command);
    if (subs.empty() && !takes_release(command))
        return "        " + name + ") options=" + options_after(command, init, 18 + name.size()) + " ;;\n";
    std::string out = "        " + name + ")\n";
    if (subs.empty()) {
        out += "            options=" + options_after(command, init, 20) + "\n";
        return out + "            [[ $cur != -* ]] && words_here=$(_depsync_revs)\n            ;;\n";
    }
    std::vector<std::string> sub_names;
    for (const CLI::App* sub : subs) sub_names.push_back(sub->get_name());
    out += "            case $sub in\n";
    out += "                '') words_here=" + quoted(sub_names, 31) +
           " options=" + options_after(command, init, 40) + " ;;\n";
    for (const CLI::App* sub : subs)
        out += "                " + sub->get_name() +
               ") options=" + options_after(*sub, init, 27 + sub->get_name().size()) + " ;;\n";
    return out + "            esac\n            ;;\n";
}

std::string command_cases(const CLI::App& app) {
    std::vector<std::string> names;
    for (const CLI::App* command : commands_of(app)) names.push_back(command->get_name());
    std::string out =
        "    local options='' words_here=''\n"
        "    case $command in\n"
        "        '')\n"
        "            words_here=" +
        quoted(names, 23) +
        "\n"
        "            options=$_depsync_global_options\n"
        "            ;;\n";
    for (const CLI::App* command : commands_of(app)) out += command_case(*command);
    return out + "    esac\n";
}

const char* const epilogue = R"(    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$options" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$words_here" -- "$cur"))
    fi
} &&
    complete -F _depsync depsync
)";

}  // namespace

std::string bash_completion(const CLI::App& app) {
    std::vector<std::string> global;
    for (const CLI::Option* option : app.get_options())
        if (option->get_group() != key_group)
            for (const std::string& name : offered_names(*option)) global.push_back(name);
    return std::string(prologue) + "_depsync_config_keys=" + quoted(key_options(), 21) +
           "\n_depsync_global_options=\"" + word_lines(global, 25) + " $_depsync_config_keys\"\n" + helpers +
           value_cases(app) + command_search(app) + command_cases(app) + epilogue;
}

}  // namespace depsync::cli
