#include "auth/jwt.h"

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <unistd.h>

#include "auth/base64url.h"

namespace eddy::auth {
namespace {

constexpr int64_t kNow = 1'700'000'000;
const std::string kSecret = "0123456789abcdef0123456789abcdef-secret";

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

std::string RsaSha256(EVP_PKEY* key, std::string_view data) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key), 1);
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                           data.size()),
            1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(data.data()), data.size()),
            1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return sig;
}

std::string SigningInput(std::string_view header, std::string_view payload) {
  return Base64UrlEncode(header) + "." + Base64UrlEncode(payload);
}

std::string Hs256Token(std::string_view payload, std::string_view key = kSecret,
                       std::string_view header = R"({"alg":"HS256","typ":"JWT"})") {
  const std::string input = SigningInput(header, payload);
  return input + "." + Base64UrlEncode(HmacSha256(key, input));
}

std::string PublicPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  EXPECT_EQ(PEM_write_bio_PUBKEY(bio, key), 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

std::string PrivatePem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  EXPECT_EQ(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

std::string WriteTempFile(const std::string& contents) {
  char path[] = "/tmp/eddy_jwt_test_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, contents.data(), contents.size()), static_cast<ssize_t>(contents.size()));
  close(fd);
  return path;
}

void ExpectRejected(const Result<Claims>& result, std::string_view reason_part) {
  ASSERT_FALSE(result.ok()) << "accepted; expected: " << reason_part;
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find(reason_part), std::string::npos)
      << result.status().message();
}

std::unique_ptr<JwtVerifier> MakeHs256() {
  Result<std::unique_ptr<JwtVerifier>> v = JwtVerifier::Hs256(kSecret);
  EXPECT_TRUE(v.ok()) << v.status().ToString();
  return std::move(v).value();
}

class JwtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    rsa_key_ = EVP_RSA_gen(2048);
    ASSERT_NE(rsa_key_, nullptr);
    pem_path_ = WriteTempFile(PublicPem(rsa_key_));
  }
  static void TearDownTestSuite() {
    EVP_PKEY_free(rsa_key_);
    rsa_key_ = nullptr;
    std::remove(pem_path_.c_str());
  }

  static std::string Rs256Token(std::string_view payload,
                                std::string_view header = R"({"alg":"RS256","typ":"JWT"})") {
    const std::string input = SigningInput(header, payload);
    return input + "." + Base64UrlEncode(RsaSha256(rsa_key_, input));
  }
  static std::unique_ptr<JwtVerifier> MakeRs256() {
    Result<std::unique_ptr<JwtVerifier>> v = JwtVerifier::Rs256FromPemFile(pem_path_);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return std::move(v).value();
  }

  static EVP_PKEY* rsa_key_;
  static std::string pem_path_;
};

EVP_PKEY* JwtTest::rsa_key_ = nullptr;
std::string JwtTest::pem_path_;

TEST_F(JwtTest, Hs256ValidTokenYieldsClaims) {
  auto verifier = MakeHs256();
  EXPECT_EQ(verifier->alg(), "HS256");
  const std::string token = Hs256Token(
      R"({"sub":"user-1","role":"editor","exp":1700000100,"n":1.50,"big":-12e2,"b":true,)"
      R"("f":false,"esc":"a\"b\u00e9","nul":null,"obj":{"x":1},"arr":[1,2]})");
  Result<Claims> claims = verifier->Verify(token, kNow);
  ASSERT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ(claims->sub, "user-1");
  EXPECT_EQ(claims->role, "editor");
  const std::map<std::string, std::string> expected = {
      {"sub", "user-1"}, {"role", "editor"}, {"exp", "1700000100"}, {"n", "1.50"},
      {"big", "-12e2"},  {"b", "true"},      {"f", "false"},        {"esc", "a\"b\xc3\xa9"}};
  EXPECT_EQ(claims->values, expected);
}

TEST_F(JwtTest, RoleDefaultsToAuthenticated) {
  auto verifier = MakeHs256();
  Result<Claims> claims = verifier->Verify(Hs256Token(R"({"sub":"u"})"), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ(claims->role, "authenticated");
  EXPECT_EQ(claims->values.count("role"), 0u);
  Result<Claims> empty = verifier->Verify(Hs256Token("{}"), kNow);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->sub, "");
}

TEST_F(JwtTest, Hs256BadSignature) {
  auto verifier = MakeHs256();
  ExpectRejected(verifier->Verify(Hs256Token(R"({"sub":"u"})", kSecret + "x"), kNow),
                 "bad signature");
  // Payload swapped after signing.
  const std::string good = Hs256Token(R"({"sub":"u"})");
  const std::string other = Hs256Token(R"({"sub":"admin"})");
  const std::string forged =
      good.substr(0, good.find('.') + 1) +
      other.substr(other.find('.') + 1, other.rfind('.') - other.find('.') - 1) +
      good.substr(good.rfind('.'));
  ExpectRejected(verifier->Verify(forged, kNow), "bad signature");
  // Truncated and empty signatures.
  ExpectRejected(verifier->Verify(good.substr(0, good.size() - 4), kNow), "bad signature");
  ExpectRejected(verifier->Verify(good.substr(0, good.rfind('.') + 1), kNow), "bad signature");
}

TEST_F(JwtTest, ExpiryWithLeeway) {
  auto verifier = MakeHs256();
  auto at = [&](int64_t exp) {
    return verifier->Verify(Hs256Token(R"({"exp":)" + std::to_string(exp) + "}"), kNow);
  };
  EXPECT_TRUE(at(kNow + 100).ok());
  EXPECT_TRUE(at(kNow - 29).ok());  // within the 30 s leeway
  ExpectRejected(at(kNow - 30), "token expired");
  ExpectRejected(at(kNow - 3600), "token expired");
  ExpectRejected(verifier->Verify(Hs256Token(R"({"exp":"soon"})"), kNow),
                 "malformed token: exp is not a number");
  // Fractional NumericDate.
  EXPECT_TRUE(verifier->Verify(Hs256Token(R"({"exp":1700000000.5})"), kNow).ok());
}

TEST_F(JwtTest, NotBeforeInTheFuture) {
  auto verifier = MakeHs256();
  auto at = [&](int64_t nbf) {
    return verifier->Verify(Hs256Token(R"({"nbf":)" + std::to_string(nbf) + "}"), kNow);
  };
  EXPECT_TRUE(at(kNow - 100).ok());
  EXPECT_TRUE(at(kNow + 30).ok());  // within the leeway
  ExpectRejected(at(kNow + 31), "token not yet valid");
  ExpectRejected(verifier->Verify(Hs256Token(R"({"nbf":null})"), kNow), "nbf is not a number");
}

TEST_F(JwtTest, AlgNoneIsRejected) {
  auto hs = MakeHs256();
  auto rs = MakeRs256();
  for (const char* header : {R"({"alg":"none"})", R"({"alg":"None"})", R"({"alg":"NONE"})"}) {
    const std::string unsigned_token = SigningInput(header, R"({"sub":"admin"})") + ".";
    ExpectRejected(hs->Verify(unsigned_token, kNow), "is not accepted");
    ExpectRejected(rs->Verify(unsigned_token, kNow), "is not accepted");
  }
  ExpectRejected(hs->Verify(SigningInput(R"({"alg":"none"})", "{}") + ".", kNow),
                 "token alg none is not accepted (expected HS256)");
}

TEST_F(JwtTest, AlgMismatchIsRejected) {
  auto hs = MakeHs256();
  auto rs = MakeRs256();
  ExpectRejected(hs->Verify(Rs256Token(R"({"sub":"u"})"), kNow),
                 "token alg RS256 is not accepted (expected HS256)");
  ExpectRejected(rs->Verify(Hs256Token(R"({"sub":"u"})"), kNow),
                 "token alg HS256 is not accepted (expected RS256)");
  // The classic confusion attack: HS256 signed with the RSA public key's PEM as the secret.
  const std::string pem = PublicPem(rsa_key_);
  ExpectRejected(rs->Verify(Hs256Token(R"({"sub":"admin"})", pem), kNow), "is not accepted");
  // Other algorithms and odd alg values.
  ExpectRejected(hs->Verify(Hs256Token("{}", kSecret, R"({"alg":"HS512"})"), kNow),
                 "token alg HS512 is not accepted");
  ExpectRejected(hs->Verify(Hs256Token("{}", kSecret, R"({"alg":"hs256"})"), kNow),
                 "is not accepted");
  ExpectRejected(hs->Verify(Hs256Token("{}", kSecret, R"({"alg":"HS256\n<script>"})"), kNow),
                 "token alg (unrecognized) is not accepted");
  ExpectRejected(hs->Verify(Hs256Token("{}", kSecret, R"({"alg":256})"), kNow),
                 "malformed token: header has no alg");
  ExpectRejected(hs->Verify(Hs256Token("{}", kSecret, R"({"typ":"JWT"})"), kNow),
                 "malformed token: header has no alg");
  ExpectRejected(hs->Verify(Hs256Token("{}", kSecret, R"({"alg":"HS256","alg":"none"})"), kNow),
                 "duplicate");
  ExpectRejected(
      hs->Verify(Hs256Token("{}", kSecret, R"({"alg":"HS256","crit":["exp"],"exp":1})"), kNow),
      "crit");
}

TEST_F(JwtTest, MalformedTokens) {
  auto verifier = MakeHs256();
  const std::string good = Hs256Token(R"({"sub":"u"})");
  ExpectRejected(verifier->Verify("", kNow), "malformed token: empty");
  ExpectRejected(verifier->Verify("abc", kNow), "malformed token: expected three");
  ExpectRejected(verifier->Verify("abc.def", kNow), "malformed token: expected three");
  ExpectRejected(verifier->Verify(good + ".x", kNow), "malformed token: expected three");
  ExpectRejected(verifier->Verify("..", kNow), "malformed token: header is not a JSON object");
  ExpectRejected(verifier->Verify("e$J.e30.sig", kNow), "malformed token: header is not base64url");
  ExpectRejected(verifier->Verify(Base64UrlEncode("{\"alg\":") + ".e30.x", kNow),
                 "malformed token: header is not a JSON object");
  ExpectRejected(verifier->Verify(Base64UrlEncode("[1]") + ".e30.x", kNow),
                 "malformed token: header is not a JSON object");
  ExpectRejected(verifier->Verify(good.substr(0, good.rfind('.')) + ".a+b", kNow),
                 "malformed token: signature is not base64url");
  // Signed, but the payload is not a JSON object.
  for (const char* payload : {"{\"sub\":", "[]", "\"x\"", "{\"a\":1} x", "{\"a\":[1,,2]}",
                              "{\"a\":tru}", "{\"a\":1}{\"b\":2}", "\xff", ""}) {
    ExpectRejected(verifier->Verify(Hs256Token(payload), kNow),
                   "malformed token: payload is not a JSON object");
  }
  // A payload that is not base64url, signed as is.
  const std::string input = Base64UrlEncode(R"({"alg":"HS256"})") + ".e30=";
  ExpectRejected(verifier->Verify(input + "." + Base64UrlEncode(HmacSha256(kSecret, input)), kNow),
                 "malformed token: payload is not base64url");
  ExpectRejected(verifier->Verify(Hs256Token(R"({"sub":"a","sub":"b"})"), kNow), "duplicate");
  // Huge tokens are refused unread.
  const std::string huge =
      Hs256Token(R"({"pad":")" + std::string(JwtVerifier::kMaxTokenBytes, 'x') + R"("})");
  ExpectRejected(verifier->Verify(huge, kNow), "malformed token: longer than 65536 bytes");
  ExpectRejected(verifier->Verify(std::string(10 << 20, 'a'), kNow), "longer than");
}

TEST_F(JwtTest, NeverAcceptsGarbageOrDamagedTokens) {
  auto hs = MakeHs256();
  auto rs = MakeRs256();
  std::mt19937 rng(12345);
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \"{}";
  for (int i = 0; i < 2000; ++i) {
    std::string garbage(rng() % 300, '\0');
    const bool text = i % 2 == 0;
    for (char& c : garbage) {
      c = text ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng() % 256);
    }
    EXPECT_FALSE(hs->Verify(garbage, kNow).ok());
    EXPECT_FALSE(rs->Verify(garbage, kNow).ok());
  }
  const std::pair<std::string, const JwtVerifier*> cases[] = {
      {Hs256Token(R"({"sub":"u","exp":1700000100})"), hs.get()},
      {Rs256Token(R"({"sub":"u"})"), rs.get()}};
  for (const auto& [token, verifier] : cases) {
    const JwtVerifier& v = *verifier;
    ASSERT_TRUE(v.Verify(token, kNow).ok());
    for (size_t len = 0; len < token.size(); ++len) {
      EXPECT_FALSE(v.Verify(token.substr(0, len), kNow).ok()) << len;
    }
    for (size_t pos = 0; pos < token.size(); ++pos) {
      std::string damaged = token;
      damaged[pos] = damaged[pos] == 'A' ? 'B' : 'A';
      EXPECT_FALSE(v.Verify(damaged, kNow).ok()) << pos;
      damaged[pos] = static_cast<char>(token[pos] ^ 0x80);
      EXPECT_FALSE(v.Verify(damaged, kNow).ok()) << pos;
    }
  }
}

TEST_F(JwtTest, Rs256ValidToken) {
  auto verifier = MakeRs256();
  EXPECT_EQ(verifier->alg(), "RS256");
  Result<Claims> claims =
      verifier->Verify(Rs256Token(R"({"sub":"u-9","role":"service","exp":1700000100})"), kNow);
  ASSERT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ(claims->sub, "u-9");
  EXPECT_EQ(claims->role, "service");
  ExpectRejected(verifier->Verify(Rs256Token(R"({"exp":1})"), kNow), "token expired");
  // Signed by another key.
  EVP_PKEY* other = EVP_RSA_gen(2048);
  const std::string input = SigningInput(R"({"alg":"RS256"})", R"({"sub":"u"})");
  ExpectRejected(verifier->Verify(input + "." + Base64UrlEncode(RsaSha256(other, input)), kNow),
                 "bad signature");
  EVP_PKEY_free(other);
}

TEST_F(JwtTest, Rs256KeyLoading) {
  EXPECT_TRUE(JwtVerifier::Rs256FromPem(PublicPem(rsa_key_)).ok());
  Result<std::unique_ptr<JwtVerifier>> missing =
      JwtVerifier::Rs256FromPemFile("/nonexistent/eddy/key.pem");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);

  Result<std::unique_ptr<JwtVerifier>> priv = JwtVerifier::Rs256FromPem(PrivatePem(rsa_key_));
  ASSERT_FALSE(priv.ok());
  EXPECT_NE(priv.status().message().find("private key"), std::string::npos);

  const std::string garbage_path = WriteTempFile("not a key\n");
  Result<std::unique_ptr<JwtVerifier>> garbage = JwtVerifier::Rs256FromPemFile(garbage_path);
  std::remove(garbage_path.c_str());
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(garbage.status().message().find(garbage_path), std::string::npos);

  EVP_PKEY* small = EVP_RSA_gen(1024);
  Result<std::unique_ptr<JwtVerifier>> weak = JwtVerifier::Rs256FromPem(PublicPem(small));
  EVP_PKEY_free(small);
  ASSERT_FALSE(weak.ok());
  EXPECT_NE(weak.status().message().find("1024 bits"), std::string::npos);

  EVP_PKEY* ec = EVP_EC_gen("P-256");
  Result<std::unique_ptr<JwtVerifier>> not_rsa = JwtVerifier::Rs256FromPem(PublicPem(ec));
  EVP_PKEY_free(ec);
  ASSERT_FALSE(not_rsa.ok());
  EXPECT_NE(not_rsa.status().message().find("not an RSA key"), std::string::npos);
}

TEST_F(JwtTest, Hs256RejectsShortSecrets) {
  Result<std::unique_ptr<JwtVerifier>> v = JwtVerifier::Hs256("short");
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(JwtVerifier::Hs256(std::string(32, 'k')).ok());
}

}  // namespace
}  // namespace eddy::auth
