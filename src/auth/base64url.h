#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace eddy::auth {

// base64url without padding (RFC 4648 section 5), as JWS compact serialization uses it.
std::string Base64UrlEncode(std::string_view bytes);

// Strict decoding: only the url-safe alphabet, no '=' padding, no whitespace, a length that is
// not 1 mod 4, and zero unused trailing bits (so every byte string has exactly one encoding).
// std::nullopt when `text` is not such an encoding.
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace eddy::auth
