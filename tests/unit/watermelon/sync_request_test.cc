#include "adapters/watermelon/sync_request.h"

#include <gtest/gtest.h>

#include "adapters/watermelon/watermelon_config.h"

namespace eddy::watermelon {
namespace {

TEST(SyncRequestTest, EveryFormOfFirstSyncIsNull) {
  for (const char* first : {"null", "", "0", "undefined"}) {
    auto v = ParseLastPulledAt(std::string_view(first), "last_pulled_at");
    ASSERT_TRUE(v.ok()) << first;
    EXPECT_FALSE(v->has_value()) << first;
  }
  EXPECT_FALSE(ParseLastPulledAt(std::nullopt, "x")->has_value());
  EXPECT_EQ(**ParseLastPulledAt("5.5", "x"), 5);
  EXPECT_EQ(**ParseLastPulledAt("9007199254740991", "x"), 9007199254740991);
  auto bad = ParseLastPulledAt("-3", "last_pulled_at");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("last_pulled_at"), std::string::npos);
  EXPECT_FALSE(ParseLastPulledAt("9007199254740993000", "x").ok());
  EXPECT_FALSE(ParseLastPulledAt("1e400", "x").ok());
}

TEST(SyncRequestTest, MigrationParameter) {
  auto m = ParseMigration(std::string_view(
      R"({"from":1,"tables":["projects"],"columns":[{"table":"tasks","columns":["estimate"]}]})"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->has_value());
  EXPECT_EQ((*m)->from, 1);
  EXPECT_EQ((*m)->tables, std::vector<std::string>{"projects"});
  ASSERT_EQ((*m)->columns.size(), 1u);
  EXPECT_EQ((*m)->columns[0].columns, std::vector<std::string>{"estimate"});
  EXPECT_FALSE(ParseMigration(std::string_view("null"))->has_value());
  EXPECT_FALSE(ParseMigration(std::nullopt)->has_value());
  auto bad = ParseMigration(std::string_view(R"({"columns":[{"table":1}]})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("migration.columns[0].table"), std::string::npos);
  EXPECT_FALSE(ParseMigration(std::string_view("{")).ok());
}

TEST(SyncRequestTest, BareAndWrappedPushBodies) {
  auto bare = ParsePushBody(
      R"({"songs":{"created":[{"id":"a","title":"t","_status":"created","_changed":""}],)"
      R"("updated":[{"id":"b","n":1.5,"ok":true,"meta":{"x":[1]},"gone":null}],"deleted":["c"]}})");
  ASSERT_TRUE(bare.ok()) << bare.status().ToString();
  const PushTable& t = bare->changes.at("songs");
  ASSERT_EQ(t.created.size(), 1u);
  EXPECT_EQ(t.created[0].id, "a");
  ASSERT_EQ(t.created[0].fields.size(), 1u);  // _status and _changed dropped
  EXPECT_EQ(t.created[0].fields[0].first, "title");
  ASSERT_EQ(t.updated[0].fields.size(), 4u);
  EXPECT_EQ(t.updated[0].fields[0].second, (JsonValue{JsonValue::Kind::kNumber, "1.5"}));
  EXPECT_EQ(t.updated[0].fields[1].second, (JsonValue{JsonValue::Kind::kBool, "true"}));
  EXPECT_EQ(t.updated[0].fields[2].second, (JsonValue{JsonValue::Kind::kRaw, R"({"x":[1]})"}));
  EXPECT_EQ(t.updated[0].fields[3].second.kind, JsonValue::Kind::kNull);
  EXPECT_EQ(t.deleted, std::vector<std::string>{"c"});
  EXPECT_FALSE(bare->last_pulled_at.has_value());

  auto wrapped = ParsePushBody(
      R"({"changes":{"songs":{"created":[],"updated":[],"deleted":[]}},"lastPulledAt":77})");
  ASSERT_TRUE(wrapped.ok());
  EXPECT_EQ(wrapped->last_pulled_at, 77);
  EXPECT_EQ(wrapped->changes.count("songs"), 1u);
  // A client table named "changes" is still a table.
  auto table_named_changes =
      ParsePushBody(R"({"changes":{"created":[],"updated":[],"deleted":[]}})");
  ASSERT_TRUE(table_named_changes.ok());
  EXPECT_EQ(table_named_changes->changes.count("changes"), 1u);
}

TEST(SyncRequestTest, BadPushBodiesNameThePath) {
  auto expect = [](std::string_view body, std::string_view path) {
    auto r = ParsePushBody(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
  };
  expect("nope", "body");
  expect("[]", "body");
  expect(R"({"songs":{"created":[{"title":"x"}]}})", "changes.songs.created[0].id");
  expect(R"({"songs":{"created":[{"id":5}]}})", "changes.songs.created[0].id");
  expect(R"({"songs":{"deleted":[1]}})", "changes.songs.deleted[0]");
  expect(R"({"songs":{"bogus":[]}})", "changes.songs.bogus");
  expect(R"({"songs":[]})", "changes.songs");
}

TEST(SyncRequestTest, SafeIds) {
  EXPECT_TRUE(IsSafeId("abcDEF0123456789"));
  EXPECT_TRUE(IsSafeId("550e8400-e29b-41d4-a716-446655440000"));
  for (const char* bad : {"", "a/b", "a'b", "a\"b", "a\\b", "a$b", "a\nb"}) {
    EXPECT_FALSE(IsSafeId(bad)) << bad;
  }
  EXPECT_FALSE(IsSafeId(std::string(256, 'a')));
}

TEST(WatermelonConfigTest, ReadsTablesAndNamesBadKeys) {
  auto parse = [](std::string_view text, WatermelonConfig* out) {
    toml::table t = toml::parse(text);
    return ReadWatermelonConfig(t, out);
  };
  WatermelonConfig config;
  Status ok = parse(R"(
[watermelon]
schema = "eddy_sync"
[[watermelon.tables]]
table = "public.songs"
columns = ["title", "date_added"]
rename = { date_added = "created_at" }
server_owned = ["owner_id"]
scope_column = "owner_id"
added_in = { artist = 2 }
)",
                    &config);
  ASSERT_TRUE(ok.ok()) << ok.ToString();
  ASSERT_EQ(config.tables.size(), 1u);
  EXPECT_EQ(config.tables[0].schema, "public");
  EXPECT_EQ(config.tables[0].table, "songs");
  EXPECT_EQ(config.tables[0].rename.at("date_added"), "created_at");
  EXPECT_EQ(config.tables[0].added_in.at("artist"), 2);
  EXPECT_TRUE(config.active());

  WatermelonConfig bad;
  Status s = parse("[[watermelon.tables]]\ntable = \"songs\"\ncolums = [\"x\"]\n", &bad);
  EXPECT_NE(s.message().find("watermelon.tables[0]: unknown key colums"), std::string::npos)
      << s.message();
  WatermelonConfig missing;
  s = parse("[[watermelon.tables]]\nclient_table = \"x\"\n", &missing);
  EXPECT_NE(s.message().find("watermelon.tables[0].table: required"), std::string::npos);
  WatermelonConfig reserved;
  s = parse("[[watermelon.tables]]\ntable = \"songs\"\nrename = { a = \"_status\" }\n", &reserved);
  EXPECT_FALSE(s.ok());
  WatermelonConfig twice;
  s = parse(
      "[[watermelon.tables]]\ntable = \"songs\"\n[[watermelon.tables]]\ntable = \"public.songs\"\n",
      &twice);
  EXPECT_FALSE(s.ok());
  // Streamed pulls.
  WatermelonConfig streamed;
  s = parse("[watermelon]\nstream_after_kb = 64\nspool_dir = \"/tmp\"\n", &streamed);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(streamed.stream_after_kb, 64);
  EXPECT_EQ(streamed.spool_dir, "/tmp");
  WatermelonConfig zero;
  s = parse("[watermelon]\nstream_after_kb = 0\n", &zero);
  EXPECT_NE(s.message().find("watermelon.stream_after_kb: must be 1 to 1048576"), std::string::npos)
      << s.message();
  WatermelonConfig no_spool;
  s = parse("[watermelon]\nmax_spool_mb = 0\n", &no_spool);
  EXPECT_NE(s.message().find("watermelon.max_spool_mb: must be 1 to 1048576"), std::string::npos)
      << s.message();
  WatermelonConfig slow_nudges;
  s = parse("[watermelon]\nnudge_debounce_ms = -1\n", &slow_nudges);
  EXPECT_NE(s.message().find("watermelon.nudge_debounce_ms: must be 0 to 60000"), std::string::npos)
      << s.message();
  WatermelonConfig wrong_type;
  s = parse("[watermelon]\nstream_after_kb = \"big\"\n", &wrong_type);
  EXPECT_NE(
      s.message().find("watermelon.stream_after_kb: has the wrong type (expected an integer)"),
      std::string::npos)
      << s.message();
  WatermelonConfig nowhere;
  s = parse("[watermelon]\nspool_dir = \"/nonexistent/spool\"\n", &nowhere);
  EXPECT_NE(s.message().find("watermelon.spool_dir: \"/nonexistent/spool\" is not a directory"),
            std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace eddy::watermelon
