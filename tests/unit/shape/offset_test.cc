#include "shape/offset.h"

#include <algorithm>
#include <vector>

#include <gtest/gtest.h>

#include "unit/shape/shape_test_util.h"

namespace eddy::shape {
namespace {

TEST(OffsetTest, ParsesEveryWireForm) {
  EXPECT_EQ(Offset::Parse("-1"), Offset::BeforeAll());
  EXPECT_EQ(Offset::Parse("now"), Offset::Now());
  EXPECT_EQ(Offset::Parse("0_0"), Offset::At(0, 0));
  EXPECT_EQ(Offset::Parse("0_inf"), Offset::SnapshotEnd());
  EXPECT_EQ(Offset::Parse("24748712_4"), Offset::At(24748712, 4));
  EXPECT_EQ(Offset::Parse("7_inf"), Offset::At(7, Offset::kInfOp));
  EXPECT_EQ(Offset::Parse("18446744073709551615_0"), Offset::At(UINT64_MAX, 0));
}

TEST(OffsetTest, LeadingZerosParseAndPrintWithout) {
  auto offset = Offset::Parse("00012_003");
  ASSERT_TRUE(offset.has_value());
  EXPECT_EQ(*offset, Offset::At(12, 3));
  EXPECT_EQ(offset->ToString(), "12_3");
}

TEST(OffsetTest, RejectsMalformedText) {
  for (const char* bad : {"",
                          "10",
                          "1_2_3",
                          "1_2 ",
                          " 1_2",
                          "10_32.1",
                          "_1",
                          "1_",
                          "_",
                          "-2",
                          "-1_0",
                          "+1_2",
                          "1_-2",
                          "0x1_2",
                          "1_INF",
                          "1_infinity",
                          "inf_1",
                          "NOW",
                          "now ",
                          "1__2",
                          "18446744073709551616_0",
                          "0_18446744073709551616",
                          "0_18446744073709551615",
                          "99999999999999999999999_1"}) {
    EXPECT_FALSE(Offset::Parse(bad).has_value()) << "\"" << bad << "\"";
  }
  EXPECT_FALSE(Offset::Parse(std::string_view("1_2\0", 4)).has_value());
}

TEST(OffsetTest, PrintsEveryKind) {
  EXPECT_EQ(Offset::BeforeAll().ToString(), "-1");
  EXPECT_EQ(Offset::Now().ToString(), "now");
  EXPECT_EQ(Offset::SnapshotEnd().ToString(), "0_inf");
  EXPECT_EQ(Offset::At(24748712, 4).ToString(), "24748712_4");
  EXPECT_EQ(Offset::At(UINT64_MAX, UINT64_MAX - 1).ToString(),
            "18446744073709551615_18446744073709551614");
}

TEST(OffsetTest, OrdersBeforeAllThenTxThenOpWithInfLast) {
  std::vector<Offset> sorted = {
      Offset::BeforeAll(),     Offset::At(0, 0),        Offset::At(0, 1),
      Offset::At(0, 1000),     Offset::SnapshotEnd(),   Offset::At(1, 0),
      Offset::At(24748712, 4), Offset::At(24748712, 5), Offset::At(24748712, Offset::kInfOp),
      Offset::At(24748713, 0)};
  for (size_t i = 0; i < sorted.size(); ++i) {
    for (size_t j = 0; j < sorted.size(); ++j) {
      EXPECT_EQ(sorted[i] < sorted[j], i < j)
          << sorted[i].ToString() << " vs " << sorted[j].ToString();
      EXPECT_EQ(sorted[i] == sorted[j], i == j);
    }
  }
  std::vector<Offset> shuffled(sorted.rbegin(), sorted.rend());
  std::sort(shuffled.begin(), shuffled.end());
  EXPECT_EQ(shuffled, sorted);
}

TEST(OffsetTest, PrintedOffsetsParseBack) {
  for (Offset offset : {Offset::BeforeAll(), Offset::Now(), Offset::SnapshotEnd(), Offset::At(0, 0),
                        Offset::At(5, 7), Offset::At(UINT64_MAX, 0)}) {
    EXPECT_EQ(Offset::Parse(offset.ToString()), offset) << offset.ToString();
  }
}

}  // namespace
}  // namespace eddy::shape
