#pragma once

// A parsed JSON document with the semantics of PostgreSQL's json/jsonb types: printing as jsonb
// prints (sorted, de-duplicated keys; ", " and ": " separators; numbers in numeric's form),
// `->`/`->>` lookups, jsonb containment (`@>`) and key existence (`?`).

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace eddy::where {

class JsonValue {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  // Parses `text`; nullopt when it is not valid JSON (or nests deeper than PostgreSQL allows).
  // `keep_source` records each value's source text, which is what PostgreSQL prints for `json`
  // (not jsonb) values; objects then keep their keys in source order and duplicates.
  static std::optional<JsonValue> Parse(std::string_view text, bool keep_source = false);

  Kind kind() const { return kind_; }
  bool boolean() const { return boolean_; }
  // The string (unescaped) or the number as numeric prints it (no exponent).
  const std::string& text() const { return text_; }
  const std::vector<JsonValue>& elements() const { return elements_; }
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }

  // The value of `key` in an object (the last one for duplicates), or nullptr.
  const JsonValue* Member(std::string_view key) const;
  // The `index`-th element of an array (negative counts from the end), or nullptr.
  const JsonValue* Element(long long index) const;

  // The text PostgreSQL prints: jsonb form, or for values parsed with keep_source the source text.
  std::string ToString() const;
  void AppendJsonb(std::string& out) const;
  // The `->>` text: strings unescaped, other values as printed; nullopt for JSON null.
  std::optional<std::string> AsText() const;

  // jsonb's `@>`: this contains `other`.
  bool Contains(const JsonValue& other, bool top_level = true) const;
  // jsonb's `?`: a key of an object, or a string element of an array, or the string itself.
  bool HasKey(std::string_view key) const;
  // jsonb equality (numbers compared by value).
  bool Equals(const JsonValue& other) const;

 private:
  friend class JsonParser;
  Kind kind_ = Kind::kNull;
  bool boolean_ = false;
  std::string text_;
  std::string source_;  // only with keep_source
  bool has_source_ = false;
  std::vector<JsonValue> elements_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

// `"text"` with JSON escapes as PostgreSQL's escape_json writes them.
void AppendJsonString(std::string& out, std::string_view text);

// Numeric text (`-1.50`, `1e3`) in the form numeric_out prints (`-1.50`, `1000`); nullopt if it
// is not a number.
std::optional<std::string> CanonicalNumeric(std::string_view text);

}  // namespace eddy::where
