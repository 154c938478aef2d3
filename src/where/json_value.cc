#include "where/json_value.h"

#include <algorithm>
#include <cstdint>

namespace eddy::where {
namespace {

// PostgreSQL refuses deeper documents (stack depth); so do we, to bound recursion.
constexpr int kMaxDepth = 1000;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Numeric text without sign/leading/trailing zeros, for equality by value.
std::string NumericKey(const std::string& canonical) {
  std::string_view text = canonical;
  bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  std::string_view int_part = text.substr(0, text.find('.'));
  std::string_view frac_part = text.find('.') == std::string_view::npos
                                   ? std::string_view{}
                                   : text.substr(text.find('.') + 1);
  while (!int_part.empty() && int_part[0] == '0') int_part.remove_prefix(1);
  while (!frac_part.empty() && frac_part.back() == '0') frac_part.remove_suffix(1);
  if (int_part.empty() && frac_part.empty()) return "0";
  std::string key = negative ? "-" : "";
  key += int_part;
  if (!frac_part.empty()) {
    key += '.';
    key += frac_part;
  }
  return key;
}

// jsonb orders object keys by length, then bytes.
bool JsonbKeyLess(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::optional<std::string> CanonicalNumeric(std::string_view text) {
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
  std::string digits;  // mantissa digits
  size_t frac_digits = 0;
  bool seen_digit = false;
  while (i < text.size() && IsDigit(text[i])) digits += text[i++], seen_digit = true;
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && IsDigit(text[i]))
      digits += text[i++], ++frac_digits, seen_digit = true;
  }
  if (!seen_digit) return std::nullopt;
  long long exponent = 0;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) exp_negative = text[i++] == '-';
    if (i >= text.size() || !IsDigit(text[i])) return std::nullopt;
    while (i < text.size() && IsDigit(text[i])) {
      exponent = exponent * 10 + (text[i++] - '0');
      if (exponent > 100000) return std::nullopt;
    }
    if (exp_negative) exponent = -exponent;
  }
  if (i != text.size()) return std::nullopt;
  // value = digits * 10^(exponent - frac_digits), printed with scale max(0, frac_digits - exp).
  long long scale = std::max<long long>(0, static_cast<long long>(frac_digits) - exponent);
  long long shift = exponent - static_cast<long long>(frac_digits);  // power of ten on digits
  std::string plain = digits;
  if (shift > 0) plain.append(static_cast<size_t>(shift), '0');
  // `plain` now has `implied` fractional digits.
  const size_t implied = shift < 0 ? static_cast<size_t>(-shift) : 0;
  if (plain.size() <= implied) plain = std::string(implied - plain.size() + 1, '0') + plain;
  const size_t split = plain.size() - implied;
  // Leading zeros of the integer part go (one is kept for "0.5"); sliced, not erased one by
  // one, which GCC 12 at -O2 misreads as an overflow.
  const size_t first_nonzero = plain.find_first_not_of('0');
  const size_t int_start = std::min(first_nonzero == std::string::npos ? split : first_nonzero,
                                    split == 0 ? size_t{0} : split - 1);
  std::string int_part(plain, int_start, split - int_start);
  std::string frac_part(plain, split);
  if (int_part.empty()) int_part.push_back('0');
  frac_part.resize(static_cast<size_t>(scale), '0');
  std::string out;
  bool is_zero = std::all_of(int_part.begin(), int_part.end(), [](char c) { return c == '0'; }) &&
                 std::all_of(frac_part.begin(), frac_part.end(), [](char c) { return c == '0'; });
  if (negative && !is_zero) out += '-';
  out += int_part;
  if (!frac_part.empty()) {
    out += '.';
    out += frac_part;
  }
  return out;
}

void AppendJsonString(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static const char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xF];
          out += kHex[c & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

class JsonParser {
 public:
  JsonParser(std::string_view text, bool keep_source) : text_(text), keep_source_(keep_source) {}

  std::optional<JsonValue> ParseDocument() {
    JsonValue value;
    if (!ParseValue(value, 0)) return std::nullopt;
    SkipSpace();
    if (pos_ != text_.size()) return std::nullopt;
    return value;
  }

 private:
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  bool Literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool ParseValue(JsonValue& value, int depth) {
    if (depth > kMaxDepth) return false;
    SkipSpace();
    if (pos_ >= text_.size()) return false;
    size_t start = pos_;
    bool ok = false;
    char c = text_[pos_];
    if (c == '{') {
      ok = ParseObject(value, depth);
    } else if (c == '[') {
      ok = ParseArray(value, depth);
    } else if (c == '"') {
      value.kind_ = JsonValue::Kind::kString;
      ok = ParseString(value.text_);
    } else if (c == 't' || c == 'f' || c == 'n') {
      if (Literal("true")) {
        value.kind_ = JsonValue::Kind::kBool, value.boolean_ = true, ok = true;
      } else if (Literal("false")) {
        value.kind_ = JsonValue::Kind::kBool, ok = true;
      } else if (Literal("null")) {
        value.kind_ = JsonValue::Kind::kNull, ok = true;
      }
    } else {
      ok = ParseNumber(value);
    }
    if (ok && keep_source_) {
      value.source_ = std::string(text_.substr(start, pos_ - start));
      value.has_source_ = true;
    }
    return ok;
  }

  bool ParseNumber(JsonValue& value) {
    size_t start = pos_;
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    if (pos_ >= text_.size() || !IsDigit(text_[pos_])) return false;
    if (text_[pos_] == '0') {
      ++pos_;
    } else {
      while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      if (pos_ >= text_.size() || !IsDigit(text_[pos_])) return false;
      while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (pos_ >= text_.size() || !IsDigit(text_[pos_])) return false;
      while (pos_ < text_.size() && IsDigit(text_[pos_])) ++pos_;
    }
    auto canonical = CanonicalNumeric(text_.substr(start, pos_ - start));
    if (!canonical) return false;
    value.kind_ = JsonValue::Kind::kNumber;
    value.text_ = std::move(*canonical);
    return true;
  }

  bool ParseHex4(uint32_t& out) {
    if (pos_ + 4 > text_.size()) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = text_[pos_++];
      out <<= 4;
      if (c >= '0' && c <= '9') {
        out |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        out |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        out |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  bool ParseString(std::string& out) {
    ++pos_;  // opening quote
    while (pos_ < text_.size()) {
      char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) return false;
      char e = text_[pos_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!ParseHex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low = 0;
            if (!Literal("\\u") || !ParseHex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          if (cp == 0) return false;  // PostgreSQL cannot store \u0000 in text
          AppendUtf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  bool ParseArray(JsonValue& value, int depth) {
    ++pos_;
    value.kind_ = JsonValue::Kind::kArray;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == ']') return ++pos_, true;
    while (true) {
      JsonValue element;
      if (!ParseValue(element, depth + 1)) return false;
      value.elements_.push_back(std::move(element));
      SkipSpace();
      if (pos_ >= text_.size()) return false;
      char c = text_[pos_++];
      if (c == ']') return true;
      if (c != ',') return false;
    }
  }

  bool ParseObject(JsonValue& value, int depth) {
    ++pos_;
    value.kind_ = JsonValue::Kind::kObject;
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '}') return ++pos_, true;
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return false;
      std::string key;
      if (!ParseString(key)) return false;
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_++] != ':') return false;
      JsonValue member;
      if (!ParseValue(member, depth + 1)) return false;
      value.members_.emplace_back(std::move(key), std::move(member));
      SkipSpace();
      if (pos_ >= text_.size()) return false;
      char c = text_[pos_++];
      if (c == '}') break;
      if (c != ',') return false;
    }
    if (!keep_source_) {
      // jsonb: last duplicate wins, keys sorted by (length, bytes).
      auto& members = value.members_;
      std::stable_sort(members.begin(), members.end(),
                       [](const auto& a, const auto& b) { return JsonbKeyLess(a.first, b.first); });
      std::vector<std::pair<std::string, JsonValue>> unique;
      for (auto& member : members) {
        if (!unique.empty() && unique.back().first == member.first) {
          unique.back() = std::move(member);
        } else {
          unique.push_back(std::move(member));
        }
      }
      members = std::move(unique);
    }
    return true;
  }

  std::string_view text_;
  bool keep_source_;
  size_t pos_ = 0;
};

std::optional<JsonValue> JsonValue::Parse(std::string_view text, bool keep_source) {
  return JsonParser(text, keep_source).ParseDocument();
}

const JsonValue* JsonValue::Member(std::string_view key) const {
  if (kind_ != Kind::kObject) return nullptr;
  for (auto it = members_.rbegin(); it != members_.rend(); ++it) {
    if (it->first == key) return &it->second;
  }
  return nullptr;
}

const JsonValue* JsonValue::Element(long long index) const {
  if (kind_ != Kind::kArray) return nullptr;
  long long size = static_cast<long long>(elements_.size());
  if (index < 0) index += size;
  if (index < 0 || index >= size) return nullptr;
  return &elements_[static_cast<size_t>(index)];
}

std::string JsonValue::ToString() const {
  if (has_source_) return source_;
  std::string out;
  AppendJsonb(out);
  return out;
}

void JsonValue::AppendJsonb(std::string& out) const {
  switch (kind_) {
    case Kind::kNull:
      out += "null";
      break;
    case Kind::kBool:
      out += boolean_ ? "true" : "false";
      break;
    case Kind::kNumber:
      out += text_;
      break;
    case Kind::kString:
      AppendJsonString(out, text_);
      break;
    case Kind::kArray:
      out += '[';
      for (size_t i = 0; i < elements_.size(); ++i) {
        if (i > 0) out += ", ";
        elements_[i].AppendJsonb(out);
      }
      out += ']';
      break;
    case Kind::kObject:
      out += '{';
      for (size_t i = 0; i < members_.size(); ++i) {
        if (i > 0) out += ", ";
        AppendJsonString(out, members_[i].first);
        out += ": ";
        members_[i].second.AppendJsonb(out);
      }
      out += '}';
      break;
  }
}

std::optional<std::string> JsonValue::AsText() const {
  switch (kind_) {
    case Kind::kNull:
      return std::nullopt;
    case Kind::kString:
      return text_;
    default:
      return ToString();
  }
}

bool JsonValue::Equals(const JsonValue& other) const {
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case Kind::kNull:
      return true;
    case Kind::kBool:
      return boolean_ == other.boolean_;
    case Kind::kNumber:
      return NumericKey(text_) == NumericKey(other.text_);
    case Kind::kString:
      return text_ == other.text_;
    case Kind::kArray:
      if (elements_.size() != other.elements_.size()) return false;
      for (size_t i = 0; i < elements_.size(); ++i) {
        if (!elements_[i].Equals(other.elements_[i])) return false;
      }
      return true;
    case Kind::kObject: {
      if (members_.size() != other.members_.size()) return false;
      for (const auto& [key, value] : members_) {
        const JsonValue* theirs = other.Member(key);
        if (theirs == nullptr || !value.Equals(*theirs)) return false;
      }
      return true;
    }
  }
  return false;
}

bool JsonValue::Contains(const JsonValue& other, bool top_level) const {
  if (kind_ == Kind::kObject) {
    if (other.kind_ != Kind::kObject) return false;
    for (const auto& [key, value] : other.members_) {
      const JsonValue* mine = Member(key);
      if (mine == nullptr) return false;
      if (mine->kind_ != value.kind_) return false;
      if (value.kind_ == Kind::kObject || value.kind_ == Kind::kArray) {
        if (!mine->Contains(value, false)) return false;
      } else if (!mine->Equals(value)) {
        return false;
      }
    }
    return true;
  }
  if (kind_ == Kind::kArray) {
    if (other.kind_ == Kind::kArray) {
      for (const auto& wanted : other.elements_) {
        bool found = false;
        for (const auto& element : elements_) {
          if (wanted.kind_ == Kind::kObject || wanted.kind_ == Kind::kArray) {
            if (element.kind_ == wanted.kind_ && element.Contains(wanted, false)) found = true;
          } else if (element.Equals(wanted)) {
            found = true;
          }
          if (found) break;
        }
        if (!found) return false;
      }
      return true;
    }
    // A top-level array contains a scalar that is one of its elements.
    if (top_level && other.kind_ != Kind::kObject) {
      for (const auto& element : elements_) {
        if (element.Equals(other)) return true;
      }
    }
    return false;
  }
  return Equals(other);
}

bool JsonValue::HasKey(std::string_view key) const {
  switch (kind_) {
    case Kind::kObject:
      return Member(key) != nullptr;
    case Kind::kArray:
      for (const auto& element : elements_) {
        if (element.kind_ == Kind::kString && element.text_ == key) return true;
      }
      return false;
    case Kind::kString:
      return text_ == key;
    default:
      return false;
  }
}

}  // namespace eddy::where
