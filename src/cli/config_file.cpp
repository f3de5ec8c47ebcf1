#include "cli/config_file.hpp"

#include <cstdio>
#include <iterator>
#include <map>
#include <sstream>

#include "cli/suggest.hpp"
#include "core/error.hpp"

namespace depsync::cli {
namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

std::string_view trimmed(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

const ConfigKey* find_key(std::string name) {
    for (char& c : name)
        if (c == '-') c = '_';
    for (const ConfigKey& key : config_keys())
        if (key.name == name) return &key;
    return nullptr;
}

void append_utf8(std::string& out, unsigned code) {
    if (code < 0x80) {
        out += static_cast<char>(code);
    } else if (code < 0x800) {
        out += static_cast<char>(0xc0 | (code >> 6));
        out += static_cast<char>(0x80 | (code & 0x3f));
    } else {
        out += static_cast<char>(0xe0 | (code >> 12));
        out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (code & 0x3f));
    }
}

// Reads the file line by line; a list may take several lines. Every failure names the file and the line
// being read.
class Parser {
  public:
    Parser(std::string_view text, const std::string& file) : m_file(file) {
        while (!text.empty()) {
            auto end = text.find('\n');
            m_lines.push_back(text.substr(0, end));
            text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        }
    }

    std::vector<ConfigEntry> entries() {
        std::vector<ConfigEntry> out;
        std::map<const ConfigKey*, std::size_t> seen;  // index in `out`
        while (next_line()) {
            m_rest = trimmed(m_rest);
            if (m_rest.empty() || m_rest.front() == '#' || m_rest.front() == ';') continue;
            if (m_rest.front() == '[') {
                section();
                continue;
            }
            ConfigEntry entry = key_and_value();
            auto [it, fresh] = seen.emplace(entry.key, out.size());
            if (fresh) {
                out.push_back(std::move(entry));
            } else if (entry.key->repeatable()) {
                // A list key may be repeated: each line adds its items, as its help says.
                auto& values = out[it->second].values;
                values.insert(values.end(), entry.values.begin(), entry.values.end());
            } else {
                fail(entry.key->name + " is given twice, on line " + std::to_string(out[it->second].line) +
                         " and on line " + std::to_string(entry.line) + " (keep one of them)",
                     entry.line);
            }
        }
        return out;
    }

  private:
    [[noreturn]] void fail(const std::string& what, int line = 0) const {
        throw Error("config " + m_file + " line " + std::to_string(line ? line : m_line) + ": " + what,
                    ExitCode::usage);
    }

    bool next_line() {
        if (m_index == m_lines.size()) return false;
        m_rest = m_lines[m_index++];
        m_line = static_cast<int>(m_index);
        if (m_rest.find('\0') != std::string_view::npos) fail("the line holds a NUL byte");
        return true;
    }

    void section() {
        std::string name(trimmed(m_rest.substr(1, m_rest.find(']') - 1)));
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (m_rest.back() != ']' || name != "default")
            fail("sections are not used (" + std::string(m_rest) +
                 "): every key applies to the whole node; remove the line");
    }

    ConfigEntry key_and_value() {
        ConfigEntry entry;
        entry.line = m_line;
        auto eq = m_rest.find('=');
        std::string name(trimmed(m_rest.substr(0, eq)));
        if (eq == std::string_view::npos || name.empty() ||
            name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos)
            fail("expected 'key = value', not '" + std::string(m_rest) + "'");
        entry.key = find_key(name);
        if (!entry.key)
            fail("unknown key '" + name + "'" + did_you_mean(name, key_names()) +
                 " (see 'depsync --help' for the keys)");
        m_rest = trimmed(m_rest.substr(eq + 1));
        if (!m_rest.empty() && m_rest.front() == '[') {
            if (!entry.key->repeatable())
                fail(entry.key->name + " takes one value, not a list (quote a value that starts with '[')");
            m_rest.remove_prefix(1);
            entry.values = list();
        } else if (!m_rest.empty() && (m_rest.front() == '"' || m_rest.front() == '\'')) {
            entry.values = {quoted()};
            expect_end();
        } else {
            entry.values = bare(*entry.key);
        }
        return entry;
    }

    static std::vector<std::string> key_names() {
        std::vector<std::string> names;
        for (const ConfigKey& key : config_keys()) names.push_back(key.name);
        return names;
    }

    // A bare value: the rest of the line, up to a comment.
    std::vector<std::string> bare(const ConfigKey& key) {
        std::size_t end = 0;
        while (end < m_rest.size() &&
               !((m_rest[end] == '#' || m_rest[end] == ';') && end > 0 && is_space(m_rest[end - 1])))
            ++end;
        std::string value(trimmed(m_rest.substr(0, end)));
        if (value.find_first_of("#;") != std::string::npos)
            fail("write a value holding '#' or ';' in double quotes");
        if (!key.repeatable()) return {value};
        if (value.find_first_of(" \t,") != std::string::npos)
            fail("a list is written [\"a\", \"b\"]; quote a value holding a space or a comma");
        if (value.empty()) return {};
        return {value};
    }

    // The items of a list, m_rest just after '['; the list may continue on the lines that follow.
    std::vector<std::string> list() {
        std::vector<std::string> items;
        const int opened = m_line;
        bool need_item = false;
        for (;;) {
            m_rest = trimmed(m_rest);
            if (m_rest.empty() || m_rest.front() == '#' || m_rest.front() == ';') {
                if (!next_line())
                    fail("the list opened on line " + std::to_string(opened) + " is not closed with ']'");
                continue;
            }
            if (m_rest.front() == ']' && !need_item) break;
            if (!items.empty() && !need_item) {
                if (m_rest.front() != ',') fail("expected ',' or ']' between the items of a list");
                m_rest.remove_prefix(1);
                need_item = true;
                continue;
            }
            items.push_back(list_item());
            need_item = false;
        }
        m_rest.remove_prefix(1);
        expect_end();
        return items;
    }

    std::string list_item() {
        if (m_rest.front() == '"' || m_rest.front() == '\'') return quoted();
        std::size_t end = m_rest.find_first_of(",]");
        std::string item(trimmed(m_rest.substr(0, end)));
        if (item.empty() || item.find_first_of("#;\"' \t") != std::string::npos)
            fail("write this item of the list in double quotes: " + std::string(m_rest.substr(0, end)));
        m_rest.remove_prefix(end == std::string_view::npos ? m_rest.size() : end);
        return item;
    }

    // A quoted value, m_rest at its opening quote: "..." with escapes, or '...' as it is.
    std::string quoted() {
        const char quote = m_rest.front();
        std::string out;
        std::size_t i = 1;
        for (; i < m_rest.size() && m_rest[i] != quote; ++i) {
            if (quote == '\'' || m_rest[i] != '\\') {
                out += m_rest[i];
                continue;
            }
            i = escape(i + 1, out);
        }
        if (i >= m_rest.size()) fail(std::string("the value's closing ") + quote + " is missing");
        m_rest.remove_prefix(i + 1);
        return out;
    }

    // The escape at m_rest[at] (just after a backslash), appended to `out`; returns the index of its last
    // character.
    std::size_t escape(std::size_t at, std::string& out) {
        char c = at < m_rest.size() ? m_rest[at] : '\0';
        switch (c) {
            case '\\':
                out += '\\';
                return at;
            case '"':
                out += '"';
                return at;
            case 'n':
                out += '\n';
                return at;
            case 't':
                out += '\t';
                return at;
            case 'r':
                out += '\r';
                return at;
            case 'u':
                break;
            default:
                fail(std::string("unknown escape '\\") + c +
                     "' in a double-quoted value (write '\\\\' for a backslash, or use single quotes)");
        }
        std::string hex(m_rest.substr(at + 1, 4));
        if (hex.size() != 4 || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
            fail("'\\u' takes four hex digits");
        unsigned code = static_cast<unsigned>(std::stoul(hex, nullptr, 16));
        if (code == 0 || (code >= 0xd800 && code <= 0xdfff))
            fail("'\\u" + hex + "' is not a character a value can hold");
        append_utf8(out, code);
        return at + 4;
    }

    void expect_end() {
        m_rest = trimmed(m_rest);
        if (!m_rest.empty() && m_rest.front() != '#' && m_rest.front() != ';')
            fail("unexpected text after the value: " + std::string(m_rest));
    }

    std::string m_file;
    std::vector<std::string_view> m_lines;
    std::size_t m_index = 0;
    int m_line = 0;
    std::string_view m_rest;
};

bool bare_word(const std::string& value) {
    return !value.empty() && value.find_first_not_of(
                                 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "0123456789._+-") == std::string::npos;
}

// What a key's value must look like, for a value that was not.
std::string expected_text(const ConfigKey& key) {
    if (key.value == Value::bytes) return "expected a number of bytes, optionally with KiB, MiB or GiB";
    if (!key.choices.empty()) {
        std::string list;
        for (const auto& c : key.choices) list += (list.empty() ? "" : ", ") + c;
        return "expected one of " + list;
    }
    if (std::holds_alternative<double GlobalOptions::*>(key.field)) return "expected a number";
    if (std::holds_alternative<int GlobalOptions::*>(key.field)) return "expected a whole number";
    return "expected a whole number, 0 or more";
}

}  // namespace

std::vector<ConfigEntry> parse_config(std::string_view text, const std::string& file) {
    return Parser(text, file).entries();
}

std::string quoted_value(const std::string& value) {
    std::string out = "\"";
    for (char ch : value) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

std::string config_line(const ConfigKey& key, const std::vector<std::string>& values) {
    if (key.repeatable()) {
        std::string list;
        for (const auto& v : values) list += (list.empty() ? "" : ", ") + quoted_value(v);
        return key.name + " = [" + list + "]";
    }
    const std::string value = values.empty() ? "" : values.front();
    const bool plain = key.value == Value::number || key.value == Value::bytes || key.value == Value::choice;
    return key.name + " = " + (plain && bare_word(value) ? value : quoted_value(value));
}

std::vector<std::string> field_values(const ConfigKey& key, const GlobalOptions& options) {
    return std::visit(
        [&](auto member) -> std::vector<std::string> {
            const auto& value = options.*member;
            using T = std::decay_t<decltype(value)>;
            if constexpr (std::is_same_v<T, std::vector<std::string>>) {
                return value;
            } else if constexpr (std::is_same_v<T, std::string>) {
                return {value};
            } else {
                std::ostringstream out;
                out << value;
                return {out.str()};
            }
        },
        key.field);
}

std::vector<CLI::ConfigItem> ConfigReader::from_config(std::istream& input) const {
    const std::string text{std::istreambuf_iterator<char>(input), std::istreambuf_iterator<char>()};
    const std::string& file = m_options.config_file;
    // Each value goes through its option in a scratch parser: the same conversions and checks as on the
    // command line, one value at a time, so that a failure has a line.
    CLI::App scratch;
    GlobalOptions checked;
    add_config_keys(scratch, checked);
    for (const ConfigEntry& entry : parse_config(text, file)) {
        const ConfigKey& key = *entry.key;
        if (key.repeatable()) {
            checked.*std::get<std::vector<std::string> GlobalOptions::*>(key.field) = entry.values;
        } else {
            std::vector<std::string> args{"--" + key.name + "=" + entry.values.at(0)};
            try {
                scratch.parse(args);
            } catch (const CLI::ParseError& e) {
                std::string why = e.what();
                if (dynamic_cast<const CLI::ConversionError*>(&e) || !key.choices.empty() ||
                    key.value == Value::bytes || why.find(": ") == std::string::npos)
                    why = expected_text(key);
                else
                    why = why.substr(why.find(": ") + 2);
                throw Error("config " + file + " line " + std::to_string(entry.line) + ": " +
                                config_line(key, entry.values) + ": " + why,
                            ExitCode::usage);
            }
        }
        // A key given on the command line wins over the file.
        if (m_app.get_option("--" + key.name)->count() > 0) continue;
        std::visit([&](auto member) { m_options.*member = checked.*member; }, key.field);
        m_options.file_lines[key.name] = entry.line;
    }
    return {};
}

}  // namespace depsync::cli
