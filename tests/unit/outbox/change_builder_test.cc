#include "outbox/change_builder.h"

#include <gtest/gtest.h>

namespace eddy::outbox {
namespace {

// id (key), title, doubled (generated, not in the table's columns), note
TableShape Shape(char identity) {
  auto table = std::make_shared<Table>();
  table->schema = "public";
  table->name = "songs";
  table->replica_identity = identity;
  Column id;
  id.name = "id";
  id.is_key = identity != 'n';
  Column title;
  title.name = "title";
  Column note;
  note.name = "note";
  table->columns = {id, title, note};
  return TableShape{table, {false, false, true, false}};
}

Change Build(const TableShape& shape, char op, std::optional<std::string_view> old_text,
             std::optional<std::string_view> new_text) {
  Change c;
  bool mismatch = false;
  Status s = BuildChange(shape, op, old_text, new_text, &c, &mismatch);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_FALSE(mismatch);
  return c;
}

TEST(ChangeBuilderTest, InsertDropsGeneratedColumns) {
  Change c = Build(Shape('d'), 'I', std::nullopt, "(1,hello,2,)");
  EXPECT_EQ(c.op, Op::kInsert);
  EXPECT_EQ(c.new_row, (std::vector<Value>{Value::Text("1"), Value::Text("hello"), Value::Null()}));
  EXPECT_EQ(c.old_kind, OldRow::kNone);
}

TEST(ChangeBuilderTest, UpdateKeepingTheKeyHasNoOldRowUnderDefaultIdentity) {
  Change c = Build(Shape('d'), 'U', "(1,a,2,x)", "(1,b,2,x)");
  EXPECT_EQ(c.old_kind, OldRow::kNone);
  EXPECT_TRUE(c.old_row.empty());
}

TEST(ChangeBuilderTest, UpdateChangingTheKeySendsTheOldKey) {
  Change c = Build(Shape('d'), 'U', "(1,a,2,x)", "(7,a,14,x)");
  EXPECT_EQ(c.old_kind, OldRow::kKey);
  EXPECT_EQ(c.old_row, (std::vector<Value>{Value::Text("1"), Value::Null(), Value::Null()}));
}

TEST(ChangeBuilderTest, FullIdentitySendsTheWholeOldRow) {
  Change u = Build(Shape('f'), 'U', "(1,a,2,x)", "(1,b,2,x)");
  EXPECT_EQ(u.old_kind, OldRow::kFull);
  EXPECT_EQ(u.old_row, (std::vector<Value>{Value::Text("1"), Value::Text("a"), Value::Text("x")}));
  Change d = Build(Shape('f'), 'D', "(1,a,2,x)", std::nullopt);
  EXPECT_EQ(d.old_kind, OldRow::kFull);
}

TEST(ChangeBuilderTest, DeleteSendsTheKeyOrTheWholeRowWithoutAKey) {
  Change d = Build(Shape('d'), 'D', "(1,a,2,x)", std::nullopt);
  EXPECT_EQ(d.old_kind, OldRow::kKey);
  EXPECT_EQ(d.old_row, (std::vector<Value>{Value::Text("1"), Value::Null(), Value::Null()}));
  Change n = Build(Shape('n'), 'D', "(1,a,2,x)", std::nullopt);
  EXPECT_EQ(n.old_kind, OldRow::kFull);
}

TEST(ChangeBuilderTest, TruncateHasNoRows) {
  Change t = Build(Shape('d'), 'T', std::nullopt, std::nullopt);
  EXPECT_EQ(t.op, Op::kTruncate);
  EXPECT_TRUE(t.new_row.empty());
}

TEST(ChangeBuilderTest, RowsOfAnotherWidthArePaddedAndFlagged) {
  Change c;
  bool mismatch = false;
  ASSERT_TRUE(BuildChange(Shape('d'), 'I', std::nullopt, "(1,a)", &c, &mismatch).ok());
  EXPECT_TRUE(mismatch);
  EXPECT_EQ(c.new_row, (std::vector<Value>{Value::Text("1"), Value::Text("a"), Value::Null()}));
}

TEST(ChangeBuilderTest, BadInputIsCorruption) {
  Change c;
  bool mismatch = false;
  EXPECT_EQ(BuildChange(Shape('d'), 'X', std::nullopt, "(1)", &c, &mismatch).code(),
            StatusCode::kCorruption);
  EXPECT_EQ(BuildChange(Shape('d'), 'I', std::nullopt, "not a record", &c, &mismatch).code(),
            StatusCode::kCorruption);
  EXPECT_EQ(BuildChange(Shape('d'), 'I', std::nullopt, std::nullopt, &c, &mismatch).code(),
            StatusCode::kCorruption);
}

}  // namespace
}  // namespace eddy::outbox
