#include "shape/render.h"

#include <gtest/gtest.h>

#include "common/json_string.h"
#include "unit/shape/shape_test_util.h"

namespace eddy::shape {
namespace {

// public.items (id PRIMARY KEY, title, priority), every column selected.
Layout ItemsLayout() {
  Layout layout;
  layout.schema = "public";
  layout.table = "items";
  layout.column_names = {"id", "title", "priority"};
  layout.selected = {0, 1, 2};
  layout.key = {0};
  return layout;
}

std::shared_ptr<const Table> ItemsTable() {
  auto t = std::make_shared<Table>();
  t->schema = "public";
  t->name = "items";
  t->columns = {{"id", 23, -1, "int4", TypeKind::kInt32, TypeKind::kText, true},
                {"title", 25, -1, "text", TypeKind::kText, TypeKind::kText, false},
                {"priority", 23, -1, "int4", TypeKind::kInt32, TypeKind::kText, false}};
  return t;
}

Value T(const char* text) { return Value::Text(text); }

Change MakeChange(Op op, std::vector<Value> new_row, std::vector<Value> old_row = {},
                  OldRow old_kind = OldRow::kNone) {
  Change c;
  c.op = op;
  c.table = ItemsTable();
  c.new_row = std::move(new_row);
  c.old_row = std::move(old_row);
  c.old_kind = old_kind;
  return c;
}

struct Rendered {
  std::vector<LogMessage> messages;
  std::string Json(size_t i) const { return i < messages.size() ? messages[i].json : "<none>"; }
};

Rendered Render(const Layout& layout, const Change& change, bool last = true,
                bool old_in_shape = true, bool new_in_shape = true) {
  LiveChange live;
  live.change = &change;
  live.old_in_shape = old_in_shape;
  live.new_in_shape = new_in_shape;
  live.lsn = 24748712;
  live.xid = 752;
  live.op_position = 4;
  live.last = last;
  Rendered r;
  RenderLive(layout, live, &r.messages);
  return r;
}

constexpr const char* kLive = R"("lsn":"24748712","op_position":4,"txids":[752])";

std::string Headers(const char* op, const std::string& extra = "") {
  return std::string(R"("headers":{"operation":")") + op + R"(","relation":["public","items"],)" +
         kLive + extra + "}";
}

// --- keys ----------------------------------------------------------------------------------

TEST(RenderKeyTest, QuotesSchemaTableAndEachKeyValue) {
  Layout layout = ItemsLayout();
  std::vector<std::optional<std::string_view>> row = {"6f3c", "x", std::nullopt};
  std::string key;
  AppendKey(layout, row, &key);
  EXPECT_EQ(key, R"("public"."items"/"6f3c")");
}

TEST(RenderKeyTest, CompositeKeysFollowKeyOrderNotTableOrder) {
  Layout layout = ItemsLayout();
  layout.key = {2, 0};
  std::vector<std::optional<std::string_view>> row = {"a", "b", "c"};
  std::string key;
  AppendKey(layout, row, &key);
  EXPECT_EQ(key, R"("public"."items"/"c"/"a")");
}

TEST(RenderKeyTest, DoublesSlashesInValuesAndDotsAndSlashesInNames) {
  Layout layout = ItemsLayout();
  layout.schema = "my.schema";
  layout.table = "a/b\"c";
  layout.key = {0, 1, 2};
  std::vector<std::optional<std::string_view>> row = {"test/test", "", "//"};
  std::string key;
  AppendKey(layout, row, &key);
  EXPECT_EQ(key, R"("my..schema"."a//b"c"/"test//test"/""/"////")");
}

TEST(RenderKeyTest, NullKeyValuesAreAnUnquotedUnderscore) {
  Layout layout = ItemsLayout();
  layout.key = {1, 0, 2};  // a table without a primary key: every column, by name
  std::vector<std::optional<std::string_view>> row = {"1", std::nullopt, "2"};
  std::string key;
  AppendKey(layout, row, &key);
  EXPECT_EQ(key, R"("public"."items"/_/"1"/"2")");
}

// --- snapshot rows -------------------------------------------------------------------------

TEST(RenderSnapshotTest, InsertWithRelationOnly) {
  std::vector<std::optional<std::string_view>> row = {"1", "hello", std::nullopt};
  std::string out;
  AppendSnapshotInsert(ItemsLayout(), row, std::nullopt, &out);
  EXPECT_EQ(out,
            R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1","title":"hello",)"
            R"("priority":null},"headers":{"operation":"insert","relation":["public","items"]}})");
}

TEST(RenderSnapshotTest, SnapshotMarkForSubsets) {
  std::vector<std::optional<std::string_view>> row = {"1", "a", "2"};
  std::string out;
  AppendSnapshotInsert(ItemsLayout(), row, 42, &out);
  EXPECT_EQ(out, R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1","title":"a",)"
                 R"("priority":"2"},"headers":{"operation":"insert","relation":["public","items"],)"
                 R"("snapshot_mark":42}})");
}

TEST(RenderSnapshotTest, OnlySelectedColumnsInValue) {
  Layout layout = ItemsLayout();
  layout.selected = {0, 2};
  std::vector<std::optional<std::string_view>> row = {"1", "secret", "2"};
  std::string out;
  AppendSnapshotInsert(layout, row, std::nullopt, &out);
  EXPECT_EQ(out, R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1","priority":"2"},)"
                 R"("headers":{"operation":"insert","relation":["public","items"]}})");
}

TEST(RenderSnapshotTest, EscapesValuesNamesAndKeys) {
  Layout layout = ItemsLayout();
  layout.schema = "Odd \"Schema\"";
  layout.column_names = {"id", "ti\"tle", "pri\\ority"};
  std::vector<std::optional<std::string_view>> row = {"a\"/\\", "line\nbreak\t\x01",
                                                      "{\"k\": [1]}"};
  std::string out;
  AppendSnapshotInsert(layout, row, std::nullopt, &out);
  EXPECT_EQ(out, R"({"key":"\"Odd \"Schema\"\".\"items\"/\"a\"//\\\"","value":{"id":"a\"/\\",)"
                 R"("ti\"tle":"line\nbreak\t\u0001","pri\\ority":"{\"k\": [1]}"},)"
                 R"("headers":{"operation":"insert","relation":["Odd \"Schema\"","items"]}})");
}

// --- live changes --------------------------------------------------------------------------

TEST(RenderLiveTest, InsertCarriesTheFullRowAndTransactionHeaders) {
  Change c = MakeChange(Op::kInsert, {T("1"), T("hello"), Value::Null()});
  Rendered r = Render(ItemsLayout(), c);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].offset, Offset::At(24748712, 4));
  EXPECT_EQ(r.Json(0), R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1","title":"hello",)"
                       R"("priority":null},)" +
                           Headers("insert", R"(,"last":true)") + "}");
}

TEST(RenderLiveTest, LastIsLeftOutUnlessAsked) {
  Change c = MakeChange(Op::kInsert, {T("1"), T("a"), T("2")});
  Rendered r = Render(ItemsLayout(), c, /*last=*/false);
  EXPECT_EQ(r.Json(0), R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1","title":"a",)"
                       R"("priority":"2"},)" +
                           Headers("insert") + "}");
}

TEST(RenderLiveTest, UpdateWithoutOldRowSendsKeyAndEverySentValue) {
  // Unchanged TOAST (title) with no old row to take it from: left out.
  Change c = MakeChange(Op::kUpdate, {T("1"), Value::Unchanged(), T("3")});
  Rendered r = Render(ItemsLayout(), c);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.Json(0), R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1","priority":"3"},)" +
                           Headers("update", R"(,"last":true)") + "}");
}

TEST(RenderLiveTest, UpdateWithFullOldRowSendsKeyAndChangedColumnsOnly) {
  Change c = MakeChange(Op::kUpdate, {T("1"), Value::Unchanged(), Value::Null()},
                        {T("1"), T("same"), T("3")}, OldRow::kFull);
  Rendered r = Render(ItemsLayout(), c);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.Json(0),
            R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1","priority":null},)" +
                Headers("update", R"(,"last":true)") + "}");
}

TEST(RenderLiveTest, UpdateChangingNoSelectedColumnGivesNothing) {
  Change same =
      MakeChange(Op::kUpdate, {T("1"), T("a"), T("2")}, {T("1"), T("a"), T("2")}, OldRow::kFull);
  EXPECT_TRUE(Render(ItemsLayout(), same).messages.empty());
  Layout projected = ItemsLayout();
  projected.selected = {0, 1};
  Change other =
      MakeChange(Op::kUpdate, {T("1"), T("a"), T("9")}, {T("1"), T("a"), T("2")}, OldRow::kFull);
  EXPECT_TRUE(Render(projected, other).messages.empty());
}

TEST(RenderLiveTest, ReplicaFullUpdateSendsFullRowAndOldValuesOfChangedColumns) {
  Layout layout = ItemsLayout();
  layout.replica_full = true;
  Change c = MakeChange(Op::kUpdate, {T("1"), Value::Unchanged(), T("5")},
                        {T("1"), T("long text"), T("3")}, OldRow::kFull);
  Rendered r = Render(layout, c);
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.Json(0),
            R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1","title":"long text",)"
            R"("priority":"5"},"old_value":{"priority":"3"},)" +
                Headers("update", R"(,"last":true)") + "}");
}

TEST(RenderLiveTest, ReplicaFullUpdateWithoutOldRowHasNoOldValue) {
  Layout layout = ItemsLayout();
  layout.replica_full = true;
  Change c = MakeChange(Op::kUpdate, {T("1"), Value::Unchanged(), T("5")});
  Rendered r = Render(layout, c);
  EXPECT_EQ(r.Json(0), R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1","priority":"5"},)" +
                           Headers("update", R"(,"last":true)") + "}");
}

TEST(RenderLiveTest, KeyChangeIsDeleteThenInsertAtTheNextPosition) {
  // REPLICA IDENTITY DEFAULT: the old row holds the old key only.
  Change c = MakeChange(Op::kUpdate, {T("2"), T("a"), T("7")},
                        {T("1"), Value::Null(), Value::Null()}, OldRow::kKey);
  Rendered r = Render(ItemsLayout(), c);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].offset, Offset::At(24748712, 4));
  EXPECT_EQ(r.messages[1].offset, Offset::At(24748712, 5));
  EXPECT_EQ(r.Json(0), R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1"},)" +
                           Headers("delete", R"(,"key_change_to":"\"public\".\"items\"/\"2\"")") +
                           "}");
  EXPECT_EQ(r.Json(1),
            R"({"key":"\"public\".\"items\"/\"2\"","value":{"id":"2","title":"a","priority":"7"},)"
            R"("headers":{"operation":"insert","relation":["public","items"],)"
            R"("lsn":"24748712","op_position":5,"txids":[752],)"
            R"("key_change_from":"\"public\".\"items\"/\"1\"","last":true}})");
}

TEST(RenderLiveTest, ReplicaFullKeyChangeDeletesWithTheFullOldRow) {
  Layout layout = ItemsLayout();
  layout.replica_full = true;
  Change c = MakeChange(Op::kUpdate, {T("2"), Value::Unchanged(), T("7")}, {T("1"), T("t"), T("6")},
                        OldRow::kFull);
  Rendered r = Render(layout, c, /*last=*/false);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(
      r.Json(0),
      R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1","title":"t","priority":"6"},)" +
          Headers("delete", R"(,"key_change_to":"\"public\".\"items\"/\"2\"")") + "}");
  EXPECT_EQ(r.messages[1].json.find("last"), std::string::npos);
  EXPECT_NE(r.Json(1).find(R"("value":{"id":"2","title":"t","priority":"7"})"), std::string::npos);
}

TEST(RenderLiveTest, DeleteSendsTheKeyOrTheFullOldRow) {
  Change key_only =
      MakeChange(Op::kDelete, {}, {T("1"), Value::Null(), Value::Null()}, OldRow::kKey);
  EXPECT_EQ(Render(ItemsLayout(), key_only).Json(0),
            R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1"},)" +
                Headers("delete", R"(,"last":true)") + "}");
  Change full = MakeChange(Op::kDelete, {}, {T("1"), T("x"), Value::Null()}, OldRow::kFull);
  EXPECT_EQ(Render(ItemsLayout(), full).Json(0),
            R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1"},)" +
                Headers("delete", R"(,"last":true)") + "}");
  Layout layout = ItemsLayout();
  layout.replica_full = true;
  EXPECT_EQ(
      Render(layout, full).Json(0),
      R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1","title":"x","priority":null},)" +
          Headers("delete", R"(,"last":true)") + "}");
  // replica=full, but the old row is key-only: the other columns are not known, so not sent.
  EXPECT_EQ(Render(layout, key_only).Json(0),
            R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1"},)" +
                Headers("delete", R"(,"last":true)") + "}");
}

TEST(RenderLiveTest, UpdatesMovingAcrossTheShapeBecomeInsertOrDelete) {
  Change c = MakeChange(Op::kUpdate, {T("1"), T("new"), T("2")}, {T("1"), T("old"), T("2")},
                        OldRow::kFull);
  Rendered into = Render(ItemsLayout(), c, true, /*old_in_shape=*/false, /*new_in_shape=*/true);
  EXPECT_EQ(
      into.Json(0),
      R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1","title":"new","priority":"2"},)" +
          Headers("insert", R"(,"last":true)") + "}");
  Rendered out_of = Render(ItemsLayout(), c, true, /*old_in_shape=*/true, /*new_in_shape=*/false);
  EXPECT_EQ(out_of.Json(0), R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1"},)" +
                                Headers("delete", R"(,"last":true)") + "}");
  EXPECT_TRUE(Render(ItemsLayout(), c, true, false, false).messages.empty());
  // Moving out without an old row: the key is unchanged, taken from the new row.
  Change no_old = MakeChange(Op::kUpdate, {T("1"), T("new"), T("2")});
  EXPECT_EQ(Render(ItemsLayout(), no_old, true, true, false).Json(0),
            R"({"key":"\"public\".\"items\"/\"1\"","value":{"id":"1"},)" +
                Headers("delete", R"(,"last":true)") + "}");
}

TEST(RenderLiveTest, TruncateRendersNothing) {
  Change c = MakeChange(Op::kTruncate, {});
  EXPECT_TRUE(Render(ItemsLayout(), c).messages.empty());
}

TEST(RenderLiveTest, TableWithoutKeyUsesEveryColumnAndDeletesSendEverything) {
  Layout layout = ItemsLayout();
  layout.key = {0, 2, 1};  // id, priority, title by name
  auto table = std::make_shared<Table>(*ItemsTable());
  for (Column& column : table->columns) column.is_key = false;
  Change del = MakeChange(Op::kDelete, {}, {T("1"), Value::Null(), T("a/b")}, OldRow::kFull);
  del.table = table;
  EXPECT_EQ(Render(layout, del).Json(0), R"({"key":"\"public\".\"items\"/\"1\"/\"a//b\"/_",)"
                                         R"("value":{"id":"1","title":null,"priority":"a/b"},)" +
                                             Headers("delete", R"(,"last":true)") + "}");
  // Any change of a value is a change of the key.
  Change upd = MakeChange(Op::kUpdate, {T("1"), T("t"), T("a/b")},
                          {T("1"), Value::Null(), T("a/b")}, OldRow::kFull);
  upd.table = table;
  Rendered r = Render(layout, upd);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_NE(r.Json(0).find(R"("operation":"delete")"), std::string::npos);
  EXPECT_NE(r.Json(1).find(R"("key":"\"public\".\"items\"/\"1\"/\"a//b\"/\"t\"")"),
            std::string::npos);
}

TEST(RenderLiveTest, KeysAgreeBetweenSnapshotAndLiveRows) {
  Layout layout = ItemsLayout();
  layout.key = {1, 0};
  std::vector<std::optional<std::string_view>> row = {"7", "x/y", "1"};
  std::string snapshot_key;
  AppendKey(layout, row, &snapshot_key);
  Change c = MakeChange(Op::kInsert, {T("7"), T("x/y"), T("1")});
  Rendered r = Render(layout, c);
  std::string json_key;
  AppendJsonString(snapshot_key, &json_key);
  EXPECT_EQ(r.Json(0).rfind("{\"key\":" + json_key + ",", 0), 0u) << r.Json(0);
}

}  // namespace
}  // namespace eddy::shape
