#include "auth/base64url.h"

#include <string>

#include <gtest/gtest.h>

namespace eddy::auth {
namespace {

TEST(Base64UrlTest, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 64; ++i) {
    const std::string encoded = Base64UrlEncode(bytes);
    EXPECT_EQ(encoded.find_first_of("+/="), std::string::npos);
    const std::optional<std::string> decoded = Base64UrlDecode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(*decoded, bytes);
    bytes.push_back(static_cast<char>(i * 37 + 200));
  }
}

TEST(Base64UrlTest, KnownVectors) {
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Base64UrlDecode("-_8"), std::string("\xfb\xff"));
  EXPECT_EQ(Base64UrlDecode(""), std::string());
}

TEST(Base64UrlTest, RejectsNonCanonicalInput) {
  EXPECT_FALSE(Base64UrlDecode("Zg==").has_value());  // padding
  EXPECT_FALSE(Base64UrlDecode("Z").has_value());     // length 1 mod 4
  EXPECT_FALSE(Base64UrlDecode("Zh").has_value());    // non-zero trailing bits
  EXPECT_FALSE(Base64UrlDecode("+/8").has_value());   // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("Zm 9v").has_value());
  EXPECT_FALSE(Base64UrlDecode(std::string("Zm\0v", 4)).has_value());
}

}  // namespace
}  // namespace eddy::auth
