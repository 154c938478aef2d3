#include "nats/subject.h"

#include <fmt/format.h>
#include <openssl/sha.h>

namespace eddy::nats {
namespace {

bool IsPlain(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendEncoded(std::string_view text, std::string* out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (IsPlain(c)) {
      out->push_back(ch);
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 0xF]);
    }
  }
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  std::string hex;
  for (unsigned char b : digest) hex += fmt::format("{:02x}", b);
  return hex;
}

}  // namespace

Status ValidateSubjectPrefix(std::string_view prefix, std::string_view field) {
  if (prefix.empty()) return InvalidArgument(fmt::format("{}: must not be empty", field));
  size_t start = 0;
  while (true) {
    size_t dot = prefix.find('.', start);
    std::string_view token =
        prefix.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (token.empty()) {
      return InvalidArgument(fmt::format(
          "{}: \"{}\" has an empty token (no leading, trailing or double dots)", field, prefix));
    }
    for (char c : token) {
      if (!IsPlain(static_cast<unsigned char>(c))) {
        return InvalidArgument(
            fmt::format("{}: \"{}\" may hold only letters, digits, '_', '-' and '.' between tokens",
                        field, prefix));
      }
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return Status::Ok();
}

std::string EncodeToken(std::string_view text) {
  if (text.empty()) return "%E";
  std::string out;
  out.reserve(text.size());
  AppendEncoded(text, &out);
  return out;
}

Result<std::string> DecodeToken(std::string_view token) {
  if (token == "%E") return std::string();
  if (token.empty()) return InvalidArgument("subject token: empty");
  std::string out;
  for (size_t i = 0; i < token.size(); ++i) {
    char c = token[i];
    if (c == '%') {
      if (i + 2 >= token.size()) {
        return InvalidArgument("subject token: '%' without two hex digits");
      }
      int hi = HexValue(token[i + 1]);
      int lo = HexValue(token[i + 2]);
      if (hi < 0 || lo < 0) return InvalidArgument("subject token: '%' without two hex digits");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (IsPlain(static_cast<unsigned char>(c))) {
      out.push_back(c);
    } else {
      return InvalidArgument(fmt::format("subject token: byte 0x{:02x} must be %-encoded",
                                         static_cast<unsigned char>(c)));
    }
  }
  return out;
}

std::string KeyToken(const Change& change) {
  std::vector<const Value*> values = change.KeyValues();
  if (values.empty()) return "%0";
  std::string token;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) token.push_back('~');
    const Value& v = *values[i];
    switch (v.kind) {
      case Value::Kind::kNull:
        token += "%N";
        break;
      case Value::Kind::kUnchanged:
        token += "%U";
        break;
      case Value::Kind::kText:
        if (v.text.empty()) {
          token += "%E";
        } else {
          AppendEncoded(v.text, &token);
        }
        break;
    }
  }
  if (token.size() > kMaxKeyTokenBytes) return "%H" + Sha256Hex(token);
  return token;
}

Result<std::vector<std::optional<std::string>>> DecodeKeyToken(std::string_view token) {
  std::vector<std::optional<std::string>> values;
  if (token == "%0") return values;
  if (token.starts_with("%H")) {
    return InvalidArgument("key token: hashed (the key was too long for a subject)");
  }
  size_t start = 0;
  while (true) {
    size_t sep = token.find('~', start);
    std::string_view part =
        token.substr(start, sep == std::string_view::npos ? std::string_view::npos : sep - start);
    if (part == "%N" || part == "%U") {
      values.emplace_back(std::nullopt);
    } else {
      EDDY_ASSIGN_OR_RETURN(std::string text, DecodeToken(part));
      values.emplace_back(std::move(text));
    }
    if (sep == std::string_view::npos) break;
    start = sep + 1;
  }
  return values;
}

std::string SubjectFor(std::string_view prefix, const Change& change) {
  std::string subject;
  subject.reserve(prefix.size() + 64);
  subject.append(prefix);
  subject.push_back('.');
  subject += EncodeToken(change.table->schema);
  subject.push_back('.');
  subject += EncodeToken(change.table->name);
  subject.push_back('.');
  subject += OpName(change.op);
  if (change.op != Op::kTruncate) {
    subject.push_back('.');
    subject += KeyToken(change);
  }
  return subject;
}

}  // namespace eddy::nats
