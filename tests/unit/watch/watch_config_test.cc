#include "adapters/watch/watch_config.h"

#include <gtest/gtest.h>

namespace eddy::watch {
namespace {

WatcherDef Watcher(std::string table, std::vector<Op> ops, std::string label = "") {
  WatcherDef w;
  w.table = std::move(table);
  w.ops = std::move(ops);
  w.label = std::move(label);
  return w;
}

TEST(WatchConfigTest, NamesAreTheLabelOrSchemaTableOp) {
  EXPECT_EQ(Watcher("songs", {Op::kInsert, Op::kDelete}).Names(),
            (std::vector<std::string>{"public.songs.insert", "public.songs.delete"}));
  EXPECT_EQ(Watcher("songs", {Op::kInsert}, "s").Names(), (std::vector<std::string>{"s"}));
}

TEST(WatchConfigTest, TwoWatchersOnOneTableAndOpNeedDistinctLabels) {
  WatchConfig c;
  c.watchers = {Watcher("songs", {Op::kInsert}), Watcher("songs", {Op::kInsert, Op::kUpdate})};
  Status s = ValidateWatchers(c);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("distinct label"), std::string::npos) << s.message();
  c.watchers = {Watcher("songs", {Op::kInsert}, "a"), Watcher("songs", {Op::kInsert}, "b")};
  EXPECT_TRUE(ValidateWatchers(c).ok());
  c.watchers = {Watcher("songs", {Op::kInsert}, "a"), Watcher("albums", {Op::kInsert}, "a")};
  EXPECT_NE(ValidateWatchers(c).message().find("already used"), std::string::npos);
  c.watchers = {Watcher("songs", {})};
  EXPECT_NE(ValidateWatchers(c).message().find(".ops"), std::string::npos);
}

TEST(WatchConfigTest, ParsesOpsAndTableNamesOrNamesTheField) {
  EXPECT_EQ(*ParseOp("update", "op"), Op::kUpdate);
  EXPECT_NE(ParseOp("explode", "op").status().message().find("op: \"explode\""), std::string::npos);
  auto t = ParseTableName("media.songs", "table");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->first, "media");
  EXPECT_EQ(t->second, "songs");
  EXPECT_EQ(ParseTableName("songs", "table")->first, "public");
  for (const char* bad : {"", ".songs", "media.", "a.b.c"}) {
    EXPECT_FALSE(ParseTableName(bad, "table").ok()) << bad;
  }
}

}  // namespace
}  // namespace eddy::watch
