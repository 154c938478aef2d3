#pragma once

// How column values travel between PostgreSQL and WatermelonDB (spec 1.2): pure functions, no
// I/O. Pull: a SELECT expression per column and the JSON rendering of its text. Push: the text
// parameter for a pushed JSON value and the SQL expression that casts it back.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/result.h"

namespace eddy::watermelon {

enum class ValueKind : uint8_t {
  kString,       // text, varchar, uuid, enums, bytea, inet, ... and anything unknown
  kInteger,      // int2, int4: a JSON number
  kBigInteger,   // int8: a JSON number, a JSON string past +-(2^53-1)
  kNumeric,      // numeric: a JSON number, a JSON string when its integer part passes 2^53-1
  kFloat,        // float4, float8: a JSON number, null for NaN and infinities
  kBool,         // true / false
  kTimestampTz,  // epoch milliseconds
  kTimestamp,    // epoch milliseconds, the value read as UTC
  kDate,         // epoch milliseconds of midnight UTC
  kJson,         // json, jsonb: a JSON-encoded string
  kArray,        // any array: a JSON-encoded string (to_json)
  kComposite,    // a composite type: a JSON-encoded string (to_json)
};

// The kind of a column from pg_type: typname, typcategory and typtype.
ValueKind KindOfType(std::string_view type_name, char type_category, char type_type);
const char* ValueKindName(ValueKind kind);

// The SELECT expression for `quoted_column` (already quoted, may be qualified) whose text form
// AppendJsonValue renders.
std::string SelectExpression(ValueKind kind, std::string_view quoted_column);

// Appends the JSON for one value selected by SelectExpression (nullopt: SQL NULL).
void AppendJsonValue(ValueKind kind, std::optional<std::string_view> text, std::string* out);

// True when `digits` (an optional sign, digits, an optional fraction) has an integer part whose
// magnitude is at most 2^53-1, so a JavaScript number holds it exactly.
bool FitsJavaScriptInteger(std::string_view number_text);

// One pushed value as the JSON body held it.
struct JsonValue {
  enum class Kind : uint8_t { kNull, kBool, kNumber, kString, kRaw };
  Kind kind = Kind::kNull;
  std::string text;  // bool: "true"/"false"; number: its digits; string: unescaped; raw: JSON

  bool operator==(const JsonValue&) const = default;
};

// The text parameter for `value` in a column of `kind` (nullopt: NULL), or kInvalidArgument
// with a reason for the client ("expected a number, got a boolean").
Result<std::optional<std::string>> PushParameter(ValueKind kind, const JsonValue& value);

// The SQL expression that turns parameter $n (text) into the column's type `sql_type`
// (format_type output, e.g. "timestamp with time zone", "text[]").
std::string ParameterExpression(ValueKind kind, std::string_view sql_type, int n);

// Epoch milliseconds (may be fractional or negative) as PostgreSQL input text: with
// `with_offset` "2024-01-02 03:04:05.678000+00", without it the same time without the offset;
// `date_only` gives "2024-01-02". kInvalidArgument past the range JavaScript dates allow.
Result<std::string> EpochMsToText(std::string_view epoch_ms, bool with_offset, bool date_only);

// A PostgreSQL array literal of text items ({"a","b\"c",NULL}) for $n::text[] parameters.
std::string TextArrayLiteral(const std::vector<std::optional<std::string>>& items);
std::string TextArrayLiteral(const std::vector<std::string>& items);

}  // namespace eddy::watermelon
