#include "core/sync/state_record.hpp"

#include <charconv>
#include <sstream>

#include "core/git/handle.hpp"

namespace depsync::sync {
namespace {

// The whole of `text` as a number of type T, or nullopt (no sign for unsigned, no spaces, nothing after).
template <typename T>
std::optional<T> whole_number(const std::string& text) {
    T value{};
    const char* end = text.data() + text.size();
    auto [stop, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || stop != end) return std::nullopt;
    return value;
}

// A number field: nullopt when absent, RecordDamaged when it is there in another form.
template <typename T>
std::optional<T> number_field(const std::string* value, std::string_view key) {
    if (!value) return std::nullopt;
    std::optional<T> n = whole_number<T>(*value);
    if (!n) throw RecordDamaged("'" + std::string(key) + "' is not a number");
    return n;
}

}  // namespace

StateRecord& StateRecord::set(std::string_view key, std::string_view value) {
    std::string line(value);
    for (char& c : line)
        if (c == '\n' || c == '\r') c = ' ';
    m_fields.emplace_back(std::string(key), std::move(line));
    return *this;
}

StateRecord& StateRecord::set(std::string_view key, const git_oid& id) {
    return set(key, git::to_hex(id));
}

StateRecord& StateRecord::set(std::string_view key, std::uint64_t number) {
    return set(key, std::to_string(number));
}

StateRecord& StateRecord::set(std::string_view key, std::int64_t number) {
    return set(key, std::to_string(number));
}

StateRecord& StateRecord::set(std::string_view key, double number) {
    std::ostringstream out;
    out << number;
    return set(key, out.str());
}

std::string StateRecord::text() const {
    std::string out;
    for (const auto& [key, value] : m_fields) out += key + "=" + value + "\n";
    return out;
}

StateRecord StateRecord::parse(std::string_view text) {
    StateRecord record;
    if (!text.empty() && text.back() != '\n') throw RecordDamaged("its last line is cut off");
    std::size_t number = 0;
    while (!text.empty()) {
        ++number;
        std::string_view line = text.substr(0, text.find('\n'));
        text.remove_prefix(line.size() + 1);
        std::size_t eq = line.find('=');
        if (eq == std::string_view::npos || eq == 0)
            throw RecordDamaged("line " + std::to_string(number) + " is no key=value field");
        std::string_view key = line.substr(0, eq);
        if (record.find(key)) throw RecordDamaged("line " + std::to_string(number) + " repeats a field");
        record.m_fields.emplace_back(std::string(key), std::string(line.substr(eq + 1)));
    }
    return record;
}

const std::string* StateRecord::find(std::string_view key) const {
    for (const auto& [k, v] : m_fields)
        if (k == key) return &v;
    return nullptr;
}

std::optional<std::string> StateRecord::get(std::string_view key) const {
    const std::string* value = find(key);
    if (!value) return std::nullopt;
    return *value;
}

std::optional<git_oid> StateRecord::get_oid(std::string_view key) const {
    const std::string* value = find(key);
    if (!value) return std::nullopt;
    std::optional<git_oid> id = git::parse_oid(*value);
    if (!id) throw RecordDamaged("'" + std::string(key) + "' is not an object id");
    return id;
}

std::optional<std::uint64_t> StateRecord::get_unsigned(std::string_view key) const {
    return number_field<std::uint64_t>(find(key), key);
}

std::optional<std::int64_t> StateRecord::get_signed(std::string_view key) const {
    return number_field<std::int64_t>(find(key), key);
}

std::optional<double> StateRecord::get_real(std::string_view key) const {
    return number_field<double>(find(key), key);
}

std::optional<StateRecord> read_state_record(const std::filesystem::path& file) {
    std::optional<std::string> text = fs::read_file(file);
    if (!text) return std::nullopt;
    return StateRecord::parse(*text);
}

void write_state_record(const std::filesystem::path& file, const StateRecord& record, fs::Fsync fsync) {
    fs::write_file_atomically(file, record.text(), 0600, fsync);
}

}  // namespace depsync::sync
