#pragma once

#include <string>
#include <string_view>

#include "eddy/change.h"

#include "common/json_string.h"

namespace eddy::change {

// JSON rendering of PostgreSQL values. This is on the hot path of every subscription: the
// functions append to a caller-owned std::string (reuse it across rows), never allocate per value
// beyond the growth of `out`, and never fail: whatever the input, the output is valid JSON.
// docs/types.md is the user-facing table of what each type becomes.

// Appends `s` as a JSON string: quotes plus RFC 8259 escaping. `"` and `\` are backslash-escaped;
// control characters (U+0000..U+001F) become \b \f \n \r \t or \u00XX, as PostgreSQL's own
// to_json() writes them. Valid UTF-8 passes through unchanged; every byte that is not part of a
// valid UTF-8 sequence (stray continuation bytes, truncated or overlong sequences, surrogates,
// code points past U+10FFFF) is replaced by U+FFFD, so the output is always valid UTF-8.
// The JSON string writer lives in common/json_string.h (shared with the HTTP layer).
using ::eddy::AppendJsonString;

// Appends the JSON form of `value`, a value of `column` in PostgreSQL's text output form as the
// capture connection produces it (DateStyle=ISO, IntervalStyle=iso_8601, TimeZone=UTC,
// extra_float_digits=3), chosen by column.kind:
//   kNull value                   -> null
//   kBool "t"/"f"                 -> true/false
//   kInt16, kInt32                -> number
//   kInt64                        -> number when |v| <= 2^53-1, else a string of the digits, so
//                                    that no JSON client (JavaScript's doubles) silently rounds
//   kFloat32, kFloat64            -> number; "NaN", "Infinity", "-Infinity" -> strings
//   kNumeric                      -> always a string (exact)
//   kText, kEnum, kUuid, kMoney, kDate, kTime, kInterval, kBytea -> the text as a string
//   kJson                         -> embedded as is (PostgreSQL's own json/jsonb output)
//   kTimestamp                    -> "2024-01-02T03:04:05.123"
//   kTimestampTz, kTimeTz         -> 'T' separator and RFC 3339 offsets: +00 -> "Z",
//                                    +05 -> "+05:00", +05:30 stays
//   kArray                        -> nested JSON arrays; elements rendered by
//                                    column.element_kind; unquoted NULL -> null
// "infinity", "-infinity" and BC dates stay exactly as PostgreSQL sent them. Text that does not
// look like the column's kind (a malformed number, a malformed array literal) is rendered as a
// JSON string of the whole text rather than producing invalid JSON.
//
// Contract: a Value::Kind::kUnchanged value (an unchanged TOASTed column PostgreSQL did not send)
// has no JSON form. It must not be rendered as null, which would be a lie; the caller omits the
// column from "new" and lists it under "unchanged". If called with one anyway, this function
// appends nothing.
void AppendJsonValue(const Column& column, const Value& value, std::string* out);

// The same, for a bare text value of `kind` (what AppendJsonValue does for a kText value).
// `element_kind` is used when kind == kArray. `array_delimiter` is the element separator of
// array literals: ',' for every type except box (';').
void AppendJsonText(TypeKind kind, TypeKind element_kind, std::string_view text, std::string* out,
                    char array_delimiter = ',');

}  // namespace eddy::change
