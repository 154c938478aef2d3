#include "common/crc32c.h"

#include <gtest/gtest.h>

namespace eddy {
namespace {

TEST(Crc32cTest, MatchesKnownVectors) {
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros), 0x8A9136AAu);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::string s = "the quick brown fox jumps over the lazy dog";
  uint32_t part = Crc32cExtend(0, s.data(), 10);
  EXPECT_EQ(Crc32cExtend(part, s.data() + 10, s.size() - 10), Crc32c(s));
}

}  // namespace
}  // namespace eddy
