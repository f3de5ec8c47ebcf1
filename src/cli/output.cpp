#include "cli/output.hpp"

#include <ctime>
#include <stdexcept>

#include "core/printable.hpp"

namespace depsync::cli {

std::string json_text(const Json& value) {
    return value.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Json text_or_null(const std::string& text) {
    return text.empty() ? Json(nullptr) : Json(text);
}

nlohmann::json parse_json(const std::string& text) {
    // The library refuses bytes that are not UTF-8; writing the text as one JSON string with U+FFFD in their
    // place and reading that string back keeps every other byte as it was.
    std::string valid = nlohmann::json::parse(json_text(Json(text))).get<std::string>();
    try {
        return nlohmann::json::parse(valid);
    } catch (const nlohmann::json::parse_error& e) {
        throw std::runtime_error("cannot read JSON at offset " + std::to_string(e.byte));
    }
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

std::string malformed_archive_lines(const std::vector<std::pair<std::string, std::string>>& archives) {
    std::string out;
    for (const auto& [path, defect] : archives)
        out += "malformed archive, published as it is: " + printable(path) + " (" + printable(defect) + ")\n";
    return out;
}

std::string signature_text(const git::SignatureCheck& check) {
    std::string text = git::signature_state_name(check.state);
    if (check.state == git::SignatureState::good && !check.principal.empty())
        text += " (" + check.principal + ")";
    return text;
}

}  // namespace depsync::cli
