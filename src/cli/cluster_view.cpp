#include "cli/cluster_view.hpp"

#include <algorithm>
#include <stdexcept>

namespace depsync::cli {
namespace {

class JsonReader {
  public:
    explicit JsonReader(const std::string& text) : m_text(text) {}

    std::vector<FlatJson> document() {
        std::vector<FlatJson> out;
        skip_space();
        if (peek() == '[') {
            ++m_pos;
            skip_space();
            if (peek() == ']') {
                ++m_pos;
            } else {
                for (;;) {
                    out.push_back(object());
                    skip_space();
                    if (peek() == ']') {
                        ++m_pos;
                        break;
                    }
                    expect(',');
                }
            }
        } else {
            out.push_back(object());
        }
        skip_space();
        if (m_pos != m_text.size()) fail("trailing text");
        return out;
    }

  private:
    const std::string& m_text;
    std::size_t m_pos = 0;

    [[noreturn]] void fail(const std::string& what) const {
        throw std::runtime_error("cannot read JSON (" + what + " at offset " + std::to_string(m_pos) + ")");
    }
    char peek() const { return m_pos < m_text.size() ? m_text[m_pos] : '\0'; }
    void skip_space() {
        while (m_pos < m_text.size() && (peek() == ' ' || peek() == '\n' || peek() == '\t' || peek() == '\r'))
            ++m_pos;
    }
    void expect(char c) {
        skip_space();
        if (peek() != c) fail(std::string("expected '") + c + "'");
        ++m_pos;
    }

    FlatJson object() {
        FlatJson out;
        expect('{');
        skip_space();
        if (peek() == '}') {
            ++m_pos;
            return out;
        }
        for (;;) {
            skip_space();
            std::string key = string();
            expect(':');
            skip_space();
            out[key] = scalar();
            skip_space();
            if (peek() == '}') {
                ++m_pos;
                return out;
            }
            expect(',');
        }
    }

    JsonScalar scalar() {
        JsonScalar v;
        char c = peek();
        if (c == '"') {
            v.kind = JsonScalar::Kind::string;
            v.text = string();
            return v;
        }
        for (const char* word : {"true", "false", "null"}) {
            if (m_text.compare(m_pos, std::char_traits<char>::length(word), word) == 0) {
                v.kind = word[0] == 'n' ? JsonScalar::Kind::null : JsonScalar::Kind::boolean;
                v.text = word;
                m_pos += v.text.size();
                return v;
            }
        }
        std::size_t start = m_pos;
        while (m_pos < m_text.size() && std::string("+-.0123456789eE").find(peek()) != std::string::npos)
            ++m_pos;
        if (start == m_pos) fail("expected a value");
        v.kind = JsonScalar::Kind::number;
        v.text = m_text.substr(start, m_pos - start);
        return v;
    }

    static void append_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    std::string string() {
        if (peek() != '"') fail("expected a string");
        std::string out;
        for (++m_pos; m_pos < m_text.size() && peek() != '"'; ++m_pos) {
            if (peek() != '\\') {
                out += peek();
                continue;
            }
            if (++m_pos >= m_text.size()) fail("unfinished escape");
            switch (peek()) {
                case 'n':
                    out += '\n';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'u':
                    if (m_pos + 4 >= m_text.size()) fail("short \\u escape");
                    append_utf8(out,
                                static_cast<unsigned>(std::stoul(m_text.substr(m_pos + 1, 4), nullptr, 16)));
                    m_pos += 4;
                    break;
                default:
                    out += peek();  // \" \\ \/
            }
        }
        if (peek() != '"') fail("unfinished string");
        ++m_pos;
        return out;
    }
};

std::string text_of(const FlatJson& o, const std::string& key) {
    auto it = o.find(key);
    return it == o.end() || it->second.kind == JsonScalar::Kind::null ? "" : it->second.text;
}

std::optional<std::uint64_t> number_of(const FlatJson& o, const std::string& key) {
    auto it = o.find(key);
    if (it == o.end() || it->second.kind != JsonScalar::Kind::number) return std::nullopt;
    try {
        return std::stoull(it->second.text);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

bool flag_of(const FlatJson& o, const std::string& key) {
    return text_of(o, key) == "true";
}

}  // namespace

std::vector<FlatJson> parse_flat_json(const std::string& text) {
    return JsonReader(text).document();
}

NodeView view_of(const sync::ClusterNode& node, const sync::NodeCall& call) {
    NodeView v;
    v.target = node.target;
    v.reachable = call.reached;
    if (!call.ok()) {
        v.error = call.error;
        return v;
    }
    FlatJson o;
    try {
        std::vector<FlatJson> objects = parse_flat_json(call.out);
        if (objects.size() != 1) throw std::runtime_error("expected one object");
        o = objects[0];
    } catch (const std::exception& e) {
        v.error = std::string("unexpected answer to status --json (") + e.what() + ")";
        return v;
    }
    v.name = text_of(o, "node");
    v.role = text_of(o, "role");
    v.commit = text_of(o, "commit");
    v.release = number_of(o, "release");
    v.upstream = number_of(o, "upstream_release");
    v.drift = number_of(o, "drift");
    v.last_success = text_of(o, "last_success");
    v.last_error = text_of(o, "last_error");
    v.on_change_error = text_of(o, "on_change_error");
    v.held_reason = text_of(o, "held_reason");
    v.consecutive_failures = number_of(o, "consecutive_failures").value_or(0);
    v.held = flag_of(o, "held");
    v.pinned = flag_of(o, "pinned");
    v.interrupted = flag_of(o, "interrupted");
    return v;
}

ClusterView compare(std::vector<NodeView> nodes) {
    ClusterView view;
    for (const NodeView& n : nodes) {
        if (!n.error.empty()) continue;
        for (const auto& r : {n.release, n.upstream})
            if (r) view.newest = std::max(view.newest.value_or(0), *r);
    }
    view.converged = true;
    for (NodeView& n : nodes) {
        if (n.error.empty()) {
            std::uint64_t runs = n.release.value_or(0), newest = view.newest.value_or(0);
            n.behind = newest > runs ? newest - runs : 0;
            n.on_newest = *n.behind == 0;
        }
        view.converged = view.converged && n.on_newest;
    }
    view.nodes = std::move(nodes);
    return view;
}

std::vector<ReleaseView> releases_of(const std::string& log_json) {
    std::vector<ReleaseView> out;
    for (const FlatJson& o : parse_flat_json(log_json)) {
        ReleaseView r;
        r.number = number_of(o, "release").value_or(0);
        r.commit = text_of(o, "commit");
        r.time = text_of(o, "time");
        r.node = text_of(o, "node");
        r.message = text_of(o, "message");
        r.added = number_of(o, "added").value_or(0);
        r.modified = number_of(o, "modified").value_or(0);
        r.deleted = number_of(o, "deleted").value_or(0);
        out.push_back(r);
    }
    return out;
}

}  // namespace depsync::cli
