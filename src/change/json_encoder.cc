#include "change/json_encoder.h"

#include <array>
#include <cstddef>
#include <cstdint>

#include "common/json_string.h"

namespace eddy::change {
namespace {

// 2^53 - 1: the largest integer every JSON client (IEEE doubles) represents exactly.
constexpr std::string_view kMaxSafeInteger = "9007199254740991";

// PostgreSQL's array_out() never nests deeper than MAXDIM (6); the limit only bounds hostile input.
constexpr int kMaxArrayDepth = 64;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Counts the digits at text[*pos...] and advances past them.
size_t SkipDigits(std::string_view text, size_t* pos) {
  const size_t start = *pos;
  while (*pos < text.size() && IsDigit(text[*pos])) ++*pos;
  return *pos - start;
}

// -?(0|[1-9][0-9]*)
bool IsJsonInteger(std::string_view t) {
  size_t pos = (!t.empty() && t[0] == '-') ? 1 : 0;
  const size_t start = pos;
  const size_t digits = SkipDigits(t, &pos);
  if (digits == 0 || pos != t.size()) return false;
  return digits == 1 || t[start] != '0';
}

// The JSON number grammar of RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view t) {
  size_t pos = (!t.empty() && t[0] == '-') ? 1 : 0;
  const size_t int_start = pos;
  const size_t int_digits = SkipDigits(t, &pos);
  if (int_digits == 0 || (int_digits > 1 && t[int_start] == '0')) return false;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    if (SkipDigits(t, &pos) == 0) return false;
  }
  if (pos < t.size() && (t[pos] == 'e' || t[pos] == 'E')) {
    ++pos;
    if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) ++pos;
    if (SkipDigits(t, &pos) == 0) return false;
  }
  return pos == t.size();
}

// Whether an integer literal (already known to match IsJsonInteger) is within +-(2^53 - 1).
bool IsSafeInteger(std::string_view t) {
  std::string_view digits = t[0] == '-' ? t.substr(1) : t;
  if (digits.size() != kMaxSafeInteger.size()) return digits.size() < kMaxSafeInteger.size();
  return digits <= kMaxSafeInteger;  // same length: lexicographic order is numeric order
}

// HH:MM:SS with optional .fraction, as PostgreSQL prints a time of day.
bool IsTimeOfDay(std::string_view t) {
  if (t.size() < 8) return false;
  for (size_t i : {0, 1, 3, 4, 6, 7}) {
    if (!IsDigit(t[i])) return false;
  }
  if (t[2] != ':' || t[5] != ':') return false;
  if (t.size() == 8) return true;
  size_t pos = 9;
  return t[8] == '.' && SkipDigits(t, &pos) > 0 && pos == t.size();
}

// YYYY-MM-DD (four or more year digits), as DateStyle=ISO prints an AD date.
bool IsIsoDate(std::string_view t) {
  size_t pos = 0;
  if (SkipDigits(t, &pos) < 4) return false;
  if (t.size() != pos + 6 || t[pos] != '-' || t[pos + 3] != '-') return false;
  return IsDigit(t[pos + 1]) && IsDigit(t[pos + 2]) && IsDigit(t[pos + 4]) && IsDigit(t[pos + 5]);
}

// Appends a PostgreSQL UTC offset ("+00", "-03", "+05:30", "+05:30:15") in RFC 3339 form ("Z",
// "-03:00", "+05:30"); offsets with seconds, which RFC 3339 cannot express, stay as they are.
bool AppendOffset(std::string_view zone, std::string* out) {
  if (zone.size() != 3 && zone.size() != 6 && zone.size() != 9) return false;
  if (zone[0] != '+' && zone[0] != '-') return false;
  bool all_zero = true;
  for (size_t i = 1; i < zone.size(); ++i) {
    if (i % 3 == 0) {
      if (zone[i] != ':') return false;
    } else if (!IsDigit(zone[i])) {
      return false;
    } else if (zone[i] != '0') {
      all_zero = false;
    }
  }
  if (all_zero) {
    out->push_back('Z');
  } else {
    out->append(zone);
    if (zone.size() == 3) out->append(":00");
  }
  return true;
}

// Appends "HH:MM:SS[.f][offset]" (no quotes) in RFC 3339 form; false when `t` is not that shape.
// May leave partial output on failure: callers truncate.
bool AppendTime(std::string_view t, bool with_offset, std::string* out) {
  if (!with_offset) {
    if (!IsTimeOfDay(t)) return false;
    out->append(t);
    return true;
  }
  const size_t zone_start = t.find_first_of("+-");
  if (zone_start == std::string_view::npos || !IsTimeOfDay(t.substr(0, zone_start))) return false;
  out->append(t.substr(0, zone_start));
  return AppendOffset(t.substr(zone_start), out);
}

// "2024-01-02 03:04:05.123+05" -> "2024-01-02T03:04:05.123+05:00" (with quotes). False for
// anything else ("infinity", BC timestamps, which carry a " BC" suffix), leaving `out` as it was.
bool AppendTimestamp(std::string_view t, bool with_offset, std::string* out) {
  const size_t space = t.find(' ');
  if (space == std::string_view::npos || !IsIsoDate(t.substr(0, space))) return false;
  const size_t mark = out->size();
  out->push_back('"');
  out->append(t.substr(0, space));
  out->push_back('T');
  if (!AppendTime(t.substr(space + 1), with_offset, out)) {
    out->resize(mark);
    return false;
  }
  out->push_back('"');
  return true;
}

bool AppendTimeTz(std::string_view t, std::string* out) {
  const size_t mark = out->size();
  out->push_back('"');
  if (!AppendTime(t, /*with_offset=*/true, out)) {
    out->resize(mark);
    return false;
  }
  out->push_back('"');
  return true;
}

bool IsArrayWhitespace(char c) {
  // array_in() skips what scanner_isspace() accepts.
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool EqualsNullIgnoringCase(std::string_view t) {
  return t.size() == 4 && (t[0] | 0x20) == 'n' && (t[1] | 0x20) == 'u' && (t[2] | 0x20) == 'l' &&
         (t[3] | 0x20) == 'l';
}

// Skips "[lo:hi]" dimension decorations and the '=' after them (array_out() writes them when a
// lower bound is not 1). True when there were none or they were well formed.
bool SkipDimensions(std::string_view t, size_t* pos) {
  if (*pos >= t.size() || t[*pos] != '[') return true;
  while (*pos < t.size() && t[*pos] == '[') {
    ++*pos;
    for (char terminator : {':', ']'}) {
      if (*pos < t.size() && t[*pos] == '-') ++*pos;
      if (SkipDigits(t, pos) == 0 || *pos >= t.size() || t[*pos] != terminator) return false;
      ++*pos;
    }
  }
  if (*pos >= t.size() || t[*pos] != '=') return false;
  ++*pos;
  return true;
}

// Parses PostgreSQL's array literal `t` and appends nested JSON arrays. False on malformed input,
// with partial output the caller truncates.
bool AppendArray(std::string_view t, TypeKind element_kind, char delimiter, std::string* out) {
  // Multi-dimensional arrays are nested braces, never arrays of kind kArray.
  if (element_kind == TypeKind::kArray) element_kind = TypeKind::kText;
  // Unescaped quoted elements. Reused across calls so that only the first long escaped element
  // of a thread allocates; element rendering never re-enters AppendArray, so sharing is safe.
  thread_local std::string scratch;

  size_t pos = 0;
  if (!SkipDimensions(t, &pos)) return false;
  while (pos < t.size() && IsArrayWhitespace(t[pos])) ++pos;
  if (pos >= t.size() || t[pos] != '{') return false;

  int depth = 0;
  bool just_opened = false;  // right after '{': '}' or a value may follow, no delimiter
  bool need_value = false;   // right after a delimiter: only a value or '{' may follow
  while (true) {
    while (pos < t.size() && IsArrayWhitespace(t[pos])) ++pos;
    if (pos >= t.size()) return false;
    const char c = t[pos];
    if (c == '{') {
      if (depth > 0 && !just_opened && !need_value) return false;
      if (need_value) out->push_back(',');
      out->push_back('[');
      if (++depth > kMaxArrayDepth) return false;
      just_opened = true;
      need_value = false;
      ++pos;
      continue;
    }
    if (c == '}') {
      if (need_value) return false;  // "{1,}"
      out->push_back(']');
      ++pos;
      just_opened = false;
      if (--depth == 0) {
        while (pos < t.size() && IsArrayWhitespace(t[pos])) ++pos;
        return pos == t.size();
      }
      continue;
    }
    if (c == delimiter) {
      if (just_opened || need_value) return false;  // "{,1}", "{1,,2}"
      need_value = true;
      ++pos;
      continue;
    }
    // An element.
    if (!just_opened && !need_value) return false;  // "{1\"a\"}"
    if (need_value) out->push_back(',');
    just_opened = false;
    need_value = false;
    if (c == '"') {
      const size_t start = ++pos;
      bool escaped = false;
      while (pos < t.size() && t[pos] != '"') {
        if (t[pos] == '\\') {
          escaped = true;
          ++pos;
        }
        ++pos;
      }
      if (pos >= t.size()) return false;  // unterminated
      std::string_view element = t.substr(start, pos - start);
      ++pos;  // the closing quote
      if (escaped) {
        scratch.clear();
        for (size_t i = 0; i < element.size(); ++i) {
          if (element[i] == '\\') ++i;  // the scan above guarantees a next byte
          scratch.push_back(element[i]);
        }
        element = scratch;
      }
      // A quoted "NULL" is the four-letter string, not SQL NULL.
      AppendJsonText(element_kind, TypeKind::kText, element, out);
    } else {
      const size_t start = pos;
      while (pos < t.size() && t[pos] != delimiter && t[pos] != '}') {
        // array_out() quotes any element containing these.
        if (t[pos] == '{' || t[pos] == '"' || t[pos] == '\\') return false;
        ++pos;
      }
      size_t end = pos;
      while (end > start && IsArrayWhitespace(t[end - 1])) --end;
      const std::string_view element = t.substr(start, end - start);
      if (EqualsNullIgnoringCase(element)) {
        out->append("null");
      } else {
        AppendJsonText(element_kind, TypeKind::kText, element, out);
      }
    }
  }
}

// json/jsonb output starts with one of these; anything else is not PostgreSQL's JSON output.
bool LooksLikeJson(std::string_view t) {
  size_t pos = 0;
  while (pos < t.size() && IsArrayWhitespace(t[pos])) ++pos;
  if (pos >= t.size()) return false;
  const char c = t[pos];
  return c == '{' || c == '[' || c == '"' || c == '-' || IsDigit(c) || c == 't' || c == 'f' ||
         c == 'n';
}

}  // namespace

void AppendJsonText(TypeKind kind, TypeKind element_kind, std::string_view text, std::string* out,
                    char array_delimiter) {
  switch (kind) {
    case TypeKind::kBool:
      if (text == "t" || text == "true") {
        out->append("true");
        return;
      }
      if (text == "f" || text == "false") {
        out->append("false");
        return;
      }
      break;
    case TypeKind::kInt16:
    case TypeKind::kInt32:
      if (IsJsonInteger(text)) {
        out->append(text);
        return;
      }
      break;
    case TypeKind::kInt64:
      if (IsJsonInteger(text) && IsSafeInteger(text)) {
        out->append(text);
        return;
      }
      break;  // past 2^53 - 1: the digits as a string
    case TypeKind::kFloat32:
    case TypeKind::kFloat64:
      // NaN and +-Infinity have no JSON number form and fail the check.
      if (IsJsonNumber(text)) {
        out->append(text);
        return;
      }
      break;
    case TypeKind::kJson:
      if (LooksLikeJson(text)) {
        out->append(text);
        return;
      }
      break;
    case TypeKind::kTimestamp:
      if (AppendTimestamp(text, /*with_offset=*/false, out)) return;
      break;
    case TypeKind::kTimestampTz:
      if (AppendTimestamp(text, /*with_offset=*/true, out)) return;
      break;
    case TypeKind::kTimeTz:
      if (AppendTimeTz(text, out)) return;
      break;
    case TypeKind::kArray: {
      const size_t mark = out->size();
      if (AppendArray(text, element_kind, array_delimiter, out)) return;
      out->resize(mark);
      break;
    }
    case TypeKind::kText:
    case TypeKind::kNumeric:
    case TypeKind::kBytea:
    case TypeKind::kUuid:
    case TypeKind::kDate:
    case TypeKind::kTime:
    case TypeKind::kInterval:
    case TypeKind::kEnum:
    case TypeKind::kMoney:
      break;
  }
  AppendJsonString(text, out);
}

void AppendJsonValue(const Column& column, const Value& value, std::string* out) {
  switch (value.kind) {
    case Value::Kind::kNull:
      out->append("null");
      return;
    case Value::Kind::kUnchanged:
      return;  // no JSON form: the caller omits the column (see the header)
    case Value::Kind::kText:
      break;
  }
  // box is the only built-in type whose array delimiter is not ','.
  const char delimiter = column.type_name == "_box" ? ';' : ',';
  AppendJsonText(column.kind, column.element_kind, value.text, out, delimiter);
}

}  // namespace eddy::change
