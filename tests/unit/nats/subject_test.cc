#include "nats/subject.h"

#include <gtest/gtest.h>

namespace eddy::nats {
namespace {

std::shared_ptr<const Table> SongsTable(bool composite) {
  auto t = std::make_shared<Table>();
  t->relation_id = RelationId(16384);
  t->schema = "public";
  t->name = "songs";
  t->columns.push_back(Column{
      .name = "id", .type_oid = 23, .type_name = "int4", .kind = TypeKind::kInt32, .is_key = true});
  t->columns.push_back(Column{.name = "title",
                              .type_oid = 25,
                              .type_name = "text",
                              .kind = TypeKind::kText,
                              .is_key = composite});
  return t;
}

Change Insert(std::shared_ptr<const Table> table, std::vector<Value> row) {
  Change c;
  c.table = std::move(table);
  c.op = Op::kInsert;
  c.new_row = std::move(row);
  return c;
}

TEST(SubjectTest, PlainKeyIsItsText) {
  Change c = Insert(SongsTable(false), {Value::Text("42"), Value::Text("x")});
  EXPECT_EQ(SubjectFor("eddy", c), "eddy.public.songs.insert.42");
}

TEST(SubjectTest, ForbiddenBytesArePercentEncoded) {
  EXPECT_EQ(EncodeToken("a.b*c>d e\tf%~"), "a%2Eb%2Ac%3Ed%20e%09f%25%7E");
  EXPECT_EQ(EncodeToken(""), "%E");
  EXPECT_EQ(EncodeToken("h\xc3\xa9"), "h%C3%A9");
}

TEST(SubjectTest, TokensRoundTripAnyBytes) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (const std::string& text : {std::string(), std::string("x"), all}) {
    auto back = DecodeToken(EncodeToken(text));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, text);
  }
  EXPECT_FALSE(DecodeToken("a.b").ok());
  EXPECT_FALSE(DecodeToken("%4").ok());
  EXPECT_FALSE(DecodeToken("%zz").ok());
}

TEST(SubjectTest, CompositeKeysJoinWithTildeAndKeepNullApart) {
  auto table = SongsTable(true);
  Change c = Insert(table, {Value::Text("1"), Value::Text("a~b.c")});
  EXPECT_EQ(KeyToken(c), "1~a%7Eb%2Ec");
  auto values = DecodeKeyToken(KeyToken(c));
  ASSERT_TRUE(values.ok());
  ASSERT_EQ(values->size(), 2u);
  EXPECT_EQ((*values)[1], "a~b.c");

  Change with_null = Insert(table, {Value::Text("1"), Value::Null()});
  Change with_empty = Insert(table, {Value::Text("1"), Value::Text("")});
  EXPECT_EQ(KeyToken(with_null), "1~%N");
  EXPECT_EQ(KeyToken(with_empty), "1~%E");
  auto null_values = DecodeKeyToken("1~%N");
  ASSERT_TRUE(null_values.ok());
  EXPECT_FALSE((*null_values)[1].has_value());
}

TEST(SubjectTest, LongKeysAreHashed) {
  Change c = Insert(SongsTable(false), {Value::Text(std::string(1000, 'k')), Value::Text("x")});
  std::string token = KeyToken(c);
  EXPECT_EQ(token.size(), 2u + 64u);
  EXPECT_EQ(token.substr(0, 2), "%H");
  EXPECT_FALSE(DecodeKeyToken(token).ok());
}

TEST(SubjectTest, TruncateHasNoKeyAndNamesAreEncoded) {
  auto t = std::make_shared<Table>(*SongsTable(false));
  t->schema = "My Schema";
  t->name = "we.ird";
  Change c;
  c.table = t;
  c.op = Op::kTruncate;
  EXPECT_EQ(SubjectFor("cdc.prod", c), "cdc.prod.My%20Schema.we%2Eird.truncate");
}

TEST(SubjectTest, PrefixValidationNamesTheField) {
  EXPECT_TRUE(ValidateSubjectPrefix("eddy", "nats.subject_prefix").ok());
  EXPECT_TRUE(ValidateSubjectPrefix("cdc.prod-1", "nats.subject_prefix").ok());
  for (const char* bad : {"", ".eddy", "eddy.", "a..b", "a.*", "a b", "a>"}) {
    Status s = ValidateSubjectPrefix(bad, "nats.subject_prefix");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("nats.subject_prefix"), std::string::npos);
  }
}

}  // namespace
}  // namespace eddy::nats
