#include "deliver/webhook_signature.h"

#include <charconv>
#include <cstdlib>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace eddy::deliver {
namespace {

std::string HmacHex(std::string_view secret, std::string_view message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

std::string SignedPayload(int64_t t, std::string_view body) {
  std::string payload = std::to_string(t);
  payload.push_back('.');
  payload.append(body);
  return payload;
}

}  // namespace

std::string SignWebhook(std::string_view secret, int64_t unix_seconds, std::string_view body) {
  return fmt::format("t={},v1={}", unix_seconds,
                     HmacHex(secret, SignedPayload(unix_seconds, body)));
}

bool VerifyWebhookSignature(std::string_view header, std::string_view secret, std::string_view body,
                            int64_t now_unix_seconds, int64_t max_age_s) {
  std::optional<int64_t> t;
  std::vector<std::string_view> signatures;
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view part = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.rfind("t=", 0) == 0) {
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(part.data() + 2, part.data() + part.size(), v);
      if (ec != std::errc() || ptr != part.data() + part.size()) return false;
      t = v;
    } else if (part.rfind("v1=", 0) == 0) {
      signatures.push_back(part.substr(3));
    }
  }
  if (!t || signatures.empty()) return false;
  if (max_age_s > 0 && std::llabs(now_unix_seconds - *t) > max_age_s) return false;
  const std::string want = HmacHex(secret, SignedPayload(*t, body));
  for (std::string_view got : signatures) {
    if (got.size() == want.size() && CRYPTO_memcmp(got.data(), want.data(), want.size()) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace eddy::deliver
