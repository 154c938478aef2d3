#include "server/consumer_admin.h"

#include <cstdio>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "auth/base64url.h"

namespace eddy::server {
namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef-secret";

std::string Hs256Token(std::string_view payload) {
  const std::string input = auth::Base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})") + "." +
                            auth::Base64UrlEncode(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." +
         auth::Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

// The body, "\n", then the status code.
std::string Curl(int port, const std::string& method, const std::string& path,
                 const std::string& token = "") {
  std::string command =
      fmt::format("curl -s -X {} -w '\\n%{{http_code}}' {} 'http://127.0.0.1:{}{}'", method,
                  token.empty() ? "" : "-H 'Authorization: Bearer " + token + "'", port, path);
  std::string out;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
    ::pclose(pipe);
  }
  return out;
}

class ConsumerAdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = http::Server::Create(http::ServerOptions{});
    auto verifier = auth::JwtVerifier::Hs256(kSecret);
    ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
    RegisterConsumerAdmin(*server_, consumers_, std::move(verifier).value());
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override { server_->Stop(); }

  deliver::ExecConsumers consumers_{{}, "/nonexistent"};
  std::unique_ptr<http::Server> server_;
};

TEST_F(ConsumerAdminTest, JwtModeNeedsATokenWithTheAdminRole) {
  const int port = server_->port();
  std::string none = Curl(port, "GET", "/v1/consumers");
  EXPECT_EQ(none.substr(none.size() - 3), "401") << none;
  EXPECT_NE(none.find("\"field\":\"token\""), std::string::npos) << none;
  std::string forged = Curl(port, "GET", "/v1/consumers", "a.b.c");
  EXPECT_EQ(forged.substr(forged.size() - 3), "401") << forged;
  std::string user = Curl(port, "GET", "/v1/consumers", Hs256Token(R"({"role":"reader"})"));
  EXPECT_EQ(user.substr(user.size() - 3), "403") << user;
  EXPECT_NE(user.find("\"field\":\"role\""), std::string::npos) << user;
  std::string default_role =
      Curl(port, "POST", "/v1/consumers/x/parked/replay", Hs256Token(R"({"sub":"u"})"));
  EXPECT_EQ(default_role.substr(default_role.size() - 3), "403") << default_role;
  const std::string admin = Hs256Token(R"({"role":"admin"})");
  EXPECT_EQ(Curl(port, "GET", "/v1/consumers", admin), "{\"consumers\":[]}\n200");
  std::string unknown = Curl(port, "POST", "/v1/consumers/x/parked/1/discard", admin);
  EXPECT_EQ(unknown.substr(unknown.size() - 3), "404") << unknown;
  EXPECT_NE(unknown.find("\"field\":\"name\""), std::string::npos) << unknown;
  std::string shape = Curl(port, "GET", "/v1/consumers/x/other", admin);
  EXPECT_EQ(shape.substr(shape.size() - 3), "404") << shape;
  std::string method = Curl(port, "DELETE", "/v1/consumers/x/parked", admin);
  EXPECT_EQ(method.substr(method.size() - 3), "405") << method;
}

}  // namespace
}  // namespace eddy::server
