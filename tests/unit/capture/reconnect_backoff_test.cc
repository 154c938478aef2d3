#include "capture/reconnect_backoff.h"

#include <gtest/gtest.h>

namespace eddy::capture {
namespace {

TEST(ReconnectBackoffTest, DoublesUpToTheMaximum) {
  ReconnectBackoff b(100, 500);
  EXPECT_EQ(b.delay_ms(), 100);
  b.Waited();
  EXPECT_EQ(b.delay_ms(), 200);
  b.Waited();
  EXPECT_EQ(b.delay_ms(), 400);
  b.Waited();
  EXPECT_EQ(b.delay_ms(), 500);
  b.Waited();
  EXPECT_EQ(b.delay_ms(), 500);
}

TEST(ReconnectBackoffTest, OnlyAHealthySessionStartsOver) {
  ReconnectBackoff b(100, 5000);
  b.Waited();
  b.Waited();
  b.SessionEnded(ReconnectBackoff::kHealthySessionUs);  // not longer than the threshold
  EXPECT_EQ(b.delay_ms(), 400);
  b.SessionEnded(ReconnectBackoff::kHealthySessionUs + 1);
  EXPECT_EQ(b.delay_ms(), 100);
}

TEST(ReconnectBackoffTest, AMaximumBelowTheMinimumIsTheMinimum) {
  ReconnectBackoff b(300, 100);
  b.Waited();
  EXPECT_EQ(b.delay_ms(), 300);
}

}  // namespace
}  // namespace eddy::capture
