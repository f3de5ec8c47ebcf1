#pragma once
// Output helpers: stdout carries the command's result (text, or JSON with --json).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/git/signing.hpp"
#include "core/git/tree_io.hpp"

namespace depsync::cli {

// A minimal JSON object writer: keys in insertion order, values already encoded.
class JsonObject {
  public:
    JsonObject& add(const std::string& key, const std::string& value);  // string
    JsonObject& add(const std::string& key, const char* value);
    JsonObject& add(const std::string& key, std::int64_t value);
    JsonObject& add(const std::string& key, std::uint64_t value);
    JsonObject& add(const std::string& key, bool value);
    JsonObject& add_null(const std::string& key);
    JsonObject& add_raw(const std::string& key, const std::string& json);
    std::string str() const;

  private:
    std::vector<std::pair<std::string, std::string>> m_fields;
};

std::string json_string(const std::string& s);
std::string json_array(const std::vector<std::string>& encoded_items);

// "2026-11-27T10:26:23Z"
std::string iso_time(std::int64_t unix_seconds);

// "(+a ~m -d)"
std::string counts_text(const git::ChangeCounts& c);

// A signature check as log and verify show it: "good (primary@example)" with the signer from allowed_signers,
// else "unsigned", "unknown key" or "bad".
std::string signature_text(const git::SignatureCheck& check);

}  // namespace depsync::cli
