#pragma once
// Output helpers: stdout carries the command's result (text, or JSON with --json).

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/git/signing.hpp"
#include "core/git/tree_io.hpp"

namespace depsync::cli {

// A JSON value as --json prints it: keys in insertion order, the order docs/manual.md documents.
using Json = nlohmann::ordered_json;

// One JSON value on one line. Text that is not UTF-8 (a hostile file name, a node's garbled answer) is
// written with U+FFFD in place of each invalid sequence: never refused, never a half-written line.
std::string json_text(const Json& value);

// `null` for an absent value or an empty text.
Json text_or_null(const std::string& text);
template <typename T>
Json or_null(const std::optional<T>& value) {
    return value ? Json(*value) : Json(nullptr);
}

// Reads one JSON document that another depsync printed (status --json, log --json), possibly an older one
// that wrote text which is not UTF-8 as it was: such bytes are read as U+FFFD. Throws std::runtime_error
// with the offset of what cannot be read.
nlohmann::json parse_json(const std::string& text);

// "2026-11-27T10:26:23Z"
std::string iso_time(std::int64_t unix_seconds);

// "(+a ~m -d)"
std::string counts_text(const git::ChangeCounts& c);

// "malformed archive, published as it is: PATH (DEFECT)\n" per archive (publish, watch, status, verify),
// the path escaped for a terminal.
std::string malformed_archive_lines(const std::vector<std::pair<std::string, std::string>>& archives);

// A signature check as log and verify show it: "good (primary@example)" with the signer from allowed_signers,
// else "unsigned", "unknown key" or "bad".
std::string signature_text(const git::SignatureCheck& check);

}  // namespace depsync::cli
