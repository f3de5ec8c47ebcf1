#include "cli/output.hpp"

#include <cstdio>
#include <ctime>

namespace depsync::cli {

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += ch;
                }
        }
    }
    return out + "\"";
}

std::string json_array(const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
    return out + "]";
}

JsonObject& JsonObject::add(const std::string& key, const std::string& value) {
    m_fields.emplace_back(key, json_string(value));
    return *this;
}
JsonObject& JsonObject::add(const std::string& key, const char* value) {
    return add(key, std::string(value));
}
JsonObject& JsonObject::add(const std::string& key, std::int64_t value) {
    m_fields.emplace_back(key, std::to_string(value));
    return *this;
}
JsonObject& JsonObject::add(const std::string& key, std::uint64_t value) {
    m_fields.emplace_back(key, std::to_string(value));
    return *this;
}
JsonObject& JsonObject::add(const std::string& key, bool value) {
    m_fields.emplace_back(key, value ? "true" : "false");
    return *this;
}
JsonObject& JsonObject::add_null(const std::string& key) {
    m_fields.emplace_back(key, "null");
    return *this;
}
JsonObject& JsonObject::add_raw(const std::string& key, const std::string& json) {
    m_fields.emplace_back(key, json);
    return *this;
}

std::string JsonObject::str() const {
    std::string out = "{";
    for (std::size_t i = 0; i < m_fields.size(); ++i)
        out += (i ? "," : "") + json_string(m_fields[i].first) + ":" + m_fields[i].second;
    return out + "}";
}

std::string iso_time(std::int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string counts_text(const git::ChangeCounts& c) {
    return "(+" + std::to_string(c.added) + " ~" + std::to_string(c.modified) + " -" +
           std::to_string(c.deleted) + ")";
}

std::string signature_text(const git::SignatureCheck& check) {
    std::string text = git::signature_state_name(check.state);
    if (check.state == git::SignatureState::good && !check.principal.empty())
        text += " (" + check.principal + ")";
    return text;
}

}  // namespace depsync::cli
