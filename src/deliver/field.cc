// eddy::Field: typed reads of PostgreSQL's text output (the capture connection fixes DateStyle=ISO,
// TimeZone=UTC, extra_float_digits=3, so each kind has one text shape to parse).
#include <charconv>
#include <cstdlib>

#include <fmt/format.h>

#include "eddy/consumer.h"

#include "change/json_encoder.h"

namespace eddy {
namespace {

const char* KindName(TypeKind kind) {
  switch (kind) {
    case TypeKind::kText:
      return "text";
    case TypeKind::kBool:
      return "bool";
    case TypeKind::kInt16:
      return "int2";
    case TypeKind::kInt32:
      return "int4";
    case TypeKind::kInt64:
      return "int8";
    case TypeKind::kFloat32:
      return "float4";
    case TypeKind::kFloat64:
      return "float8";
    case TypeKind::kNumeric:
      return "numeric";
    case TypeKind::kJson:
      return "json";
    case TypeKind::kBytea:
      return "bytea";
    case TypeKind::kUuid:
      return "uuid";
    case TypeKind::kDate:
      return "date";
    case TypeKind::kTime:
      return "time";
    case TypeKind::kTimeTz:
      return "timetz";
    case TypeKind::kTimestamp:
      return "timestamp";
    case TypeKind::kTimestampTz:
      return "timestamptz";
    case TypeKind::kInterval:
      return "interval";
    case TypeKind::kEnum:
      return "enum";
    case TypeKind::kArray:
      return "array";
    case TypeKind::kMoney:
      return "money";
  }
  return "unknown";
}

bool IsInteger(TypeKind k) {
  return k == TypeKind::kInt16 || k == TypeKind::kInt32 || k == TypeKind::kInt64;
}

// Parses exactly `digits` decimal digits at s[*i]; false if they are not there.
bool ReadDigits(std::string_view s, size_t* i, size_t digits, int64_t* out) {
  if (*i + digits > s.size()) return false;
  int64_t v = 0;
  for (size_t k = 0; k < digits; ++k) {
    char c = s[*i + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *i += digits;
  *out = v;
  return true;
}

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// "YYYY-MM-DD[ HH:MM:SS[.f{1,6}]][(+|-)HH[:MM[:SS]]]" -> microseconds since the epoch (UTC).
std::optional<int64_t> ParseTimestamp(std::string_view s) {
  size_t i = 0;
  size_t year_digits = 0;
  while (year_digits < s.size() && s[year_digits] >= '0' && s[year_digits] <= '9') ++year_digits;
  if (year_digits < 4 || year_digits > 6) return std::nullopt;
  int64_t year = 0, month = 0, day = 0;
  if (!ReadDigits(s, &i, year_digits, &year)) return std::nullopt;
  if (i >= s.size() || s[i++] != '-' || !ReadDigits(s, &i, 2, &month)) return std::nullopt;
  if (i >= s.size() || s[i++] != '-' || !ReadDigits(s, &i, 2, &day)) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31) return std::nullopt;
  int64_t micros = DaysFromCivil(year, month, day) * 86'400'000'000LL;
  if (i == s.size()) return micros;
  if (s[i] != ' ' && s[i] != 'T') return std::nullopt;
  ++i;
  int64_t hh = 0, mm = 0, ss = 0;
  if (!ReadDigits(s, &i, 2, &hh) || i >= s.size() || s[i++] != ':' || !ReadDigits(s, &i, 2, &mm) ||
      i >= s.size() || s[i++] != ':' || !ReadDigits(s, &i, 2, &ss)) {
    return std::nullopt;
  }
  if (hh > 24 || mm > 59 || ss > 60) return std::nullopt;
  micros += ((hh * 60 + mm) * 60 + ss) * 1'000'000;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int64_t frac = 0;
    size_t n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (n < 6) frac = frac * 10 + (s[i] - '0');
      ++n;
      ++i;
    }
    if (n == 0) return std::nullopt;
    for (size_t k = n; k < 6; ++k) frac *= 10;
    micros += frac;
  }
  if (i == s.size()) return micros;
  if (s[i] == 'Z' && i + 1 == s.size()) return micros;
  if (s[i] != '+' && s[i] != '-') return std::nullopt;
  const int64_t sign = s[i++] == '+' ? 1 : -1;
  int64_t oh = 0, om = 0, os = 0;
  if (!ReadDigits(s, &i, 2, &oh)) return std::nullopt;
  if (i < s.size() && s[i] == ':') {
    ++i;
    if (!ReadDigits(s, &i, 2, &om)) return std::nullopt;
    if (i < s.size() && s[i] == ':') {
      ++i;
      if (!ReadDigits(s, &i, 2, &os)) return std::nullopt;
    }
  }
  if (i != s.size()) return std::nullopt;
  // Local time = UTC + offset, so UTC = local - offset.
  return micros - sign * ((oh * 60 + om) * 60 + os) * 1'000'000;
}

// Splits a PostgreSQL array literal ("{1,NULL,\"a b\",{2,3}}", optionally "[0:1]={...}") into its
// top-level elements; nested arrays stay text. nullopt when the literal is malformed.
std::optional<std::vector<Value>> SplitArray(std::string_view s, char delimiter) {
  if (!s.empty() && s.front() == '[') {
    size_t eq = s.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    s.remove_prefix(eq + 1);
  }
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') return std::nullopt;
  std::vector<Value> out;
  size_t i = 1;
  const size_t end = s.size() - 1;
  if (i == end) return out;  // "{}"
  while (true) {
    if (i >= end) return std::nullopt;  // an element was expected
    if (s[i] == '{') {
      // A sub-array: up to its matching brace, skipping quoted parts.
      size_t start = i;
      int depth = 0;
      bool quoted = false;
      for (; i < end; ++i) {
        char c = s[i];
        if (quoted) {
          if (c == '\\') {
            ++i;
          } else if (c == '"') {
            quoted = false;
          }
        } else if (c == '"') {
          quoted = true;
        } else if (c == '{') {
          ++depth;
        } else if (c == '}' && --depth == 0) {
          ++i;
          break;
        }
      }
      if (depth != 0) return std::nullopt;
      out.push_back(Value::Text(std::string(s.substr(start, i - start))));
    } else if (s[i] == '"') {
      std::string text;
      ++i;
      bool closed = false;
      for (; i < end; ++i) {
        char c = s[i];
        if (c == '\\') {
          if (++i >= end) return std::nullopt;
          text.push_back(s[i]);
        } else if (c == '"') {
          closed = true;
          ++i;
          break;
        } else {
          text.push_back(c);
        }
      }
      if (!closed) return std::nullopt;
      out.push_back(Value::Text(std::move(text)));
    } else {
      size_t start = i;
      while (i < end && s[i] != delimiter) {
        if (s[i] == '"' || s[i] == '{' || s[i] == '}') return std::nullopt;
        ++i;
      }
      std::string_view item = s.substr(start, i - start);
      if (item.empty()) return std::nullopt;
      if (item.size() == 4 && (item[0] | 0x20) == 'n' && (item[1] | 0x20) == 'u' &&
          (item[2] | 0x20) == 'l' && (item[3] | 0x20) == 'l') {
        out.push_back(Value::Null());
      } else {
        out.push_back(Value::Text(std::string(item)));
      }
    }
    if (i == end) return out;
    if (s[i] != delimiter) return std::nullopt;
    ++i;
  }
}

}  // namespace

Field::Field(std::string name, TypeKind kind, TypeKind element_kind, Value value)
    : exists_(true),
      name_(std::move(name)),
      kind_(kind),
      element_kind_(element_kind),
      value_(std::move(value)) {}

Field Field::Missing(std::string name) {
  Field f;
  f.name_ = std::move(name);
  return f;
}

Status Field::Check(const char* want) const {
  if (!exists_) return NotFound(fmt::format("column {}: not in this row", name_));
  if (value_.kind == Value::Kind::kNull) {
    return NotFound(fmt::format("column {}: is NULL (check IsNull() first)", name_));
  }
  if (value_.kind == Value::Kind::kUnchanged) {
    return FailedPrecondition(fmt::format(
        "column {}: an unchanged TOASTed value PostgreSQL did not send (check IsUnchanged(), or "
        "set REPLICA IDENTITY FULL on the table)",
        name_));
  }
  (void)want;
  return Status::Ok();
}

namespace {
Status WrongType(const std::string& name, TypeKind kind, const char* want) {
  return InvalidArgument(fmt::format("column {}: is {}, not {}", name.empty() ? "(element)" : name,
                                     KindName(kind), want));
}
Status BadText(const std::string& name, TypeKind kind, std::string_view text) {
  return InvalidArgument(fmt::format("column {}: \"{}\" is not a valid {} value",
                                     name.empty() ? "(element)" : name, text.substr(0, 64),
                                     KindName(kind)));
}
}  // namespace

Result<bool> Field::AsBool() const {
  EDDY_RETURN_IF_ERROR(Check("bool"));
  if (kind_ != TypeKind::kBool) return WrongType(name_, kind_, "bool");
  if (value_.text == "t" || value_.text == "true") return true;
  if (value_.text == "f" || value_.text == "false") return false;
  return BadText(name_, kind_, value_.text);
}

Result<int64_t> Field::AsInt64() const {
  EDDY_RETURN_IF_ERROR(Check("an integer"));
  if (!IsInteger(kind_) && kind_ != TypeKind::kNumeric) {
    return WrongType(name_, kind_, "an integer");
  }
  int64_t v = 0;
  const char* begin = value_.text.data();
  const char* end = begin + value_.text.size();
  auto [ptr, ec] = std::from_chars(begin, end, v);
  if (ec != std::errc() || ptr != end) return BadText(name_, kind_, value_.text);
  return v;
}

Result<double> Field::AsDouble() const {
  EDDY_RETURN_IF_ERROR(Check("a number"));
  if (kind_ != TypeKind::kFloat32 && kind_ != TypeKind::kFloat64 && kind_ != TypeKind::kNumeric &&
      !IsInteger(kind_)) {
    return WrongType(name_, kind_, "a number");
  }
  const std::string& t = value_.text;
  if (t.empty()) return BadText(name_, kind_, t);
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return BadText(name_, kind_, t);
  return v;
}

Result<std::string> Field::AsString() const {
  EDDY_RETURN_IF_ERROR(Check("a string"));
  return value_.text;
}

Result<std::string> Field::AsNumeric() const {
  EDDY_RETURN_IF_ERROR(Check("numeric"));
  if (kind_ != TypeKind::kNumeric && kind_ != TypeKind::kMoney && !IsInteger(kind_)) {
    return WrongType(name_, kind_, "numeric");
  }
  return value_.text;
}

Result<std::string> Field::AsJson() const {
  EDDY_RETURN_IF_ERROR(Check("json"));
  if (kind_ != TypeKind::kJson) return WrongType(name_, kind_, "json");
  return value_.text;
}

Result<int64_t> Field::AsUnixMicros() const {
  EDDY_RETURN_IF_ERROR(Check("a timestamp"));
  if (kind_ != TypeKind::kTimestamp && kind_ != TypeKind::kTimestampTz &&
      kind_ != TypeKind::kDate) {
    return WrongType(name_, kind_, "a date or timestamp");
  }
  std::optional<int64_t> micros = ParseTimestamp(value_.text);
  if (!micros) return BadText(name_, kind_, value_.text);
  return *micros;
}

Result<std::vector<Field>> Field::AsArray() const {
  EDDY_RETURN_IF_ERROR(Check("an array"));
  if (kind_ != TypeKind::kArray) return WrongType(name_, kind_, "an array");
  std::optional<std::vector<Value>> items = SplitArray(value_.text, ',');
  if (!items) return BadText(name_, kind_, value_.text);
  std::vector<Field> out;
  out.reserve(items->size());
  for (Value& v : *items) {
    const bool nested = v.kind == Value::Kind::kText && !v.text.empty() && v.text.front() == '{';
    out.emplace_back(std::string(), nested ? TypeKind::kArray : element_kind_, element_kind_,
                     std::move(v));
  }
  return out;
}

std::string Field::ToJson() const {
  if (!exists_ || value_.kind == Value::Kind::kNull) return "null";
  if (value_.kind == Value::Kind::kUnchanged) return "";
  std::string out;
  change::AppendJsonText(kind_, element_kind_, value_.text, &out);
  return out;
}

Field Row::operator[](std::string_view column) const {
  if (change_ == nullptr || values_ == nullptr || !change_->table) return Field();
  const std::vector<Column>& columns = change_->table->columns;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == column) {
      Field f = At(i);
      return f.exists() ? f : Field::Missing(std::string(column));
    }
  }
  return Field::Missing(std::string(column));
}

Field Row::At(size_t index) const {
  if (change_ == nullptr || values_ == nullptr || !change_->table) return Field();
  const std::vector<Column>& columns = change_->table->columns;
  if (index >= columns.size() || index >= values_->size()) return Field();
  const Column& c = columns[index];
  // An old row under REPLICA IDENTITY DEFAULT/INDEX carries only key columns: the others are
  // not sent, which is "not in this row", not NULL.
  if (values_ == &change_->old_row && change_->old_kind == OldRow::kKey && !c.is_key &&
      change_->table->HasKey()) {
    return Field::Missing(c.name);
  }
  return Field(c.name, c.kind, c.element_kind, (*values_)[index]);
}

size_t Row::size() const { return values_ == nullptr ? 0 : values_->size(); }

}  // namespace eddy
