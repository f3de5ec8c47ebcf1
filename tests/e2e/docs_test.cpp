// The docs agree with the program: the manual (docs/manual.md), the man page the build generates from it and
// the bash completion name the same config keys and the same commands as `depsync --help`, and every link
// between the markdown docs leads to a file and a heading that exist. What --help prints is parsed (CLI11's
// format), so a key or command added to the program and not to the docs, or the other way round, fails here.
//
// How each source is read (the conventions are also noted at the top of docs/manual.md):
// - --help: the option group whose title starts with "Config keys" lists the keys; "Subcommands:" the
//   commands, and a command whose own --help lists subcommands stands for them ("cluster status").
// - the manual: in "### Configuration keys", one list item per key starting with the key in backticks; in
//   "## COMMANDS", one heading "### depsync COMMAND" per command.
// - the man page: the same sections as go-md2man writes them (.SS/.SH, list items after .IP).
// - the completion: what bash completes, with the completion file sourced, after `depsync --` (options) and
//   after `depsync ` and `depsync COMMAND ` (commands).

#include <catch2/catch.hpp>

#include <cctype>
#include <regex>
#include <set>
#include <sstream>

#include "cluster.hpp"

namespace {

using namespace depsync::e2e;
namespace dt = depsync::testing;
namespace stdfs = std::filesystem;
using Names = std::set<std::string>;

// The completion script under test. Change this path if the completion is generated elsewhere.
stdfs::path completion_file() {
    return stdfs::path(dt::source_dir()) / "completion" / "depsync";
}

stdfs::path man_page() {
    return stdfs::path(dt::build_dir()) / "depsync.1.gz";
}

bool starts_with(const std::string& text, const std::string& prefix) {
    return text.compare(0, prefix.size(), prefix) == 0;
}

// "--node-local" -> "node_local": the config key an option stands for.
std::string key_of(const std::string& option) {
    std::string key = option.substr(option.find_first_not_of('-'));
    for (char& c : key)
        if (c == '-') c = '_';
    return key;
}

// "a, b" for failure messages.
std::string joined(const Names& names) {
    std::string out;
    for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
    return out.empty() ? "(none)" : out;
}

void check_same(const std::string& where, const Names& from_help, const Names& found) {
    Names missing, extra;
    for (const std::string& name : from_help)
        if (!found.count(name)) missing.insert(name);
    for (const std::string& name : found)
        if (!from_help.count(name)) extra.insert(name);
    INFO(where << ": missing (in --help, not there): " << joined(missing)
               << "; extra (there, not in --help): " << joined(extra));
    CHECK(missing.empty());
    CHECK(extra.empty());
}

// --- depsync --help (CLI11 2.1) ---------------------------------------------------------------------------

std::string help_of(const std::vector<std::string>& command) {
    std::vector<std::string> argv{dt::depsync_bin()};
    argv.insert(argv.end(), command.begin(), command.end());
    argv.push_back("--help");
    ProcessResult r = dt::run(argv);
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    return r.out;
}

// The lines of the help group whose title line starts with `title`, up to the first blank line.
std::vector<std::string> help_group(const std::string& help, const std::string& title) {
    std::vector<std::string> group;
    bool inside = false;
    for (const std::string& line : lines_of(help)) {
        if (!inside) {
            inside = starts_with(line, title);
        } else if (line.empty()) {
            break;
        } else {
            group.push_back(line);
        }
    }
    return group;
}

// The names on a group's option lines: "  -c,--config=/etc/x  text" -> -c, --config. Description lines that
// continue an option are indented further and start with no dash.
std::vector<std::vector<std::string>> option_lines(const std::vector<std::string>& group) {
    std::vector<std::vector<std::string>> options;
    for (const std::string& line : group) {
        if (!starts_with(line, "  -")) continue;
        std::istringstream names(line.substr(2, line.find(' ', 2) - 2));
        std::vector<std::string> option;
        for (std::string name; std::getline(names, name, ',');)
            option.push_back(name.substr(0, name.find('=')));
        options.push_back(option);
    }
    return options;
}

// The first word of each line of a "Subcommands:" group.
Names subcommands(const std::string& help) {
    Names names;
    for (const std::string& line : help_group(help, "Subcommands:"))
        if (starts_with(line, "  ") && line.size() > 2 && line[2] != ' ')
            names.insert(line.substr(2, line.find(' ', 2) - 2));
    return names;
}

struct Help {
    Names keys;           // "node_local"
    Names other_options;  // every name of the options that are not keys: "-c", "--config", "--version", ...
    Names commands;       // "pull", "cluster status"
};

Help read_help() {
    Help help;
    const std::string top = help_of({});
    for (const auto& option : option_lines(help_group(top, "Config keys")))
        help.keys.insert(key_of(option.front()));
    for (const auto& option : option_lines(help_group(top, "Options:")))
        help.other_options.insert(option.begin(), option.end());
    for (const std::string& command : subcommands(top)) {
        const Names subs = subcommands(help_of({command}));
        if (subs.empty()) help.commands.insert(command);
        for (const std::string& sub : subs) help.commands.insert(command + " " + sub);
    }
    INFO(top);
    REQUIRE(help.keys.size() > 1);
    REQUIRE(help.other_options.count("--help") == 1);
    REQUIRE(help.commands.size() > 1);
    return help;
}

// --- docs/manual.md ---------------------------------------------------------------------------------------

// The lines of the markdown section under the heading line `heading`, up to the next heading of the same or a
// higher level; lines in fenced code blocks are left out (a "# comment" there is no heading).
std::vector<std::string> markdown_section(const std::string& text, const std::string& heading) {
    const std::size_t level = heading.find(' ');
    std::vector<std::string> section;
    bool inside = false, fenced = false;
    for (const std::string& line : lines_of(text)) {
        if (starts_with(line, "```")) {
            fenced = !fenced;
            continue;
        }
        if (fenced) continue;
        const std::size_t hashes = line.find_first_not_of('#');
        const bool is_heading = hashes > 0 && hashes != std::string::npos && line[hashes] == ' ';
        if (inside && is_heading && hashes <= level) break;
        if (inside) section.push_back(line);
        if (line == heading) inside = true;
    }
    return section;
}

// The first capture of `pattern` on every line that matches it.
Names captures(const std::vector<std::string>& lines, const std::regex& pattern) {
    Names names;
    std::smatch m;
    for (const std::string& line : lines)
        if (std::regex_search(line, m, pattern)) names.insert(m[1]);
    return names;
}

const std::regex manual_key("^- `([a-z_]+)`");
const std::regex manual_command("^### depsync (.+)$");

// --- the man page (roff from go-md2man) -------------------------------------------------------------------

// The roff text without font changes and the escapes go-md2man writes, one request or text line per entry.
std::vector<std::string> roff_lines(const std::string& roff) {
    // An escaped backslash is set aside first, so that what follows it is not taken for an escape.
    std::string text = std::regex_replace(roff, std::regex(R"(\\\\)"), "\x01");
    text = std::regex_replace(text, std::regex(R"(\\f(\[[^\]]*\]|\(..|.))"), "");
    text = std::regex_replace(text, std::regex(R"(\\&)"), "");
    text = std::regex_replace(text, std::regex(R"(\\-)"), "-");
    text = std::regex_replace(text, std::regex("\x01"), "\\");
    return lines_of(text);
}

// The lines after the request line `title` (".SH COMMANDS") up to the next .SH, and for a .SS title the next
// .SS too.
std::vector<std::string> roff_section(const std::vector<std::string>& lines, const std::string& title) {
    const bool subsection = starts_with(title, ".SS");
    std::vector<std::string> section;
    bool inside = false;
    for (const std::string& line : lines) {
        if (inside && (starts_with(line, ".SH") || (subsection && starts_with(line, ".SS")))) break;
        if (inside) section.push_back(line);
        if (line == title || line == title.substr(0, 4) + '"' + title.substr(4) + '"') inside = true;
    }
    return section;
}

// The roff of the generated man page.
std::string read_man_page() {
    ProcessResult r = dt::run({"gzip", "-dc", man_page().string()});
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    return r.out;
}

// The first text line of every list item (the line after each .IP request).
std::vector<std::string> list_items(const std::vector<std::string>& section) {
    std::vector<std::string> items;
    for (std::size_t i = 0; i + 1 < section.size(); ++i)
        if (starts_with(section[i], ".IP")) items.push_back(section[i + 1]);
    return items;
}

// --- the completion ---------------------------------------------------------------------------------------

// What bash completes for `depsync WORDS... CUR` with the completion file sourced. DEPSYNC_CONFIG names a
// file that does not exist, so the release names a completion reads with `depsync log` cannot come from this
// machine's own config.
Names completions(const std::vector<std::string>& words, const std::string& cur) {
    dt::TempDir temp;
    std::vector<std::string> argv{"bash",
                                  "-c",
                                  "source \"$1\" || exit 9; shift; COMP_WORDS=(\"$@\"); "
                                  "COMP_CWORD=$(($# - 1)); _depsync; printf '%s\\n' \"${COMPREPLY[@]}\"",
                                  "bash",
                                  completion_file().string(),
                                  dt::depsync_bin()};
    argv.insert(argv.end(), words.begin(), words.end());
    argv.push_back(cur);
    ProcessResult r = dt::run(argv, {{"DEPSYNC_CONFIG", (temp / "absent.conf").string()}});
    INFO(describe(r));
    REQUIRE(r.exit_code == 0);
    Names names;
    for (const std::string& line : lines_of(r.out))
        if (!line.empty()) names.insert(line);
    return names;
}

// --- links between the markdown docs ----------------------------------------------------------------------

// The anchor GitHub gives a heading: lower case, characters other than letters, digits, '-', '_' and spaces
// dropped, spaces turned into '-'.
std::string anchor_of(const std::string& heading) {
    std::string anchor;
    for (char c : heading) {
        if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')
            anchor += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        else if (c == ' ')
            anchor += '-';
    }
    return anchor;
}

// The lines of a markdown file outside fenced code blocks.
std::vector<std::string> prose_lines(const std::string& markdown) {
    std::vector<std::string> prose;
    bool fenced = false;
    for (const std::string& line : lines_of(markdown)) {
        if (starts_with(line, "```"))
            fenced = !fenced;
        else if (!fenced)
            prose.push_back(line);
    }
    return prose;
}

Names anchors_in(const stdfs::path& markdown) {
    Names anchors;
    for (const std::string& line : prose_lines(read_file(markdown))) {
        const std::size_t hashes = line.find_first_not_of('#');
        if (hashes > 0 && hashes != std::string::npos && line[hashes] == ' ')
            anchors.insert(anchor_of(line.substr(hashes + 1)));
    }
    return anchors;
}

std::vector<stdfs::path> markdown_docs() {
    const stdfs::path source(dt::source_dir());
    std::vector<stdfs::path> docs{source / "README.md", source / "bench" / "README.md",
                                  source / "bench" / "RESULTS.md"};
    for (const auto& entry : stdfs::directory_iterator(source / "docs"))
        if (entry.path().extension() == ".md") docs.push_back(entry.path());
    return docs;
}

// The lines of the fenced code blocks of a markdown text, without trailing blanks; empty lines left out.
Names code_lines(const std::string& markdown) {
    Names lines;
    bool fenced = false;
    for (const std::string& line : lines_of(markdown)) {
        if (starts_with(line, "```"))
            fenced = !fenced;
        else if (fenced && line.find_first_not_of(' ') != std::string::npos)
            lines.insert(line.substr(0, line.find_last_not_of(' ') + 1));
    }
    return lines;
}

// The lines of the man page's literal blocks: between .nf and .fi (go-md2man 2.0) or .EX and .EE (later).
Names roff_code_lines(const std::vector<std::string>& roff) {
    Names lines;
    bool literal = false;
    for (const std::string& line : roff) {
        if (line == ".nf" || line == ".EX")
            literal = true;
        else if (line == ".fi" || line == ".EE")
            literal = false;
        else if (literal)
            lines.insert(line.substr(0, line.find_last_not_of(' ') + 1));
    }
    return lines;
}

}  // namespace

TEST_CASE("the manual, the man page and the completion name the config keys --help lists", "[e2e][docs]") {
    const Help help = read_help();

    const std::string manual = read_file(stdfs::path(dt::source_dir()) / "docs" / "manual.md");
    check_same("docs/manual.md, section Configuration keys", help.keys,
               captures(markdown_section(manual, "### Configuration keys"), manual_key));

    check_same("the man page " + man_page().string() + ", section Configuration keys", help.keys,
               captures(list_items(roff_section(roff_lines(read_man_page()), ".SS Configuration keys")),
                        std::regex("^([a-z_]+) \\(")));

    Names completed;
    for (const std::string& option : completions({}, "--"))
        if (!help.other_options.count(option)) completed.insert(key_of(option));
    check_same(completion_file().string() + ", options after 'depsync --'", help.keys, completed);
}

TEST_CASE("the manual, the man page and the completion name the commands --help lists", "[e2e][docs]") {
    const Help help = read_help();

    const std::string manual = read_file(stdfs::path(dt::source_dir()) / "docs" / "manual.md");
    check_same("docs/manual.md, '### depsync COMMAND' headings in COMMANDS", help.commands,
               captures(markdown_section(manual, "## COMMANDS"), manual_command));

    check_same("the man page " + man_page().string() + ", .SS headings in COMMANDS", help.commands,
               captures(roff_section(roff_lines(read_man_page()), ".SH COMMANDS"),
                        std::regex("^\\.SS \"?depsync ([^\"]+)\"?$")));

    // "previous" is what the completion offers for a REV besides the releases `depsync log` names (none
    // here): it is not a subcommand.
    Names completed;
    for (const std::string& command : completions({}, "")) {
        Names subs = completions({command}, "");
        subs.erase("previous");
        if (subs.empty()) completed.insert(command);
        for (const std::string& sub : subs) completed.insert(command + " " + sub);
    }
    check_same(completion_file().string() + ", words after 'depsync ' and 'depsync COMMAND '", help.commands,
               completed);
}

TEST_CASE("every link between the markdown docs leads to a file and a heading that exist", "[e2e][docs]") {
    const std::regex link(R"(\]\(([^)\s]+)\))");
    std::size_t checked = 0;
    for (const stdfs::path& doc : markdown_docs()) {
        for (const std::string& line : prose_lines(read_file(doc))) {
            for (std::sregex_iterator m(line.begin(), line.end(), link), end; m != end; ++m) {
                const std::string target = (*m)[1];
                if (target.find("://") != std::string::npos || starts_with(target, "mailto:")) continue;
                const std::string file = target.substr(0, target.find('#'));
                const stdfs::path path = file.empty() ? doc : (doc.parent_path() / file).lexically_normal();
                INFO(doc.string() << ": link to " << target);
                CHECK(stdfs::exists(path));
                if (target.find('#') != std::string::npos && stdfs::exists(path)) {
                    CHECK(path.extension() == ".md");
                    CHECK(anchors_in(path).count(target.substr(target.find('#') + 1)) == 1);
                }
                ++checked;
            }
        }
    }
    CHECK(checked > 10);
}

// go-md2man 2.0 has two traps: a code block right after a list becomes text of the list's last item, and a
// text line starting with '.' or '\'' (a code span broken across lines) is read as a roff request and
// disappears.
TEST_CASE("the man page shows every code block of the manual as one, and loses no line of its text",
          "[e2e][docs]") {
    const std::string roff = read_man_page();
    const Names requests{".TH", ".SH", ".SS", ".PP", ".LP", ".P",  ".RS", ".RE", ".IP", ".TP", ".nf",
                         ".fi", ".EX", ".EE", ".nh", ".br", ".TS", ".TE", ".ti", ".in", ".sp"};
    for (const std::string& line : lines_of(roff)) {
        if (line.empty() || (line[0] != '.' && line[0] != '\'')) continue;
        INFO("a line of text read as a roff request: " << line);
        CHECK(requests.count(line.substr(0, line.find(' '))) == 1);
    }

    const std::string manual = read_file(stdfs::path(dt::source_dir()) / "docs" / "manual.md");
    const Names shown = roff_code_lines(roff_lines(roff));
    std::size_t checked = 0;
    for (const std::string& line : code_lines(manual.substr(manual.find("\n## NAME")))) {
        INFO("a line of a code block of docs/manual.md, not in a literal block of the man page: " << line);
        CHECK(shown.count(line) == 1);
        ++checked;
    }
    CHECK(checked > 10);
}
