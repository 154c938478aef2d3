#include "adapters/watermelon/value_mapping.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "common/json_string.h"

namespace eddy::watermelon {
namespace {

bool LooksNumeric(std::string_view s) {
  if (s.empty()) return false;
  size_t i = 0;
  if (s[i] == '-' || s[i] == '+') ++i;
  bool digits = false;
  bool dot = false;
  for (; i < s.size(); ++i) {
    if (s[i] >= '0' && s[i] <= '9') {
      digits = true;
    } else if (s[i] == '.' && !dot) {
      dot = true;
    } else if ((s[i] == 'e' || s[i] == 'E') && digits) {
      size_t j = i + 1;
      if (j < s.size() && (s[j] == '-' || s[j] == '+')) ++j;
      if (j == s.size()) return false;
      for (; j < s.size(); ++j) {
        if (s[j] < '0' || s[j] > '9') return false;
      }
      return true;
    } else {
      return false;
    }
  }
  return digits;
}

const char* JsonKindName(JsonValue::Kind kind) {
  switch (kind) {
    case JsonValue::Kind::kNull:
      return "null";
    case JsonValue::Kind::kBool:
      return "a boolean";
    case JsonValue::Kind::kNumber:
      return "a number";
    case JsonValue::Kind::kString:
      return "a string";
    case JsonValue::Kind::kRaw:
      return "an object or array";
  }
  return "a value";
}

// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t year = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = year + (*m <= 2 ? 1 : 0);
}

}  // namespace

ValueKind KindOfType(std::string_view type_name, char type_category, char type_type) {
  if (type_category == 'A') return ValueKind::kArray;
  if (type_type == 'c') return ValueKind::kComposite;
  if (type_name == "int2" || type_name == "int4") return ValueKind::kInteger;
  if (type_name == "int8") return ValueKind::kBigInteger;
  if (type_name == "numeric") return ValueKind::kNumeric;
  if (type_name == "float4" || type_name == "float8") return ValueKind::kFloat;
  if (type_name == "bool") return ValueKind::kBool;
  if (type_name == "timestamptz") return ValueKind::kTimestampTz;
  if (type_name == "timestamp") return ValueKind::kTimestamp;
  if (type_name == "date") return ValueKind::kDate;
  if (type_name == "json" || type_name == "jsonb") return ValueKind::kJson;
  return ValueKind::kString;
}

const char* ValueKindName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kString:
      return "string";
    case ValueKind::kInteger:
      return "integer";
    case ValueKind::kBigInteger:
      return "bigint";
    case ValueKind::kNumeric:
      return "numeric";
    case ValueKind::kFloat:
      return "float";
    case ValueKind::kBool:
      return "boolean";
    case ValueKind::kTimestampTz:
      return "timestamptz";
    case ValueKind::kTimestamp:
      return "timestamp";
    case ValueKind::kDate:
      return "date";
    case ValueKind::kJson:
      return "json";
    case ValueKind::kArray:
      return "array";
    case ValueKind::kComposite:
      return "composite";
  }
  return "value";
}

std::string SelectExpression(ValueKind kind, std::string_view c) {
  switch (kind) {
    case ValueKind::kTimestampTz:
    case ValueKind::kTimestamp:
    case ValueKind::kDate:
      return fmt::format(
          "CASE WHEN isfinite({0}) THEN floor(extract(epoch from {0}) * 1000)::int8 END", c);
    case ValueKind::kArray:
    case ValueKind::kComposite:
      return fmt::format("to_json({})::text", c);
    default:
      return fmt::format("{}::text", c);
  }
}

bool FitsJavaScriptInteger(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  size_t end = s.find_first_of(".eE");
  std::string_view integer = s.substr(0, end);
  while (integer.size() > 1 && integer[0] == '0') integer.remove_prefix(1);
  if (integer.size() < 16) return true;
  if (integer.size() > 16) return false;
  return integer <= "9007199254740991";
}

void AppendJsonValue(ValueKind kind, std::optional<std::string_view> text, std::string* out) {
  if (!text) {
    out->append("null");
    return;
  }
  std::string_view t = *text;
  switch (kind) {
    case ValueKind::kInteger:
    case ValueKind::kTimestampTz:
    case ValueKind::kTimestamp:
    case ValueKind::kDate:
      out->append(t);
      return;
    case ValueKind::kBigInteger:
    case ValueKind::kNumeric:
      if (!LooksNumeric(t)) {
        out->append("null");  // NaN, Infinity
      } else if (FitsJavaScriptInteger(t)) {
        if (t[0] == '+') t.remove_prefix(1);
        out->append(t);
      } else {
        AppendJsonString(t, out);  // a JSON number would silently lose digits
      }
      return;
    case ValueKind::kFloat:
      if (LooksNumeric(t)) {
        out->append(t);
      } else {
        out->append("null");
      }
      return;
    case ValueKind::kBool:
      out->append(t == "t" || t == "true" ? "true" : "false");
      return;
    default:
      AppendJsonString(t, out);
      return;
  }
}

Result<std::string> EpochMsToText(std::string_view epoch_ms, bool with_offset, bool date_only) {
  std::string copy(epoch_ms);
  char* end = nullptr;
  const double ms = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || !std::isfinite(ms)) {
    return InvalidArgument(fmt::format("\"{}\" is not a number of milliseconds", epoch_ms));
  }
  if (std::fabs(ms) > 8.64e15) {
    return InvalidArgument("is past the range of JavaScript dates (+-8.64e15 ms)");
  }
  const int64_t micros = static_cast<int64_t>(std::llround(ms * 1000.0));
  int64_t days = micros / 86'400'000'000;
  int64_t rest = micros % 86'400'000'000;
  if (rest < 0) {
    rest += 86'400'000'000;
    days -= 1;
  }
  int64_t y = 0;
  unsigned m = 0;
  unsigned d = 0;
  CivilFromDays(days, &y, &m, &d);
  const std::string era = y <= 0 ? " BC" : "";
  const int64_t year = y <= 0 ? 1 - y : y;
  if (date_only) return fmt::format("{:04}-{:02}-{:02}{}", year, m, d, era);
  const int64_t secs = rest / 1'000'000;
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}{}{}", year, m, d, secs / 3600,
                     (secs / 60) % 60, secs % 60, rest % 1'000'000, with_offset ? "+00" : "", era);
}

Result<std::optional<std::string>> PushParameter(ValueKind kind, const JsonValue& v) {
  using K = JsonValue::Kind;
  if (v.kind == K::kNull) return std::optional<std::string>();
  auto wrong = [&](const char* expected) -> Status {
    return InvalidArgument(fmt::format("expected {} for a {} column, got {}", expected,
                                       ValueKindName(kind), JsonKindName(v.kind)));
  };
  switch (kind) {
    case ValueKind::kInteger:
    case ValueKind::kBigInteger:
    case ValueKind::kNumeric:
    case ValueKind::kFloat:
      if (v.kind == K::kNumber) return std::optional<std::string>(v.text);
      if (v.kind == K::kString && LooksNumeric(v.text)) return std::optional<std::string>(v.text);
      return wrong("a number");
    case ValueKind::kBool:
      if (v.kind == K::kBool) return std::optional<std::string>(v.text);
      if (v.kind == K::kNumber && (v.text == "0" || v.text == "1")) {
        return std::optional<std::string>(v.text == "1" ? "true" : "false");
      }
      return wrong("true or false");
    case ValueKind::kTimestampTz:
    case ValueKind::kTimestamp:
    case ValueKind::kDate:
      if (v.kind == K::kNumber || (v.kind == K::kString && LooksNumeric(v.text))) {
        auto text =
            EpochMsToText(v.text, kind == ValueKind::kTimestampTz, kind == ValueKind::kDate);
        if (!text.ok()) return text.status();
        return std::optional<std::string>(std::move(text).value());
      }
      if (v.kind == K::kString) return std::optional<std::string>(v.text);  // ISO 8601 text
      return wrong("epoch milliseconds");
    case ValueKind::kJson:
    case ValueKind::kArray:
    case ValueKind::kComposite:
      // A JSON-encoded string (what @json columns hold), or the JSON itself.
      return std::optional<std::string>(v.text);
    case ValueKind::kString:
      if (v.kind == K::kRaw) return wrong("a string");
      return std::optional<std::string>(v.text);
  }
  return wrong("a value");
}

std::string ParameterExpression(ValueKind kind, std::string_view sql_type, int n) {
  switch (kind) {
    case ValueKind::kArray:
      return fmt::format(
          "CASE WHEN ${0}::text IS NULL THEN NULL ELSE "
          "ARRAY(SELECT jsonb_array_elements_text(${0}::jsonb))::{1} END",
          n, sql_type);
    case ValueKind::kComposite:
      return fmt::format("jsonb_populate_record(NULL::{}, ${}::jsonb)", sql_type, n);
    default:
      return fmt::format("${}::{}", n, sql_type);
  }
}

namespace {
void AppendArrayItem(std::string_view item, std::string* out) {
  out->push_back('"');
  for (char c : item) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}
}  // namespace

std::string TextArrayLiteral(const std::vector<std::optional<std::string>>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    if (items[i]) {
      AppendArrayItem(*items[i], &out);
    } else {
      out.append("NULL");
    }
  }
  out.push_back('}');
  return out;
}

std::string TextArrayLiteral(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    AppendArrayItem(items[i], &out);
  }
  out.push_back('}');
  return out;
}

}  // namespace eddy::watermelon
