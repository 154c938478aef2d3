#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "eddy/result.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header.

namespace eddy::auth {

// What a verified token says about its bearer.
struct Claims {
  std::string sub;   // claim "sub" ("" when absent)
  std::string role;  // claim "role"; kDefaultRole when absent
  // Every top-level claim whose value is a string, number or boolean, as text: strings unescaped,
  // numbers exactly as the token's JSON wrote them ("1700000000", "1.5"), booleans "true"/"false".
  // Nulls, objects and arrays are left out.
  std::map<std::string, std::string> values;

  static constexpr std::string_view kDefaultRole = "authenticated";
};

// Verifies JWS compact tokens (RFC 7515/7519) signed with one key and algorithm: HS256 (a shared
// secret) or RS256 (an RSA public key). Only the verifier's own algorithm is accepted: "none" and
// any other "alg" are rejected before the signature is looked at (no algorithm confusion: an RS256
// public key is never used as an HMAC secret). Immutable after creation; Verify() is thread-safe.
class JwtVerifier {
 public:
  // Tokens longer than this are rejected unread.
  static constexpr size_t kMaxTokenBytes = 64 * 1024;
  // Clock skew tolerated on "exp" and "nbf", in seconds.
  static constexpr int64_t kLeewaySeconds = 30;
  // RFC 7518 section 3.2: an HS256 key must be at least as long as the hash output.
  static constexpr size_t kMinSecretBytes = 32;
  static constexpr int kMinRsaBits = 2048;

  // HMAC-SHA256 with `secret` (the raw bytes, not base64). kInvalidArgument when shorter than
  // kMinSecretBytes.
  static Result<std::unique_ptr<JwtVerifier>> Hs256(std::string secret);
  // RSASSA-PKCS1-v1_5 SHA-256 with an RSA public key of at least kMinRsaBits, PEM-encoded as
  // SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----"). kInvalidArgument for anything else.
  static Result<std::unique_ptr<JwtVerifier>> Rs256FromPem(std::string pem);
  // The same, reading the PEM from `path` (kIoError when it cannot be read).
  static Result<std::unique_ptr<JwtVerifier>> Rs256FromPemFile(const std::string& path);

  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // "HS256" or "RS256".
  std::string_view alg() const;

  // Checks `token` at time `now_unix_seconds` and returns its claims. In order: size, shape (three
  // base64url parts), header (a JSON object, "alg" equal to alg(), no "crit"), signature, payload
  // (a JSON object), "exp" (when present: now < exp + leeway) and "nbf" (when present:
  // nbf <= now + leeway). Every failure is kInvalidArgument with a short reason safe to show the
  // client: "malformed token: ...", "token alg ... is not accepted", "bad signature",
  // "token expired", "token not yet valid". Never reads out of bounds on any input.
  Result<Claims> Verify(std::string_view token, int64_t now_unix_seconds) const;

 private:
  enum class Alg { kHs256, kRs256 };
  struct PkeyDeleter {
    void operator()(evp_pkey_st* key) const;
  };

  JwtVerifier(Alg alg, std::string secret, std::unique_ptr<evp_pkey_st, PkeyDeleter> key);
  bool SignatureMatches(std::string_view signing_input, std::string_view signature) const;

  Alg alg_;
  std::string secret_;                             // HS256
  std::unique_ptr<evp_pkey_st, PkeyDeleter> key_;  // RS256
};

}  // namespace eddy::auth
