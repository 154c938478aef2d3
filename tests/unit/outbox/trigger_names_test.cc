#include "outbox/trigger_names.h"

#include <gtest/gtest.h>

namespace eddy::outbox {
namespace {

TEST(TriggerNamesTest, ShortNamesArePrefixedAndKept) {
  EXPECT_EQ(TriggerName("eddy", Op::kInsert, "songs"), "eddy_insert_songs");
  EXPECT_EQ(TriggerName("eddy", Op::kTruncate, "songs"), "eddy_truncate_songs");
  EXPECT_EQ(TriggerFunctionName(Op::kDelete), "capture_delete");
  EXPECT_EQ(TriggerName("eddy_b", Op::kInsert, "songs"), "eddy_eddy_b_insert_songs");
}

TEST(TriggerNamesTest, LongNamesFitIn63BytesAndStayDistinct) {
  const std::string a(70, 'a');
  const std::string b = std::string(69, 'a') + "b";
  const std::string na = TriggerName("eddy", Op::kUpdate, a);
  const std::string nb = TriggerName("eddy", Op::kUpdate, b);
  EXPECT_EQ(na.size(), 63u);
  EXPECT_EQ(nb.size(), 63u);
  EXPECT_NE(na, nb);
  EXPECT_EQ(na.rfind("eddy_update_aaaa", 0), 0u);
  EXPECT_EQ(na, TriggerName("eddy", Op::kUpdate, a));  // stable
}

TEST(TriggerNamesTest, ExactlySixtyThreeBytesIsUnchanged) {
  const std::string table(63 - std::string("eddy_insert_").size(), 't');
  EXPECT_EQ(TriggerName("eddy", Op::kInsert, table), "eddy_insert_" + table);
}

TEST(TriggerNamesTest, CutNeverSplitsAUtf8Sequence) {
  std::string table;
  for (int i = 0; i < 40; ++i) table += "\xC3\xA9";  // é
  const std::string name = TriggerName("eddy", Op::kInsert, table);
  EXPECT_LE(name.size(), 63u);
  const size_t cut = name.size() - 9;  // before "_xxxxxxxx"
  // The kept part ends on a whole character: no lead byte without its continuation.
  EXPECT_NE(static_cast<unsigned char>(name[cut - 1]), 0xC3);
}

}  // namespace
}  // namespace eddy::outbox
