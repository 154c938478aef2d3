#include "nats/message_codec.h"

#include <cstdlib>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

namespace eddy::nats {
namespace {

Change UpdateWithToastAndNull() {
  auto t = std::make_shared<Table>();
  t->relation_id = RelationId(16400);
  t->schema = "public";
  t->name = "docs";
  t->replica_identity = 'f';
  t->schema_version = 3;
  t->columns.push_back(Column{
      .name = "id", .type_oid = 20, .type_name = "int8", .kind = TypeKind::kInt64, .is_key = true});
  t->columns.push_back(Column{.name = "body", .type_oid = 25, .type_name = "text"});
  t->columns.push_back(Column{.name = "tags",
                              .type_oid = 1009,
                              .type_name = "_text",
                              .kind = TypeKind::kArray,
                              .element_kind = TypeKind::kText});
  Change c;
  c.position = Position{Lsn(0x16B3748), 2};
  c.xid = Xid(770);
  c.commit_time_us = 1'700'000'000'123'456;
  c.op = Op::kUpdate;
  c.table = t;
  c.new_row = {Value::Text("7"), Value::Unchanged(), Value::Null()};
  c.old_row = {Value::Text("7"), Value::Text("old"), Value::Text("{a,b}")};
  c.old_kind = OldRow::kFull;
  return c;
}

TEST(MessageCodecTest, BinaryBodyRebuildsTheExactChange) {
  Change c = UpdateWithToastAndNull();
  std::string body;
  EncodeBody(c, BodyFormat::kBinary, &body);
  auto back = DecodeBinaryBody(body);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->position, c.position);
  EXPECT_EQ(back->xid, c.xid);
  EXPECT_EQ(back->commit_time_us, c.commit_time_us);
  EXPECT_EQ(back->op, c.op);
  EXPECT_EQ(back->new_row, c.new_row);
  EXPECT_EQ(back->old_row, c.old_row);
  EXPECT_EQ(back->old_kind, c.old_kind);
  EXPECT_EQ(back->table->schema_version, 3u);
  EXPECT_EQ(back->table->replica_identity, 'f');
  EXPECT_EQ(back->table->columns, c.table->columns);
}

TEST(MessageCodecTest, MalformedBodiesAreCorruptionNeverACrash) {
  Change c = UpdateWithToastAndNull();
  std::string body;
  EncodeBody(c, BodyFormat::kBinary, &body);
  EXPECT_EQ(DecodeBinaryBody("").status().code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeBinaryBody("{\"json\":1}").status().code(), StatusCode::kCorruption);
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(DecodeBinaryBody(std::string_view(body).substr(0, n)).ok()) << n;
  }
  std::string bad_length = body;
  bad_length[4] = '\x7f';
  EXPECT_EQ(DecodeBinaryBody(bad_length).status().code(), StatusCode::kCorruption);
}

// Seeds tests/fuzz/corpus/nats_body when EDDY_WRITE_FUZZ_SEEDS names that directory.
TEST(MessageCodecTest, WritesFuzzSeedOnRequest) {
  const char* dir = std::getenv("EDDY_WRITE_FUZZ_SEEDS");
  if (dir == nullptr) GTEST_SKIP();
  std::string body;
  EncodeBody(UpdateWithToastAndNull(), BodyFormat::kBinary, &body);
  std::ofstream(std::string(dir) + "/update_toast_null", std::ios::binary) << body;
}

TEST(MessageCodecTest, JsonBodyIsEddysFullChangeJson) {
  std::string body;
  EncodeBody(UpdateWithToastAndNull(), BodyFormat::kJson, &body);
  EXPECT_NE(body.find("\"position\":\"0/16B3748:2\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"unchanged\":[\"body\"]"), std::string::npos) << body;
  EXPECT_NE(body.find("\"tags\":null"), std::string::npos) << body;
}

TEST(MessageCodecTest, HeadersCarryIdPositionAndTransaction) {
  Change c = UpdateWithToastAndNull();
  Commit commit{c.xid, c.position.commit_lsn, Lsn(0x16B3800), c.commit_time_us, 5};
  std::map<std::string, std::string> h;
  for (auto& [name, value] : HeadersFor(c, commit, BodyFormat::kBinary)) h[name] = value;
  EXPECT_EQ(h["Nats-Msg-Id"], "0/16B3748:2");
  EXPECT_EQ(h["Eddy-Position"], "0/16B3748:2");
  EXPECT_EQ(h["Eddy-Commit-Lsn"], "0/16B3748");
  EXPECT_EQ(h["Eddy-End-Lsn"], "0/16B3800");
  EXPECT_EQ(h["Eddy-Xid"], "770");
  EXPECT_EQ(h["Eddy-Tx-Count"], "5");
  EXPECT_EQ(h["Eddy-Schema-Version"], "3");
  EXPECT_EQ(h["Content-Type"], kBinaryContentType);
  EXPECT_EQ(h["Eddy-Commit-Time"].substr(0, 4), "2023");

  auto info = ParseTxInfo([&](const char* name) -> const char* {
    auto it = h.find(name);
    return it == h.end() ? nullptr : it->second.c_str();
  });
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->change_count, 5u);
  EXPECT_EQ(info->end_lsn, Lsn(0x16B3800));
  h["Eddy-Tx-Count"] = "0";
  EXPECT_FALSE(ParseTxInfo([&](const char* name) -> const char* {
                 auto it = h.find(name);
                 return it == h.end() ? nullptr : it->second.c_str();
               }).ok());
}

TEST(MessageCodecTest, BodyFormatNamesTheField) {
  EXPECT_EQ(*ParseBodyFormat("binary"), BodyFormat::kBinary);
  EXPECT_EQ(*ParseBodyFormat("json"), BodyFormat::kJson);
  auto bad = ParseBodyFormat("xml");
  EXPECT_NE(bad.status().message().find("nats.body"), std::string::npos);
}

}  // namespace
}  // namespace eddy::nats
