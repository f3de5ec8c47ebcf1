#pragma once
// The small key=value files of the state folder (deployed, journal, pinned, published, last-run): one field
// per line, "key=value\n", in the order the fields were set. Values are single lines: a newline or carriage
// return in one is written as a space, so no value can add a field.
//
// One error policy for all of them: a file is a whole record or damaged. A line without '=', a key given
// twice, a last line without its newline (a cut file) or a field read in a form it does not have (a commit
// that is not 40 hex digits, a number that is not plain decimal) make it damaged (RecordDamaged); unknown
// keys are ignored, so that a newer version may add fields. What a damaged record means is the reader's
// call: the deployed, journal and pinned records refuse to act on it, caches and reports start afresh.

#include <git2.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/fs/atomic_file.hpp"

namespace depsync::sync {

// A record that is not whole; what() says why ("line 2 has no '='", "'release' is not a number").
class RecordDamaged : public Error {
  public:
    using Error::Error;
};

class StateRecord {
  public:
    // Appends a field (a value's newlines become spaces).
    StateRecord& set(std::string_view key, std::string_view value);
    StateRecord& set(std::string_view key, const git_oid& id);
    StateRecord& set(std::string_view key, std::uint64_t number);
    StateRecord& set(std::string_view key, std::int64_t number);
    StateRecord& set(std::string_view key, double number);  // as std::ostream writes it: 6 significant digits
    // The record as written: "key=value\n" per field.
    std::string text() const;

    // The fields of `text`; throws RecordDamaged when it is not a whole record.
    static StateRecord parse(std::string_view text);

    // A field's value; nullopt when the record does not have it. The typed reads throw RecordDamaged when
    // the field is there in another form.
    std::optional<std::string> get(std::string_view key) const;
    std::optional<git_oid> get_oid(std::string_view key) const;
    std::optional<std::uint64_t> get_unsigned(std::string_view key) const;
    std::optional<std::int64_t> get_signed(std::string_view key) const;
    std::optional<double> get_real(std::string_view key) const;

  private:
    std::vector<std::pair<std::string, std::string>> m_fields;
    const std::string* find(std::string_view key) const;
};

// The record in `file`: nullopt when the file does not exist. Throws RecordDamaged when it is not a whole
// record, Error when it cannot be read.
std::optional<StateRecord> read_state_record(const std::filesystem::path& file);

// Writes `record` to `file` atomically (mode 600).
void write_state_record(const std::filesystem::path& file, const StateRecord& record,
                        fs::Fsync fsync = fs::Fsync::yes);

}  // namespace depsync::sync
