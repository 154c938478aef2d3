#include "eddy/position.h"

#include <gtest/gtest.h>

namespace eddy {
namespace {

TEST(LsnTest, PrintsAndParsesLikePostgres) {
  Lsn lsn((uint64_t{0x16} << 32) | 0xB374D848);
  EXPECT_EQ(lsn.ToString(), "16/B374D848");
  EXPECT_EQ(Lsn::Parse("16/B374D848"), lsn);
  EXPECT_EQ(Lsn::Parse("0/0"), Lsn(0));
}

TEST(LsnTest, RejectsGarbage) {
  EXPECT_FALSE(Lsn::Parse(""));
  EXPECT_FALSE(Lsn::Parse("16"));
  EXPECT_FALSE(Lsn::Parse("/1"));
  EXPECT_FALSE(Lsn::Parse("1/"));
  EXPECT_FALSE(Lsn::Parse("1/xyz"));
  EXPECT_FALSE(Lsn::Parse("123456789/1"));
}

TEST(PositionTest, RoundTripsAndOrders) {
  Position p{Lsn(0x16B3748), 3};
  EXPECT_EQ(p.ToString(), "0/16B3748:3");
  EXPECT_EQ(Position::Parse("0/16B3748:3"), p);
  EXPECT_LT((Position{Lsn(5), 9}), (Position{Lsn(6), 0}));
  EXPECT_LT((Position{Lsn(5), 1}), (Position{Lsn(5), 2}));
  EXPECT_FALSE(Position::Parse("0/16B3748"));
  EXPECT_FALSE(Position::Parse("0/16B3748:"));
  EXPECT_FALSE(Position::Parse("0/16B3748:x"));
}

}  // namespace
}  // namespace eddy
