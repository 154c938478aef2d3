#pragma once

// The SQL types a WHERE clause can use and their values: parsing PostgreSQL's text output (and
// literal input), printing the text PostgreSQL would print, comparing and converting. Invalid
// text never throws: parsing returns nullopt.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "where/json_value.h"

namespace eddy::where {

enum class TypeKind {
  kUnknown,  // an untyped literal or parameter, typed later by its context
  kBool,
  kInt2,
  kInt4,
  kInt8,
  kFloat4,
  kFloat8,
  kNumeric,  // evaluated as a double
  kText,
  kVarchar,
  kBpchar,
  kName,
  kUuid,
  kDate,
  kTime,
  kTimestamp,
  kTimestamptz,
  kInterval,
  kJson,
  kJsonb,
  kEnum,  // compared as text; `enum_name` says which
};

struct Type {
  TypeKind kind = TypeKind::kUnknown;
  bool is_array = false;
  std::string enum_name;

  bool operator==(const Type&) const = default;
  Type Element() const { return Type{kind, false, enum_name}; }
  Type ArrayOf() const { return Type{kind, true, enum_name}; }
};

bool IsInteger(TypeKind kind);
bool IsFloat(TypeKind kind);  // float4, float8, numeric
inline bool IsNumber(TypeKind kind) { return IsInteger(kind) || IsFloat(kind); }
bool IsText(TypeKind kind);      // text, varchar, bpchar, name
bool IsDateTime(TypeKind kind);  // date, timestamp, timestamptz
inline bool IsScalar(const Type& type, TypeKind kind) {
  return !type.is_array && type.kind == kind;
}

// The type as SQL names it in a cast ("int4", "timestamptz", "\"mood\"", "int4[]").
std::string TypeSqlName(const Type& type);
// The type for a pg_type.typname ("int4", "varchar", "_int4" is not accepted: use `is_array`);
// nullopt for types WHERE clauses do not support.
std::optional<TypeKind> TypeKindFromName(std::string_view typname);

// 128-bit arithmetic for overflow checks and interval spans.
__extension__ typedef __int128 Int128;

struct Interval {
  int64_t months = 0;
  int64_t days = 0;
  int64_t micros = 0;
  // PostgreSQL compares intervals by their span with 30-day months and 24-hour days.
  Int128 Span() const;
};

struct ArrayValue;

// One value of a known Type. `null` is SQL NULL. Which member holds the value depends on the type:
// bool -> boolean; integers, date (days since 1970-01-01), time and timestamps (microseconds) ->
// integer; floats -> real; text, uuid, enum -> text; interval -> interval; json -> json;
// arrays -> array.
struct Value {
  bool null = true;
  bool boolean = false;
  int64_t integer = 0;
  double real = 0;
  std::string text;
  Interval interval;
  std::shared_ptr<const JsonValue> json;
  std::shared_ptr<const ArrayValue> array;

  static Value Null() { return {}; }
  static Value Bool(bool b) {
    Value v;
    v.null = false;
    v.boolean = b;
    return v;
  }
};

struct ArrayValue {
  std::vector<int> dims;     // empty for an empty array
  std::vector<Value> items;  // row-major, flattened
};

// Parses PostgreSQL text (output or literal input) as `type`; nullopt if it is not valid.
std::optional<Value> ParseValue(const Type& type, std::string_view text);
// The text PostgreSQL prints for `value` (bool as t/f). REQUIRES: !value.null.
std::string FormatValue(const Type& type, const Value& value);
// The text of `value::text` (as FormatValue except bool gives true/false).
std::string CastToText(const Type& type, const Value& value);

// Three-way comparison of two non-null values of the same type; nullopt if not comparable.
std::optional<int> CompareValues(const Type& type, const Value& a, const Value& b);
bool ValuesEqual(const Type& type, const Value& a, const Value& b);

// Converts a non-null value between types as an implicit or explicit cast does; nullopt if the
// value does not fit (PostgreSQL would raise an error).
std::optional<Value> ConvertValue(const Value& value, const Type& from, const Type& to);
// Whether ConvertValue supports `from` -> `to` at all.
bool CanConvert(const Type& from, const Type& to);

// Canonical uuid text (lower case, 8-4-4-4-12) for uuid input forms; nullopt if invalid.
std::optional<std::string> CanonicalUuid(std::string_view text);

}  // namespace eddy::where
