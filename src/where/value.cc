#include "where/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace eddy::where {
namespace {

constexpr int64_t kMicrosPerSecond = 1000000;
constexpr int64_t kMicrosPerDay = 86400LL * kMicrosPerSecond;
// date/timestamp infinities, as PostgreSQL's DT_NOBEGIN/DT_NOEND.
constexpr int64_t kInfinity = std::numeric_limits<int64_t>::max();
constexpr int64_t kMinusInfinity = std::numeric_limits<int64_t>::min();
// PostgreSQL's date range is 4713 BC .. 5874897 AD; we accept years up to 294276 (timestamps).
constexpr int64_t kMaxYear = 294276;
constexpr int64_t kMinYear = -4712;

bool IsSpaceChar(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpaceChar(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpaceChar(s.back())) s.remove_suffix(1);
  return s;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return IsSpaceChar(c); }

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, int64_t& m, int64_t& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = yoe + era * 400;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int64_t m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads 1..max_digits digits.
bool ReadNumber(std::string_view s, size_t& pos, int64_t& out, size_t max_digits = 18) {
  size_t start = pos;
  out = 0;
  while (pos < s.size() && IsDigit(s[pos]) && pos - start < max_digits) {
    out = out * 10 + (s[pos++] - '0');
  }
  return pos > start && (pos >= s.size() || !IsDigit(s[pos]));
}

// Fractional seconds ".123456789" -> micros, rounded half up like PostgreSQL.
bool ReadFraction(std::string_view s, size_t& pos, int64_t& micros) {
  micros = 0;
  if (pos >= s.size() || s[pos] != '.') return true;
  ++pos;
  int digits = 0;
  int64_t value = 0;
  bool round_up = false;
  while (pos < s.size() && IsDigit(s[pos])) {
    if (digits < 6) {
      value = value * 10 + (s[pos] - '0');
    } else if (digits == 6) {
      round_up = s[pos] >= '5';
    }
    ++digits, ++pos;
  }
  for (int i = digits; i < 6; ++i) value *= 10;
  micros = value + (round_up ? 1 : 0);
  return true;
}

bool StripSuffixIgnoreCase(std::string_view& s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  if (!EqualsIgnoreCase(s.substr(s.size() - suffix.size()), suffix)) return false;
  s.remove_suffix(suffix.size());
  s = Trim(s);
  return true;
}

// "YYYY-MM-DD" at the start of `s`; advances pos.
bool ReadDate(std::string_view s, size_t& pos, int64_t& days, bool bc) {
  int64_t year = 0, month = 0, day = 0;
  if (!ReadNumber(s, pos, year, 7)) return false;
  if (pos >= s.size() || s[pos] != '-') return false;
  ++pos;
  if (!ReadNumber(s, pos, month, 2)) return false;
  if (pos >= s.size() || s[pos] != '-') return false;
  ++pos;
  if (!ReadNumber(s, pos, day, 2)) return false;
  if (bc) year = 1 - year;
  if (year < kMinYear || year > kMaxYear || month < 1 || month > 12 || day < 1 ||
      day > DaysInMonth(year, month))
    return false;
  days = DaysFromCivil(year, month, day);
  return true;
}

// "HH:MM[:SS[.ffffff]]"; advances pos.
bool ReadTime(std::string_view s, size_t& pos, int64_t& micros) {
  int64_t hour = 0, minute = 0, second = 0, fraction = 0;
  if (!ReadNumber(s, pos, hour, 2)) return false;
  if (pos >= s.size() || s[pos] != ':') return false;
  ++pos;
  if (!ReadNumber(s, pos, minute, 2)) return false;
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    if (!ReadNumber(s, pos, second, 2)) return false;
    if (!ReadFraction(s, pos, fraction)) return false;
  }
  if (minute > 59 || second > 60) return false;
  micros = ((hour * 60 + minute) * 60 + second) * kMicrosPerSecond + fraction;
  if (micros > kMicrosPerDay) return false;
  return true;
}

// "Z", "+HH", "+HH:MM", "+HHMM", "+HH:MM:SS" -> seconds east of UTC.
bool ReadZone(std::string_view s, size_t& pos, int64_t& offset_seconds) {
  while (pos < s.size() && s[pos] == ' ') ++pos;
  std::string_view rest = s.substr(pos);
  if (EqualsIgnoreCase(rest, "z") || EqualsIgnoreCase(rest, "utc") ||
      EqualsIgnoreCase(rest, "gmt")) {
    pos = s.size();
    offset_seconds = 0;
    return true;
  }
  if (pos >= s.size() || (s[pos] != '+' && s[pos] != '-')) return false;
  int sign = s[pos++] == '-' ? -1 : 1;
  int64_t hours = 0, minutes = 0, seconds = 0;
  size_t start = pos;
  if (!ReadNumber(s, pos, hours, 4)) return false;
  if (pos - start > 2) {  // +HHMM
    minutes = hours % 100;
    hours /= 100;
  } else if (pos < s.size() && s[pos] == ':') {
    ++pos;
    if (!ReadNumber(s, pos, minutes, 2)) return false;
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!ReadNumber(s, pos, seconds, 2)) return false;
    }
  }
  if (hours > 15 || minutes > 59 || seconds > 59) return false;
  offset_seconds = sign * (hours * 3600 + minutes * 60 + seconds);
  return true;
}

std::optional<int64_t> ParseDate(std::string_view text) {
  std::string_view s = Trim(text);
  if (EqualsIgnoreCase(s, "infinity") || EqualsIgnoreCase(s, "+infinity")) return kInfinity;
  if (EqualsIgnoreCase(s, "-infinity")) return kMinusInfinity;
  bool bc = StripSuffixIgnoreCase(s, "bc");
  size_t pos = 0;
  int64_t days = 0;
  if (!ReadDate(s, pos, days, bc)) return std::nullopt;
  if (pos != s.size()) {
    // A time part is accepted and ignored, as date_in does.
    if (s[pos] != ' ' && s[pos] != 'T' && s[pos] != 't') return std::nullopt;
    ++pos;
    int64_t micros = 0;
    if (!ReadTime(s, pos, micros)) return std::nullopt;
    int64_t zone = 0;
    if (pos != s.size() && !ReadZone(s, pos, zone)) return std::nullopt;
    if (pos != s.size()) return std::nullopt;
  }
  return days;
}

std::optional<int64_t> ParseTime(std::string_view text) {
  std::string_view s = Trim(text);
  size_t pos = 0;
  int64_t micros = 0;
  if (!ReadTime(s, pos, micros) || pos != s.size()) return std::nullopt;
  return micros;
}

std::optional<int64_t> ParseTimestamp(std::string_view text, bool with_zone) {
  std::string_view s = Trim(text);
  if (EqualsIgnoreCase(s, "infinity") || EqualsIgnoreCase(s, "+infinity")) return kInfinity;
  if (EqualsIgnoreCase(s, "-infinity")) return kMinusInfinity;
  bool bc = StripSuffixIgnoreCase(s, "bc");
  size_t pos = 0;
  int64_t days = 0;
  if (!ReadDate(s, pos, days, bc)) return std::nullopt;
  int64_t micros = 0;
  int64_t zone = 0;
  if (pos < s.size() && (s[pos] == ' ' || s[pos] == 'T' || s[pos] == 't')) {
    ++pos;
    while (pos < s.size() && s[pos] == ' ') ++pos;
    if (!ReadTime(s, pos, micros)) return std::nullopt;
  }
  if (pos != s.size()) {
    if (!ReadZone(s, pos, zone) || pos != s.size()) return std::nullopt;
  }
  int64_t result = days * kMicrosPerDay + micros;
  if (with_zone) result -= zone * kMicrosPerSecond;  // timestamp (no zone) ignores an offset
  return result;
}

void AppendTwo(std::string& out, int64_t v) {
  out += static_cast<char>('0' + (v / 10) % 10);
  out += static_cast<char>('0' + v % 10);
}

void AppendDate(std::string& out, int64_t days, bool& bc) {
  int64_t y = 0, m = 0, d = 0;
  CivilFromDays(days, y, m, d);
  bc = y <= 0;
  if (bc) y = 1 - y;
  std::string year = std::to_string(y);
  if (year.size() < 4) year.insert(0, 4 - year.size(), '0');
  out += year;
  out += '-';
  AppendTwo(out, m);
  out += '-';
  AppendTwo(out, d);
}

void AppendTime(std::string& out, int64_t micros) {
  int64_t seconds = micros / kMicrosPerSecond;
  int64_t fraction = micros % kMicrosPerSecond;
  AppendTwo(out, seconds / 3600);
  out += ':';
  AppendTwo(out, (seconds / 60) % 60);
  out += ':';
  AppendTwo(out, seconds % 60);
  if (fraction != 0) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), ".%06lld", static_cast<long long>(fraction));
    std::string f(buf);
    while (f.back() == '0') f.pop_back();
    out += f;
  }
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::string FormatTimestamp(int64_t micros, bool with_zone) {
  if (micros == kInfinity) return "infinity";
  if (micros == kMinusInfinity) return "-infinity";
  int64_t days = FloorDiv(micros, kMicrosPerDay);
  int64_t time = micros - days * kMicrosPerDay;
  std::string out;
  bool bc = false;
  AppendDate(out, days, bc);
  out += ' ';
  AppendTime(out, time);
  if (with_zone) out += "+00";
  if (bc) out += " BC";
  return out;
}

std::optional<bool> ParseBool(std::string_view text) {
  std::string_view s = Trim(text);
  if (s.empty()) return std::nullopt;
  std::string lower;
  for (char c : s) lower += Lower(c);
  auto prefix_of = [&](std::string_view word, size_t min_len) {
    return lower.size() >= min_len && lower.size() <= word.size() &&
           word.substr(0, lower.size()) == lower;
  };
  if (prefix_of("true", 1) || prefix_of("yes", 1) || lower == "on" || lower == "1") return true;
  if (prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || lower == "0")
    return false;
  return std::nullopt;
}

std::optional<int64_t> ParseInteger(std::string_view text, int64_t min, int64_t max) {
  std::string_view s = Trim(text);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  if (value < min || value > max) return std::nullopt;
  return value;
}

std::optional<double> ParseFloat(std::string_view text, bool single) {
  std::string_view s = Trim(text);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  if (single) {
    float value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return static_cast<double>(value);
  }
  double value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

// float4/float8 text as PostgreSQL prints it with extra_float_digits > 0 (shortest exact).
std::string FormatFloat(double value, bool single) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  std::to_chars_result r;
  if (single) {
    r = std::to_chars(buf, buf + sizeof(buf), static_cast<float>(value),
                      std::chars_format::scientific);
  } else {
    r = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  }
  std::string sci(buf, r.ptr);
  // sci = [-]d[.ddd]e[+-]XX
  size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  int exponent = std::atoi(sci.c_str() + e + 1);
  bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  int max_fixed = single ? 6 : 15;
  std::string out = negative ? "-" : "";
  if (exponent < -4 || exponent >= max_fixed) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += 'e';
    out += exponent < 0 ? '-' : '+';
    int abs_exp = exponent < 0 ? -exponent : exponent;
    if (abs_exp < 10) out += '0';
    out += std::to_string(abs_exp);
    return out;
  }
  if (exponent < 0) {
    out += "0.";
    out.append(static_cast<size_t>(-exponent - 1), '0');
    out += digits;
    return out;
  }
  size_t int_len = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= int_len) {
    out += digits;
    out.append(int_len - digits.size(), '0');
  } else {
    out += digits.substr(0, int_len);
    out += '.';
    out += digits.substr(int_len);
  }
  return out;
}

// Interval input: ISO 8601 ("P1Y2M3DT4H5M6.5S") or PostgreSQL's ("1 year 2 mons 3 days 04:05:06",
// "@ 1 day ago").
std::optional<Interval> ParseInterval(std::string_view text) {
  std::string_view s = Trim(text);
  if (s.empty()) return std::nullopt;
  Interval result;
  double frac_days = 0;  // carried into micros
  auto add = [&](double amount, char unit) -> bool {
    if (!std::isfinite(amount) || std::fabs(amount) > 1e12) return false;
    switch (unit) {
      case 'Y': {
        double months = amount * 12;
        result.months += static_cast<int64_t>(months);
        break;
      }
      case 'M': {  // months
        auto whole = static_cast<int64_t>(amount);
        result.months += whole;
        frac_days += (amount - static_cast<double>(whole)) * 30;
        break;
      }
      case 'W': {
        double days = amount * 7;
        auto whole = static_cast<int64_t>(days);
        result.days += whole;
        frac_days += days - static_cast<double>(whole);
        break;
      }
      case 'D': {
        auto whole = static_cast<int64_t>(amount);
        result.days += whole;
        frac_days += amount - static_cast<double>(whole);
        break;
      }
      case 'h':
        result.micros += std::llround(amount * 3600e6);
        break;
      case 'm':
        result.micros += std::llround(amount * 60e6);
        break;
      case 's':
        result.micros += std::llround(amount * 1e6);
        break;
      case 'u':
        result.micros += std::llround(amount);
        break;
      default:
        return false;
    }
    return true;
  };
  auto read_double = [](std::string_view str, size_t& pos, double& out) {
    size_t start = pos;
    if (pos < str.size() && (str[pos] == '-' || str[pos] == '+')) ++pos;
    bool digits = false;
    while (pos < str.size() && (IsDigit(str[pos]) || str[pos] == '.')) ++pos, digits = true;
    if (!digits) return false;
    std::string number(str.substr(start, pos - start));
    if (number[0] == '+') number.erase(0, 1);
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), out);
    return ec == std::errc() && end == number.data() + number.size();
  };
  if (s[0] == 'P' || s[0] == 'p') {
    size_t pos = 1;
    bool in_time = false;
    bool any = false;
    while (pos < s.size()) {
      if (s[pos] == 'T' || s[pos] == 't') {
        in_time = true;
        ++pos;
        continue;
      }
      double amount = 0;
      if (!read_double(s, pos, amount) || pos >= s.size()) return std::nullopt;
      char unit = static_cast<char>(s[pos++] & ~0x20);  // upper case
      char kind = 0;
      if (!in_time) {
        kind = unit == 'Y' ? 'Y' : unit == 'M' ? 'M' : unit == 'W' ? 'W' : unit == 'D' ? 'D' : 0;
      } else {
        kind = unit == 'H' ? 'h' : unit == 'M' ? 'm' : unit == 'S' ? 's' : 0;
      }
      if (kind == 0 || !add(amount, kind)) return std::nullopt;
      any = true;
    }
    if (!any) return std::nullopt;
  } else {
    size_t pos = 0;
    bool ago = false;
    bool any = false;
    if (s[0] == '@') ++pos;
    while (true) {
      while (pos < s.size() && s[pos] == ' ') ++pos;
      if (pos >= s.size()) break;
      std::string_view rest = s.substr(pos);
      if (EqualsIgnoreCase(rest, "ago")) {
        ago = true;
        break;
      }
      // hh:mm[:ss] time field
      size_t colon = rest.find(':');
      size_t space = rest.find(' ');
      if (colon != std::string_view::npos && (space == std::string_view::npos || colon < space)) {
        std::string_view field = rest.substr(0, space);
        int sign = 1;
        if (!field.empty() && (field[0] == '-' || field[0] == '+')) {
          sign = field[0] == '-' ? -1 : 1;
          field.remove_prefix(1);
        }
        size_t fpos = 0;
        int64_t hours = 0, minutes = 0, seconds = 0, fraction = 0;
        if (!ReadNumber(field, fpos, hours, 9) || fpos >= field.size() || field[fpos] != ':')
          return std::nullopt;
        ++fpos;
        if (!ReadNumber(field, fpos, minutes, 2)) return std::nullopt;
        if (fpos < field.size() && field[fpos] == ':') {
          ++fpos;
          if (!ReadNumber(field, fpos, seconds, 2)) return std::nullopt;
          ReadFraction(field, fpos, fraction);
        }
        if (fpos != field.size() || minutes > 59 || seconds > 59) return std::nullopt;
        result.micros +=
            sign * ((hours * 3600 + minutes * 60 + seconds) * kMicrosPerSecond + fraction);
        pos += field.size() + (field.size() != rest.substr(0, space).size() ? 1 : 0);
        any = true;
        continue;
      }
      double amount = 0;
      if (!read_double(s, pos, amount)) return std::nullopt;
      while (pos < s.size() && s[pos] == ' ') ++pos;
      size_t unit_start = pos;
      while (pos < s.size() && s[pos] != ' ' && !IsDigit(s[pos]) && s[pos] != '-' && s[pos] != '+')
        ++pos;
      std::string unit;
      for (char c : s.substr(unit_start, pos - unit_start)) unit += Lower(c);
      char kind = 0;
      if (unit == "y" || unit == "yr" || unit == "yrs" || unit == "year" || unit == "years") {
        kind = 'Y';
      } else if (unit == "mon" || unit == "mons" || unit == "month" || unit == "months") {
        kind = 'M';
      } else if (unit == "w" || unit == "week" || unit == "weeks") {
        kind = 'W';
      } else if (unit == "d" || unit == "day" || unit == "days") {
        kind = 'D';
      } else if (unit == "h" || unit == "hr" || unit == "hrs" || unit == "hour" ||
                 unit == "hours") {
        kind = 'h';
      } else if (unit == "m" || unit == "min" || unit == "mins" || unit == "minute" ||
                 unit == "minutes") {
        kind = 'm';
      } else if (unit.empty() || unit == "s" || unit == "sec" || unit == "secs" ||
                 unit == "second" || unit == "seconds") {
        kind = 's';
      } else if (unit == "ms" || unit == "msec" || unit == "msecs" || unit == "millisecond" ||
                 unit == "milliseconds") {
        amount *= 1000, kind = 'u';
      } else if (unit == "us" || unit == "usec" || unit == "usecs" || unit == "microsecond" ||
                 unit == "microseconds") {
        kind = 'u';
      }
      if (kind == 0 || !add(amount, kind)) return std::nullopt;
      any = true;
    }
    if (!any) return std::nullopt;
    if (ago) {
      result.months = -result.months;
      result.days = -result.days;
      result.micros = -result.micros;
      frac_days = -frac_days;
    }
  }
  auto frac_whole = static_cast<int64_t>(frac_days);
  result.days += frac_whole;
  result.micros += std::llround((frac_days - static_cast<double>(frac_whole)) * 86400e6);
  return result;
}

std::string FormatInterval(const Interval& iv) {
  // IntervalStyle=iso_8601, as EncodeInterval writes it.
  if (iv.months == 0 && iv.days == 0 && iv.micros == 0) return "PT0S";
  std::string out = "P";
  int64_t years = iv.months / 12, months = iv.months % 12;
  if (years != 0) out += std::to_string(years) + "Y";
  if (months != 0) out += std::to_string(months) + "M";
  if (iv.days != 0) out += std::to_string(iv.days) + "D";
  int64_t hours = iv.micros / (3600 * kMicrosPerSecond);
  int64_t rest = iv.micros % (3600 * kMicrosPerSecond);
  int64_t minutes = rest / (60 * kMicrosPerSecond);
  rest %= 60 * kMicrosPerSecond;
  if (hours != 0 || minutes != 0 || rest != 0) {
    out += 'T';
    if (hours != 0) out += std::to_string(hours) + "H";
    if (minutes != 0) out += std::to_string(minutes) + "M";
    if (rest != 0) {
      int64_t abs_rest = rest < 0 ? -rest : rest;
      std::string seconds = rest < 0 ? "-" : "";
      seconds += std::to_string(abs_rest / kMicrosPerSecond);
      int64_t fraction = abs_rest % kMicrosPerSecond;
      if (fraction != 0) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), ".%06lld", static_cast<long long>(fraction));
        std::string f(buf);
        while (f.back() == '0') f.pop_back();
        seconds += f;
      }
      out += seconds + "S";
    }
  }
  return out;
}

// PostgreSQL array text: optional "[l:u]=" dimension decoration, nested braces, quoted or bare
// elements, bare NULL.
bool ParseArrayText(std::string_view s, const Type& element, ArrayValue& out) {
  s = Trim(s);
  size_t pos = 0;
  if (!s.empty() && s[0] == '[') {
    size_t eq = s.find('=');
    if (eq == std::string_view::npos) return false;
    pos = eq + 1;
    while (pos < s.size() && IsSpace(s[pos])) ++pos;
  }
  if (pos >= s.size() || s[pos] != '{') return false;
  std::vector<int> counts;  // elements seen at each depth for the current sub-array
  std::vector<int> dims;
  int depth = 0;
  bool dims_known = false;
  constexpr int kMaxDims = 6;
  while (pos < s.size()) {
    char c = s[pos];
    if (c == '{') {
      if (depth >= kMaxDims) return false;
      if (depth > 0) ++counts[static_cast<size_t>(depth - 1)];
      ++depth;
      if (static_cast<int>(counts.size()) < depth) counts.resize(static_cast<size_t>(depth), 0);
      counts[static_cast<size_t>(depth - 1)] = 0;
      ++pos;
      continue;
    }
    if (c == '}') {
      if (depth == 0) return false;
      int count = counts[static_cast<size_t>(depth - 1)];
      if (!dims_known) {
        // The first innermost closing brace fixes the number of dimensions.
        dims.assign(static_cast<size_t>(depth), -1);
        dims_known = true;
      }
      if (static_cast<int>(dims.size()) < depth) return false;
      int& expected = dims[static_cast<size_t>(depth - 1)];
      if (expected == -1) {
        expected = count;
      } else if (expected != count) {
        return false;  // multidimensional arrays must be rectangular
      }
      --depth;
      ++pos;
      while (pos < s.size() && IsSpace(s[pos])) ++pos;
      if (depth == 0) {
        if (pos != s.size()) return false;
        break;
      }
      if (pos < s.size() && s[pos] == ',') {
        ++pos;
        while (pos < s.size() && IsSpace(s[pos])) ++pos;
        if (pos < s.size() && s[pos] != '{') return false;
      } else if (pos < s.size() && s[pos] != '}') {
        return false;
      }
      continue;
    }
    if (IsSpace(c)) {
      ++pos;
      continue;
    }
    if (depth == 0) return false;
    if (dims_known && depth != static_cast<int>(dims.size())) return false;
    // One element.
    std::string text;
    bool quoted = false;
    if (c == '"') {
      quoted = true;
      ++pos;
      bool closed = false;
      while (pos < s.size()) {
        char e = s[pos++];
        if (e == '\\') {
          if (pos >= s.size()) return false;
          text += s[pos++];
        } else if (e == '"') {
          closed = true;
          break;
        } else {
          text += e;
        }
      }
      if (!closed) return false;
    } else {
      while (pos < s.size() && s[pos] != ',' && s[pos] != '}') {
        if (s[pos] == '{' || s[pos] == '"') return false;
        if (s[pos] == '\\') {
          ++pos;
          if (pos >= s.size()) return false;
        }
        text += s[pos++];
      }
      while (!text.empty() && IsSpace(text.back())) text.pop_back();
    }
    while (pos < s.size() && IsSpace(s[pos])) ++pos;
    if (pos < s.size() && s[pos] == ',') {
      ++pos;
      while (pos < s.size() && IsSpace(s[pos])) ++pos;
      if (pos < s.size() && s[pos] == '}') return false;
    } else if (pos < s.size() && s[pos] != '}') {
      return false;  // junk after a quoted element
    }
    ++counts[static_cast<size_t>(depth - 1)];
    if (!quoted && EqualsIgnoreCase(text, "null")) {
      out.items.push_back(Value::Null());
    } else {
      if (!quoted && text.empty()) return false;
      auto item = ParseValue(element, text);
      if (!item) return false;
      out.items.push_back(std::move(*item));
    }
    if (out.items.size() > 1000000) return false;
  }
  if (depth != 0) return false;
  if (!out.items.empty()) {
    for (int d : dims) {
      if (d <= 0) return false;
    }
    out.dims = dims;
  }
  return true;
}

void AppendArrayElement(std::string& out, const std::string& text) {
  bool needs_quotes = text.empty() || EqualsIgnoreCase(text, "null");
  for (char c : text) {
    if (c == '{' || c == '}' || c == ',' || c == '"' || c == '\\' || c == ' ' || c == '\t' ||
        c == '\n' || c == '\r' || c == '\v' || c == '\f')
      needs_quotes = true;
  }
  if (!needs_quotes) {
    out += text;
    return;
  }
  out += '"';
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

void AppendArray(std::string& out, const Type& element, const ArrayValue& array, size_t dim,
                 size_t& index) {
  out += '{';
  int count = array.dims[dim];
  for (int i = 0; i < count; ++i) {
    if (i > 0) out += ',';
    if (dim + 1 < array.dims.size()) {
      AppendArray(out, element, array, dim + 1, index);
    } else {
      const Value& item = array.items[index++];
      if (item.null) {
        out += "NULL";
      } else {
        AppendArrayElement(out, FormatValue(element, item));
      }
    }
  }
  out += '}';
}

std::string RTrimSpaces(std::string_view s) {
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

int CompareDoubles(double a, double b) {
  // PostgreSQL: NaN equals NaN and sorts above everything.
  bool a_nan = std::isnan(a), b_nan = std::isnan(b);
  if (a_nan || b_nan) return a_nan == b_nan ? 0 : (a_nan ? 1 : -1);
  return a < b ? -1 : (a > b ? 1 : 0);
}

template <class T>
int Three(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

}  // namespace

Int128 Interval::Span() const {
  return static_cast<Int128>(months) * 30 * kMicrosPerDay +
         static_cast<Int128>(days) * kMicrosPerDay + micros;
}

bool IsInteger(TypeKind kind) {
  return kind == TypeKind::kInt2 || kind == TypeKind::kInt4 || kind == TypeKind::kInt8;
}
bool IsFloat(TypeKind kind) {
  return kind == TypeKind::kFloat4 || kind == TypeKind::kFloat8 || kind == TypeKind::kNumeric;
}
bool IsText(TypeKind kind) {
  return kind == TypeKind::kText || kind == TypeKind::kVarchar || kind == TypeKind::kBpchar ||
         kind == TypeKind::kName;
}
bool IsDateTime(TypeKind kind) {
  return kind == TypeKind::kDate || kind == TypeKind::kTimestamp || kind == TypeKind::kTimestamptz;
}

std::optional<TypeKind> TypeKindFromName(std::string_view name) {
  static const std::pair<std::string_view, TypeKind> kNames[] = {
      {"bool", TypeKind::kBool},           {"int2", TypeKind::kInt2},
      {"int4", TypeKind::kInt4},           {"int8", TypeKind::kInt8},
      {"float4", TypeKind::kFloat4},       {"float8", TypeKind::kFloat8},
      {"numeric", TypeKind::kNumeric},     {"text", TypeKind::kText},
      {"varchar", TypeKind::kVarchar},     {"bpchar", TypeKind::kBpchar},
      {"name", TypeKind::kName},           {"uuid", TypeKind::kUuid},
      {"date", TypeKind::kDate},           {"time", TypeKind::kTime},
      {"timestamp", TypeKind::kTimestamp}, {"timestamptz", TypeKind::kTimestamptz},
      {"interval", TypeKind::kInterval},   {"json", TypeKind::kJson},
      {"jsonb", TypeKind::kJsonb},
  };
  for (const auto& [n, kind] : kNames) {
    if (n == name) return kind;
  }
  return std::nullopt;
}

std::string TypeSqlName(const Type& type) {
  std::string name;
  switch (type.kind) {
    case TypeKind::kUnknown:
      name = "text";
      break;
    case TypeKind::kBool:
      name = "bool";
      break;
    case TypeKind::kInt2:
      name = "int2";
      break;
    case TypeKind::kInt4:
      name = "int4";
      break;
    case TypeKind::kInt8:
      name = "int8";
      break;
    case TypeKind::kFloat4:
      name = "float4";
      break;
    case TypeKind::kFloat8:
      name = "float8";
      break;
    case TypeKind::kNumeric:
      name = "numeric";
      break;
    case TypeKind::kText:
      name = "text";
      break;
    case TypeKind::kVarchar:
      name = "varchar";
      break;
    case TypeKind::kBpchar:
      name = "bpchar";
      break;
    case TypeKind::kName:
      name = "name";
      break;
    case TypeKind::kUuid:
      name = "uuid";
      break;
    case TypeKind::kDate:
      name = "date";
      break;
    case TypeKind::kTime:
      name = "time";
      break;
    case TypeKind::kTimestamp:
      name = "timestamp";
      break;
    case TypeKind::kTimestamptz:
      name = "timestamptz";
      break;
    case TypeKind::kInterval:
      name = "interval";
      break;
    case TypeKind::kJson:
      name = "json";
      break;
    case TypeKind::kJsonb:
      name = "jsonb";
      break;
    case TypeKind::kEnum: {
      name = "\"";
      for (char c : type.enum_name) {
        if (c == '"') name += '"';
        name += c;
      }
      name += '"';
      break;
    }
  }
  if (type.is_array) name += "[]";
  return name;
}

std::optional<std::string> CanonicalUuid(std::string_view text) {
  std::string_view s = Trim(text);
  if (!s.empty() && s.front() == '{') {
    if (s.back() != '}') return std::nullopt;
    s = s.substr(1, s.size() - 2);
  }
  std::string hex;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = Lower(s[i]);
    if (c == '-') {
      // PostgreSQL allows a hyphen after any group of four hex digits.
      if (hex.empty() || hex.size() % 4 != 0 || i + 1 == s.size() || s[i + 1] == '-')
        return std::nullopt;
      continue;
    }
    if (!IsDigit(c) && !(c >= 'a' && c <= 'f')) return std::nullopt;
    hex += c;
  }
  if (hex.size() != 32) return std::nullopt;
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20);
}

std::optional<Value> ParseValue(const Type& type, std::string_view text) {
  Value v;
  v.null = false;
  if (type.is_array) {
    auto array = std::make_shared<ArrayValue>();
    if (!ParseArrayText(text, type.Element(), *array)) return std::nullopt;
    v.array = std::move(array);
    return v;
  }
  switch (type.kind) {
    case TypeKind::kUnknown:
    case TypeKind::kText:
    case TypeKind::kVarchar:
    case TypeKind::kBpchar:
    case TypeKind::kEnum:
      v.text = std::string(text);
      return v;
    case TypeKind::kName:
      v.text = std::string(text.substr(0, 63));
      return v;
    case TypeKind::kBool: {
      auto b = ParseBool(text);
      if (!b) return std::nullopt;
      v.boolean = *b;
      return v;
    }
    case TypeKind::kInt2:
    case TypeKind::kInt4:
    case TypeKind::kInt8: {
      int64_t min = type.kind == TypeKind::kInt2   ? -32768
                    : type.kind == TypeKind::kInt4 ? std::numeric_limits<int32_t>::min()
                                                   : std::numeric_limits<int64_t>::min();
      int64_t max = type.kind == TypeKind::kInt2   ? 32767
                    : type.kind == TypeKind::kInt4 ? std::numeric_limits<int32_t>::max()
                                                   : std::numeric_limits<int64_t>::max();
      auto i = ParseInteger(text, min, max);
      if (!i) return std::nullopt;
      v.integer = *i;
      return v;
    }
    case TypeKind::kFloat4:
    case TypeKind::kFloat8: {
      auto f = ParseFloat(text, type.kind == TypeKind::kFloat4);
      if (!f) return std::nullopt;
      v.real = *f;
      return v;
    }
    case TypeKind::kNumeric: {
      std::string_view s = Trim(text);
      if (EqualsIgnoreCase(s, "nan")) {
        v.real = std::nan("");
        v.text = "NaN";
        return v;
      }
      if (EqualsIgnoreCase(s, "infinity") || EqualsIgnoreCase(s, "+infinity") ||
          EqualsIgnoreCase(s, "-infinity")) {
        bool negative = s[0] == '-';
        v.real = negative ? -HUGE_VAL : HUGE_VAL;
        v.text = negative ? "-Infinity" : "Infinity";
        return v;
      }
      auto canonical = CanonicalNumeric(s);
      if (!canonical) return std::nullopt;
      auto f = ParseFloat(*canonical, false);
      if (!f) {
        // Beyond double's range: keep the sign, compare as infinite.
        f = (*canonical)[0] == '-' ? -HUGE_VAL : HUGE_VAL;
      }
      v.real = *f;
      v.text = std::move(*canonical);
      return v;
    }
    case TypeKind::kUuid: {
      auto u = CanonicalUuid(text);
      if (!u) return std::nullopt;
      v.text = std::move(*u);
      return v;
    }
    case TypeKind::kDate: {
      auto d = ParseDate(text);
      if (!d) return std::nullopt;
      v.integer = *d;
      return v;
    }
    case TypeKind::kTime: {
      auto t = ParseTime(text);
      if (!t) return std::nullopt;
      v.integer = *t;
      return v;
    }
    case TypeKind::kTimestamp:
    case TypeKind::kTimestamptz: {
      auto t = ParseTimestamp(text, type.kind == TypeKind::kTimestamptz);
      if (!t) return std::nullopt;
      v.integer = *t;
      return v;
    }
    case TypeKind::kInterval: {
      auto i = ParseInterval(text);
      if (!i) return std::nullopt;
      v.interval = *i;
      return v;
    }
    case TypeKind::kJson:
    case TypeKind::kJsonb: {
      auto j = JsonValue::Parse(text, type.kind == TypeKind::kJson);
      if (!j) return std::nullopt;
      v.json = std::make_shared<const JsonValue>(std::move(*j));
      return v;
    }
  }
  return std::nullopt;
}

std::string FormatValue(const Type& type, const Value& value) {
  if (type.is_array) {
    if (!value.array || value.array->items.empty()) return "{}";
    std::string out;
    size_t index = 0;
    AppendArray(out, type.Element(), *value.array, 0, index);
    return out;
  }
  switch (type.kind) {
    case TypeKind::kBool:
      return value.boolean ? "t" : "f";
    case TypeKind::kInt2:
    case TypeKind::kInt4:
    case TypeKind::kInt8:
      return std::to_string(value.integer);
    case TypeKind::kFloat4:
      return FormatFloat(value.real, true);
    case TypeKind::kFloat8:
      return FormatFloat(value.real, false);
    case TypeKind::kNumeric:
      return value.text.empty() ? FormatFloat(value.real, false) : value.text;
    case TypeKind::kDate: {
      if (value.integer == kInfinity) return "infinity";
      if (value.integer == kMinusInfinity) return "-infinity";
      std::string out;
      bool bc = false;
      AppendDate(out, value.integer, bc);
      if (bc) out += " BC";
      return out;
    }
    case TypeKind::kTime: {
      std::string out;
      AppendTime(out, value.integer);
      return out;
    }
    case TypeKind::kTimestamp:
      return FormatTimestamp(value.integer, false);
    case TypeKind::kTimestamptz:
      return FormatTimestamp(value.integer, true);
    case TypeKind::kInterval:
      return FormatInterval(value.interval);
    case TypeKind::kJson:
    case TypeKind::kJsonb:
      return value.json ? value.json->ToString() : "null";
    default:
      return value.text;
  }
}

std::string CastToText(const Type& type, const Value& value) {
  if (IsScalar(type, TypeKind::kBool)) return value.boolean ? "true" : "false";
  if (IsScalar(type, TypeKind::kBpchar)) return RTrimSpaces(value.text);
  return FormatValue(type, value);
}

std::optional<int> CompareValues(const Type& type, const Value& a, const Value& b) {
  if (type.is_array) {
    if (!a.array || !b.array) return std::nullopt;
    const auto& x = *a.array;
    const auto& y = *b.array;
    Type element = type.Element();
    size_t n = std::min(x.items.size(), y.items.size());
    for (size_t i = 0; i < n; ++i) {
      const Value& p = x.items[i];
      const Value& q = y.items[i];
      if (p.null || q.null) {
        if (p.null != q.null) return p.null ? 1 : -1;  // NULL elements sort last
        continue;
      }
      auto c = CompareValues(element, p, q);
      if (!c) return std::nullopt;
      if (*c != 0) return c;
    }
    if (x.items.size() != y.items.size()) return x.items.size() < y.items.size() ? -1 : 1;
    if (x.dims != y.dims) return Three(x.dims, y.dims);
    return 0;
  }
  switch (type.kind) {
    case TypeKind::kBool:
      return Three(a.boolean, b.boolean);
    case TypeKind::kInt2:
    case TypeKind::kInt4:
    case TypeKind::kInt8:
    case TypeKind::kDate:
    case TypeKind::kTime:
    case TypeKind::kTimestamp:
    case TypeKind::kTimestamptz:
      return Three(a.integer, b.integer);
    case TypeKind::kFloat4:
    case TypeKind::kFloat8:
    case TypeKind::kNumeric:
      return CompareDoubles(a.real, b.real);
    case TypeKind::kBpchar:
      return Three(RTrimSpaces(a.text), RTrimSpaces(b.text));
    case TypeKind::kInterval:
      return Three(a.interval.Span(), b.interval.Span());
    case TypeKind::kJson:
      return std::nullopt;
    case TypeKind::kJsonb:
      if (!a.json || !b.json) return std::nullopt;
      return a.json->Equals(*b.json) ? 0 : 1;  // equality only
    default:
      return Three(a.text, b.text);
  }
}

bool ValuesEqual(const Type& type, const Value& a, const Value& b) {
  auto c = CompareValues(type, a, b);
  return c && *c == 0;
}

bool CanConvert(const Type& from, const Type& to) {
  if (from == to) return true;
  if (from.kind == TypeKind::kUnknown && !from.is_array) return true;
  if (from.is_array || to.is_array) {
    if (from.is_array && to.is_array) return CanConvert(from.Element(), to.Element());
    return IsScalar(to, TypeKind::kText) || IsScalar(to, TypeKind::kVarchar);
  }
  TypeKind f = from.kind, t = to.kind;
  if (IsText(t)) return true;  // every type has a text output
  if (IsText(f)) return true;  // and text input (checked per value)
  if (IsNumber(f) && IsNumber(t)) return true;
  if (IsDateTime(f) && IsDateTime(t)) return true;
  if ((f == TypeKind::kTimestamp || f == TypeKind::kTimestamptz) && t == TypeKind::kTime)
    return true;
  if ((f == TypeKind::kJson || f == TypeKind::kJsonb) &&
      (t == TypeKind::kJson || t == TypeKind::kJsonb))
    return true;
  if (f == TypeKind::kInt4 && t == TypeKind::kBool) return true;
  if (f == TypeKind::kBool && t == TypeKind::kInt4) return true;
  return false;
}

std::optional<Value> ConvertValue(const Value& value, const Type& from, const Type& to) {
  if (value.null) return value;
  if (from == to) return value;
  if (from.kind == TypeKind::kUnknown && !from.is_array) return ParseValue(to, value.text);
  if (from.is_array && to.is_array) {
    auto array = std::make_shared<ArrayValue>();
    array->dims = value.array ? value.array->dims : std::vector<int>{};
    if (value.array) {
      for (const Value& item : value.array->items) {
        auto converted = ConvertValue(item, from.Element(), to.Element());
        if (!converted) return std::nullopt;
        array->items.push_back(std::move(*converted));
      }
    }
    Value v;
    v.null = false;
    v.array = std::move(array);
    return v;
  }
  if (!to.is_array && IsText(to.kind)) {
    Value v;
    v.null = false;
    v.text = CastToText(from, value);
    if (to.kind == TypeKind::kName && v.text.size() > 63) v.text.resize(63);
    return v;
  }
  if (from.is_array || to.is_array) return std::nullopt;
  TypeKind f = from.kind, t = to.kind;
  if (IsText(f))
    return ParseValue(to, f == TypeKind::kBpchar ? RTrimSpaces(value.text) : value.text);
  Value v;
  v.null = false;
  if (IsNumber(f) && IsNumber(t)) {
    if (IsInteger(t)) {
      int64_t i = 0;
      if (IsInteger(f)) {
        i = value.integer;
      } else {
        double r = f == TypeKind::kNumeric ? std::round(value.real) : std::nearbyint(value.real);
        if (!(r >= -9.2233720368547758e18 && r < 9.2233720368547758e18)) return std::nullopt;
        i = static_cast<int64_t>(r);
      }
      int64_t min = t == TypeKind::kInt2   ? -32768
                    : t == TypeKind::kInt4 ? std::numeric_limits<int32_t>::min()
                                           : std::numeric_limits<int64_t>::min();
      int64_t max = t == TypeKind::kInt2   ? 32767
                    : t == TypeKind::kInt4 ? std::numeric_limits<int32_t>::max()
                                           : std::numeric_limits<int64_t>::max();
      if (i < min || i > max) return std::nullopt;
      v.integer = i;
      return v;
    }
    double r = IsInteger(f) ? static_cast<double>(value.integer) : value.real;
    if (t == TypeKind::kFloat4) {
      if (std::isfinite(r) && std::fabs(r) > 3.4028234663852886e38) return std::nullopt;
      r = static_cast<double>(static_cast<float>(r));
    }
    v.real = r;
    if (t == TypeKind::kNumeric) {
      v.text = IsInteger(f) ? std::to_string(value.integer)
                            : (f == TypeKind::kNumeric ? value.text : std::string());
      if (v.text.empty()) {
        auto canonical = CanonicalNumeric(FormatFloat(r, f == TypeKind::kFloat4));
        if (canonical) v.text = *canonical;
      }
    }
    return v;
  }
  if (IsDateTime(f) && IsDateTime(t)) {
    int64_t x = value.integer;
    bool infinite = x == kInfinity || x == kMinusInfinity;
    if (f == TypeKind::kDate && t != TypeKind::kDate) {
      v.integer = infinite ? x : x * kMicrosPerDay;
    } else if (f != TypeKind::kDate && t == TypeKind::kDate) {
      v.integer = infinite ? x : FloorDiv(x, kMicrosPerDay);
    } else {
      v.integer = x;  // timestamp <-> timestamptz with TimeZone=UTC
    }
    return v;
  }
  if ((f == TypeKind::kTimestamp || f == TypeKind::kTimestamptz) && t == TypeKind::kTime) {
    if (value.integer == kInfinity || value.integer == kMinusInfinity) return std::nullopt;
    v.integer = value.integer - FloorDiv(value.integer, kMicrosPerDay) * kMicrosPerDay;
    return v;
  }
  if ((f == TypeKind::kJson || f == TypeKind::kJsonb) &&
      (t == TypeKind::kJson || t == TypeKind::kJsonb)) {
    if (!value.json) return std::nullopt;
    return ParseValue(to, value.json->ToString());
  }
  if (f == TypeKind::kInt4 && t == TypeKind::kBool) return Value::Bool(value.integer != 0);
  if (f == TypeKind::kBool && t == TypeKind::kInt4) {
    v.integer = value.boolean ? 1 : 0;
    return v;
  }
  return std::nullopt;
}

}  // namespace eddy::where
