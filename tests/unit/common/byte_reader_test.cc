#include "common/byte_reader.h"

#include <gtest/gtest.h>

namespace eddy {
namespace {

TEST(ByteReaderTest, ReadsBigEndianAndStrings) {
  std::string buf;
  ByteWriter w(&buf);
  w.WriteU8(7);
  w.WriteU16(0x1234);
  w.WriteU32(0xDEADBEEF);
  w.WriteU64(0x0102030405060708);
  w.WriteCString("public");
  ByteReader r(buf);
  EXPECT_EQ(r.ReadU8(), 7);
  EXPECT_EQ(r.ReadU16(), 0x1234);
  EXPECT_EQ(r.ReadU32(), 0xDEADBEEFu);
  EXPECT_EQ(r.ReadU64(), 0x0102030405060708u);
  EXPECT_EQ(r.ReadCString(), "public");
  EXPECT_TRUE(r.AtEnd());
}

TEST(ByteReaderTest, ShortInputFailsWithoutReadingPastTheEnd) {
  std::string buf = "\x01\x02";
  ByteReader r(buf);
  EXPECT_EQ(r.ReadU32(), 0u);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.ReadU8(), 0);
  ByteReader r2(std::string_view("abc", 3));
  EXPECT_EQ(r2.ReadCString(), "");
  EXPECT_FALSE(r2.ok());
}

}  // namespace
}  // namespace eddy
