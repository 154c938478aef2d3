#include "auth/jwt.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <utility>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <simdjson.h>

#include "auth/base64url.h"

namespace eddy::auth {
namespace {

constexpr size_t kHs256MacBytes = 32;
constexpr size_t kMaxPemBytes = 1 << 20;

// One top-level member of a JSON object, as far as claims need it.
struct JsonMember {
  enum class Kind { kString, kNumber, kBool, kNull, kOther };
  std::string key;
  Kind kind = Kind::kOther;
  std::string text;     // string: unescaped; number: the JSON text; bool: "true"/"false"
  double number = 0.0;  // number
};

Status Malformed(std::string_view what) {
  return InvalidArgument("malformed token: " + std::string(what));
}

// Parses `json` as a JSON object and returns its members in order. The whole document is
// validated first (simdjson DOM: grammar, UTF-8, no trailing content); the members are then read
// with the On-Demand API, which alone can give the exact text of a number. Duplicate keys are
// rejected: two parsers could otherwise disagree about what a token says.
Result<std::vector<JsonMember>> ParseFlatObject(std::string_view json, std::string_view part) {
  const std::string not_object = std::string(part) + " is not a JSON object";
  const simdjson::padded_string padded(json);
  simdjson::dom::parser dom_parser;
  simdjson::dom::element root;
  if (dom_parser.parse(padded).get(root) != simdjson::SUCCESS || !root.is_object()) {
    return Malformed(not_object);
  }

  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  simdjson::ondemand::object object;
  if (parser.iterate(padded).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(object) != simdjson::SUCCESS) {
    return Malformed(not_object);
  }
  std::vector<JsonMember> members;
  std::set<std::string, std::less<>> seen;
  for (auto field_result : object) {
    simdjson::ondemand::field field;
    std::string_view key;
    if (std::move(field_result).get(field) != simdjson::SUCCESS ||
        field.unescaped_key().get(key) != simdjson::SUCCESS) {
      return Malformed(not_object);
    }
    JsonMember member;
    member.key = std::string(key);
    if (!seen.insert(member.key).second) {
      return Malformed(std::string(part) + " has a duplicate member");
    }
    simdjson::ondemand::value value = field.value();
    simdjson::ondemand::json_type type;
    if (value.type().get(type) != simdjson::SUCCESS) return Malformed(not_object);
    switch (type) {
      case simdjson::ondemand::json_type::string: {
        std::string_view s;
        if (value.get_string().get(s) != simdjson::SUCCESS) return Malformed(not_object);
        member.kind = JsonMember::Kind::kString;
        member.text = std::string(s);
        break;
      }
      case simdjson::ondemand::json_type::number: {
        std::string_view raw = value.raw_json_token();
        while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\n' ||
                                raw.back() == '\r')) {
          raw.remove_suffix(1);
        }
        double number = 0.0;
        if (value.get_double().get(number) != simdjson::SUCCESS) return Malformed(not_object);
        member.kind = JsonMember::Kind::kNumber;
        member.text = std::string(raw);
        member.number = number;
        break;
      }
      case simdjson::ondemand::json_type::boolean: {
        bool b = false;
        if (value.get_bool().get(b) != simdjson::SUCCESS) return Malformed(not_object);
        member.kind = JsonMember::Kind::kBool;
        member.text = b ? "true" : "false";
        break;
      }
      case simdjson::ondemand::json_type::null:
        member.kind = JsonMember::Kind::kNull;
        break;
      default:
        member.kind = JsonMember::Kind::kOther;
        break;
    }
    members.push_back(std::move(member));
  }
  return members;
}

const JsonMember* FindMember(const std::vector<JsonMember>& members, std::string_view key) {
  for (const JsonMember& m : members) {
    if (m.key == key) return &m;
  }
  return nullptr;
}

// `alg` as it may appear in an error message: only short alphanumeric names are echoed.
std::string PrintableAlg(std::string_view alg) {
  if (alg.empty() || alg.size() > 16) return "(unrecognized)";
  for (const char c : alg) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum) return "(unrecognized)";
  }
  return std::string(alg);
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};

}  // namespace

void JwtVerifier::PkeyDeleter::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

JwtVerifier::JwtVerifier(Alg alg, std::string secret, std::unique_ptr<evp_pkey_st, PkeyDeleter> key)
    : alg_(alg), secret_(std::move(secret)), key_(std::move(key)) {}

JwtVerifier::~JwtVerifier() {
  if (!secret_.empty()) OPENSSL_cleanse(secret_.data(), secret_.size());
}

Result<std::unique_ptr<JwtVerifier>> JwtVerifier::Hs256(std::string secret) {
  if (secret.size() < kMinSecretBytes) {
    const size_t size = secret.size();
    OPENSSL_cleanse(secret.data(), secret.size());
    return InvalidArgument("the HS256 secret is " + std::to_string(size) +
                           " bytes; it must be at least " + std::to_string(kMinSecretBytes));
  }
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(Alg::kHs256, std::move(secret), nullptr));
}

Result<std::unique_ptr<JwtVerifier>> JwtVerifier::Rs256FromPem(std::string pem) {
  if (pem.size() > kMaxPemBytes) return InvalidArgument("the RS256 public key PEM is too large");
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return Internal("BIO_new_mem_buf failed");
  std::unique_ptr<evp_pkey_st, PkeyDeleter> key(
      PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  if (!key) {
    if (pem.find("PRIVATE KEY") != std::string::npos) {
      return InvalidArgument(
          "the RS256 key is a private key; give eddy the public key (openssl pkey -pubout)");
    }
    return InvalidArgument("the RS256 key is not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  }
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) {
    return InvalidArgument("the RS256 key is not an RSA key");
  }
  const int bits = EVP_PKEY_get_bits(key.get());
  if (bits < kMinRsaBits) {
    return InvalidArgument("the RS256 key has " + std::to_string(bits) +
                           " bits; it must have at least " + std::to_string(kMinRsaBits));
  }
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(Alg::kRs256, {}, std::move(key)));
}

Result<std::unique_ptr<JwtVerifier>> JwtVerifier::Rs256FromPemFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return IoError("cannot open JWT public key " + path + ": " + std::strerror(errno));
  }
  std::string pem;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), file)) > 0) {
    pem.append(buf, n);
    if (pem.size() > kMaxPemBytes) break;
  }
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) return IoError("cannot read JWT public key " + path);
  Result<std::unique_ptr<JwtVerifier>> verifier = Rs256FromPem(std::move(pem));
  if (!verifier.ok()) return verifier.status().WithContext(path);
  return verifier;
}

std::string_view JwtVerifier::alg() const { return alg_ == Alg::kHs256 ? "HS256" : "RS256"; }

bool JwtVerifier::SignatureMatches(std::string_view signing_input,
                                   std::string_view signature) const {
  const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
  const auto* sig = reinterpret_cast<const unsigned char*>(signature.data());
  if (alg_ == Alg::kHs256) {
    if (signature.size() != kHs256MacBytes) return false;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()), data,
             signing_input.size(), mac, &mac_len) == nullptr ||
        mac_len != kHs256MacBytes) {
      ERR_clear_error();
      return false;
    }
    return CRYPTO_memcmp(mac, sig, kHs256MacBytes) == 0;
  }
  if (signature.size() != static_cast<size_t>(EVP_PKEY_get_size(key_.get()))) return false;
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  const bool ok =
      ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
      EVP_DigestVerify(ctx.get(), sig, signature.size(), data, signing_input.size()) == 1;
  ERR_clear_error();
  return ok;
}

Result<Claims> JwtVerifier::Verify(std::string_view token, int64_t now_unix_seconds) const {
  if (token.empty()) return Malformed("empty");
  if (token.size() > kMaxTokenBytes) {
    return Malformed("longer than " + std::to_string(kMaxTokenBytes) + " bytes");
  }
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Malformed("expected three dot-separated parts");
  }
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = token.substr(dot2 + 1);

  // Header: the algorithm must be this verifier's own, before any key is used.
  const std::optional<std::string> header_json = Base64UrlDecode(header_b64);
  if (!header_json) return Malformed("header is not base64url");
  EDDY_ASSIGN_OR_RETURN(const std::vector<JsonMember> header,
                        ParseFlatObject(*header_json, "header"));
  const JsonMember* alg = FindMember(header, "alg");
  if (alg == nullptr || alg->kind != JsonMember::Kind::kString) {
    return Malformed("header has no alg");
  }
  if (alg->text != this->alg()) {
    return InvalidArgument("token alg " + PrintableAlg(alg->text) + " is not accepted (expected " +
                           std::string(this->alg()) + ")");
  }
  if (FindMember(header, "crit") != nullptr) return Malformed("crit header is not supported");

  // Signature over "<header>.<payload>" exactly as sent.
  const std::optional<std::string> signature = Base64UrlDecode(signature_b64);
  if (!signature) return Malformed("signature is not base64url");
  if (!SignatureMatches(token.substr(0, dot2), *signature)) return InvalidArgument("bad signature");

  // Payload: claims and time checks.
  const std::optional<std::string> payload_json = Base64UrlDecode(payload_b64);
  if (!payload_json) return Malformed("payload is not base64url");
  EDDY_ASSIGN_OR_RETURN(const std::vector<JsonMember> payload,
                        ParseFlatObject(*payload_json, "payload"));
  const double now = static_cast<double>(now_unix_seconds);
  const double leeway = static_cast<double>(kLeewaySeconds);
  if (const JsonMember* exp = FindMember(payload, "exp")) {
    if (exp->kind != JsonMember::Kind::kNumber) return Malformed("exp is not a number");
    if (!(now < exp->number + leeway)) return InvalidArgument("token expired");
  }
  if (const JsonMember* nbf = FindMember(payload, "nbf")) {
    if (nbf->kind != JsonMember::Kind::kNumber) return Malformed("nbf is not a number");
    if (!(nbf->number <= now + leeway)) return InvalidArgument("token not yet valid");
  }

  Claims claims;
  claims.role = std::string(Claims::kDefaultRole);
  for (const JsonMember& m : payload) {
    if (m.kind != JsonMember::Kind::kString && m.kind != JsonMember::Kind::kNumber &&
        m.kind != JsonMember::Kind::kBool) {
      continue;
    }
    if (m.key == "sub") claims.sub = m.text;
    if (m.key == "role") claims.role = m.text;
    claims.values[m.key] = m.text;
  }
  return claims;
}

}  // namespace eddy::auth
