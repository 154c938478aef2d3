#include <cmath>

#include <gtest/gtest.h>

#include "eddy/consumer.h"

namespace eddy {
namespace {

Field F(TypeKind kind, std::string text, TypeKind element = TypeKind::kText) {
  return Field("c", kind, element, Value::Text(std::move(text)));
}

TEST(FieldTest, ReadsIntegersBoolsAndFloats) {
  EXPECT_EQ(*F(TypeKind::kInt32, "42").AsInt64(), 42);
  EXPECT_EQ(*F(TypeKind::kInt64, "-9223372036854775808").AsInt64(), INT64_MIN);
  EXPECT_EQ(*F(TypeKind::kInt16, "-7").AsDouble(), -7.0);
  EXPECT_TRUE(*F(TypeKind::kBool, "t").AsBool());
  EXPECT_FALSE(*F(TypeKind::kBool, "f").AsBool());
  EXPECT_DOUBLE_EQ(*F(TypeKind::kFloat64, "1.5e+100").AsDouble(), 1.5e100);
  EXPECT_TRUE(std::isnan(*F(TypeKind::kFloat32, "NaN").AsDouble()));
  EXPECT_TRUE(std::isinf(*F(TypeKind::kFloat64, "-Infinity").AsDouble()));
}

TEST(FieldTest, RejectsTheWrongTypeNamingTheColumn) {
  Result<int64_t> r = F(TypeKind::kText, "42").AsInt64();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("column c"), std::string::npos);
  EXPECT_FALSE(F(TypeKind::kInt32, "12x").AsInt64().ok());
  EXPECT_FALSE(F(TypeKind::kInt64, "99999999999999999999").AsInt64().ok());
  EXPECT_FALSE(F(TypeKind::kBool, "maybe").AsBool().ok());
}

TEST(FieldTest, NumericIsExactTextAndIntegerWhenWhole) {
  EXPECT_EQ(*F(TypeKind::kNumeric, "10.50").AsNumeric(), "10.50");
  EXPECT_EQ(*F(TypeKind::kNumeric, "123456789012345678901234567890.1").AsNumeric(),
            "123456789012345678901234567890.1");
  EXPECT_EQ(*F(TypeKind::kNumeric, "12").AsInt64(), 12);
  EXPECT_FALSE(F(TypeKind::kNumeric, "12.5").AsInt64().ok());
  EXPECT_DOUBLE_EQ(*F(TypeKind::kNumeric, "12.5").AsDouble(), 12.5);
}

TEST(FieldTest, JsonIsRawText) {
  EXPECT_EQ(*F(TypeKind::kJson, R"({"a": [1, 2]})").AsJson(), R"({"a": [1, 2]})");
  EXPECT_FALSE(F(TypeKind::kText, "{}").AsJson().ok());
}

TEST(FieldTest, TimestampsAreMicrosecondsSinceTheEpoch) {
  EXPECT_EQ(*F(TypeKind::kTimestampTz, "1970-01-01 00:00:00+00").AsUnixMicros(), 0);
  EXPECT_EQ(*F(TypeKind::kTimestampTz, "2024-01-02 03:04:05.123456+00").AsUnixMicros(),
            1704164645123456);
  EXPECT_EQ(*F(TypeKind::kTimestampTz, "2024-01-02 08:34:05.5+05:30").AsUnixMicros(),
            1704164645500000);
  EXPECT_EQ(*F(TypeKind::kTimestamp, "2024-01-02 03:04:05").AsUnixMicros(), 1704164645000000);
  EXPECT_EQ(*F(TypeKind::kDate, "2024-01-02").AsUnixMicros(), 1704153600000000);
  EXPECT_EQ(*F(TypeKind::kTimestampTz, "1969-12-31 23:59:59+00").AsUnixMicros(), -1000000);
  EXPECT_FALSE(F(TypeKind::kTimestampTz, "infinity").AsUnixMicros().ok());
  EXPECT_FALSE(F(TypeKind::kTimestampTz, "0044-03-15 12:00:00+00 BC").AsUnixMicros().ok());
  EXPECT_FALSE(F(TypeKind::kText, "2024-01-02").AsUnixMicros().ok());
}

TEST(FieldTest, ArraysSplitIntoTypedElements) {
  Result<std::vector<Field>> a = F(TypeKind::kArray, "{1,NULL,3}", TypeKind::kInt32).AsArray();
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->size(), 3u);
  EXPECT_EQ(*(*a)[0].AsInt64(), 1);
  EXPECT_TRUE((*a)[1].IsNull());
  EXPECT_EQ(*(*a)[2].AsInt64(), 3);
  auto s = F(TypeKind::kArray, R"({"a,b","NULL","q\"x",plain})").AsArray();
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 4u);
  EXPECT_EQ(*(*s)[0].AsString(), "a,b");
  EXPECT_EQ(*(*s)[1].AsString(), "NULL");
  EXPECT_EQ(*(*s)[2].AsString(), "q\"x");
  EXPECT_EQ(*(*s)[3].AsString(), "plain");
  auto nested = F(TypeKind::kArray, "{{1,2},{3,4}}", TypeKind::kInt32).AsArray();
  ASSERT_TRUE(nested.ok());
  ASSERT_EQ(nested->size(), 2u);
  auto inner = (*nested)[1].AsArray();
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(*(*inner)[1].AsInt64(), 4);
  EXPECT_TRUE(F(TypeKind::kArray, "{}").AsArray()->empty());
  EXPECT_EQ(F(TypeKind::kArray, "[0:1]={7,8}", TypeKind::kInt32).AsArray()->size(), 2u);
  EXPECT_FALSE(F(TypeKind::kArray, "{1,2").AsArray().ok());
  EXPECT_FALSE(F(TypeKind::kArray, "{\"open}").AsArray().ok());
}

TEST(FieldTest, NullUnchangedAndMissingAreDistinct) {
  Field null("n", TypeKind::kInt32, TypeKind::kText, Value::Null());
  EXPECT_TRUE(null.IsNull());
  EXPECT_EQ(null.AsInt64().status().code(), StatusCode::kNotFound);
  EXPECT_EQ(null.ToJson(), "null");
  Field unchanged("u", TypeKind::kText, TypeKind::kText, Value::Unchanged());
  EXPECT_TRUE(unchanged.IsUnchanged());
  EXPECT_FALSE(unchanged.IsNull());
  EXPECT_EQ(unchanged.AsString().status().code(), StatusCode::kFailedPrecondition);
  Field missing = Field::Missing("m");
  EXPECT_FALSE(missing.exists());
  EXPECT_NE(missing.AsString().status().message().find("column m"), std::string::npos);
}

TEST(RowTest, ReadsColumnsByNameAndOldKeyRowsCarryOnlyTheKey) {
  auto table = std::make_shared<Table>();
  table->schema = "public";
  table->name = "t";
  table->columns = {{"id", 23, -1, "int4", TypeKind::kInt32, TypeKind::kText, true},
                    {"title", 25, -1, "text", TypeKind::kText, TypeKind::kText, false}};
  Change c;
  c.op = Op::kUpdate;
  c.table = table;
  c.new_row = {Value::Text("7"), Value::Text("new")};
  c.old_row = {Value::Text("7"), Value::Null()};
  c.old_kind = OldRow::kKey;
  Row new_row(&c, &c.new_row);
  Row old_row(&c, &c.old_row);
  EXPECT_EQ(*new_row["id"].AsInt64(), 7);
  EXPECT_EQ(*new_row["title"].AsString(), "new");
  EXPECT_EQ(new_row["title"].ToJson(), "\"new\"");
  EXPECT_FALSE(new_row["nope"].exists());
  EXPECT_EQ(*old_row["id"].AsInt64(), 7);
  EXPECT_FALSE(old_row["title"].exists());  // not sent, not NULL
  EXPECT_EQ(new_row.table().name, "t");
}

}  // namespace
}  // namespace eddy
