#include "deliver/webhook_signature.h"

#include <gtest/gtest.h>

#include "deliver/http_post.h"
#include "deliver/webhook_options.h"

namespace eddy::deliver {
namespace {

TEST(WebhookSignatureTest, MatchesOpenSslsHmacSha256OfTimestampDotBody) {
  // printf '0.what do ya want for nothing?' | openssl dgst -sha256 -hmac Jefe
  EXPECT_EQ(SignWebhook("Jefe", 0, "what do ya want for nothing?"),
            "t=0,v1=37f471929915ccd2cbbe79feb84ffcff4f2bb25e15fc41c2506687331ae179cc");
  const std::string header = SignWebhook("s3cret-s3cret-s3cret", 1700000000, R"([{"a":1}])");
  EXPECT_EQ(header.rfind("t=1700000000,v1=", 0), 0u);
  EXPECT_EQ(header.size(), 16u + 64u);
}

TEST(WebhookSignatureTest, VerifiesAndRejects) {
  const std::string body = R"([{"op":"insert"}])";
  const std::string header = SignWebhook("secret-0123456789", 1700000000, body);
  EXPECT_TRUE(VerifyWebhookSignature(header, "secret-0123456789", body, 1700000010, 300));
  EXPECT_FALSE(VerifyWebhookSignature(header, "secret-0123456789", body + " ", 1700000010, 300));
  EXPECT_FALSE(VerifyWebhookSignature(header, "other-secret-0000", body, 1700000010, 300));
  EXPECT_FALSE(VerifyWebhookSignature(header, "secret-0123456789", body, 1700009999, 300));
  EXPECT_TRUE(VerifyWebhookSignature(header, "secret-0123456789", body, 1700009999, 0));
  EXPECT_FALSE(VerifyWebhookSignature("v1=abc", "secret-0123456789", body, 0, 0));
  EXPECT_FALSE(VerifyWebhookSignature("t=x,v1=abc", "secret-0123456789", body, 0, 0));
  EXPECT_FALSE(VerifyWebhookSignature("", "secret-0123456789", body, 0, 0));
}

TEST(HttpUrlTest, ParsesHttpUrlsAndNamesTheField) {
  auto u = ParseHttpUrl("http://127.0.0.1:9000/hooks/in?x=1", "webhooks[0].url");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "9000");
  EXPECT_EQ(u->target, "/hooks/in?x=1");
  auto d = ParseHttpUrl("http://example.com", "f");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->port, "80");
  EXPECT_EQ(d->target, "/");
  auto secure = ParseHttpUrl("https://x", "webhooks[0].url");
  ASSERT_TRUE(secure.ok());
  EXPECT_TRUE(secure->tls);
  EXPECT_EQ(secure->port, "443");
  EXPECT_NE(ParseHttpUrl("ftp://x", "webhooks[0].url").status().message().find("webhooks[0].url"),
            std::string::npos);
  EXPECT_FALSE(ParseHttpUrl("http://:80/", "f").ok());
  EXPECT_FALSE(ParseHttpUrl("http://h:99999/", "f").ok());
  EXPECT_FALSE(ParseHttpUrl("http://h:8a/", "f").ok());
}

TEST(WebhookOptionsTest, ValidationNamesTheField) {
  WebhookOptions o;
  o.name = "orders";
  o.url = "http://127.0.0.1:1/";
  o.secret = "0123456789abcdef";
  EXPECT_TRUE(ValidateWebhook(o, "webhooks[0]").ok());
  o.secret = "short";
  EXPECT_NE(ValidateWebhook(o, "webhooks[0]").message().find("webhooks[0].secret"),
            std::string::npos);
  o.secret = "0123456789abcdef";
  o.batch_max = 0;
  EXPECT_NE(ValidateWebhook(o, "webhooks[0]").message().find("batch_max"), std::string::npos);
  o.batch_max = 10;
  o.name = "no spaces";
  EXPECT_NE(ValidateWebhook(o, "webhooks[0]").message().find("webhooks[0].name"),
            std::string::npos);
}

}  // namespace
}  // namespace eddy::deliver
