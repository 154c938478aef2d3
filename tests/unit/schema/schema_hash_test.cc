#include "schema/schema_hash.h"

#include <gtest/gtest.h>

namespace eddy::schema {
namespace {

std::vector<SyncedTable> Library() {
  SyncedTable songs{"public", "songs", {{"id", "bigint", true}, {"title", "text", true}}, {"id"}};
  SyncedTable items{"public",
                    "playlist_items",
                    {{"playlist_id", "uuid", true}, {"song_id", "bigint", true}},
                    {"playlist_id", "song_id"}};
  return {songs, items};
}

TEST(SchemaHashTest, IsSixteenHexDigitsAndStable) {
  const std::string hash = HashTables(Library());
  EXPECT_EQ(hash.size(), 16u);
  EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(HashTables(Library()), hash);
}

TEST(SchemaHashTest, TableOrderDoesNotMatter) {
  std::vector<SyncedTable> reversed = Library();
  std::swap(reversed[0], reversed[1]);
  EXPECT_EQ(HashTables(reversed), HashTables(Library()));
}

TEST(SchemaHashTest, EveryPartOfADefinitionChangesIt) {
  const std::string base = HashTables(Library());
  auto changed = [&](auto mutate) {
    std::vector<SyncedTable> tables = Library();
    mutate(tables);
    return HashTables(tables);
  };
  EXPECT_NE(base, changed([](auto& t) { t[0].columns.push_back({"artist", "text", false}); }));
  EXPECT_NE(base, changed([](auto& t) { t[0].columns[1].name = "name"; }));
  EXPECT_NE(base, changed([](auto& t) { t[0].columns[1].type = "character varying(40)"; }));
  EXPECT_NE(base, changed([](auto& t) { t[0].columns[1].not_null = false; }));
  EXPECT_NE(base, changed([](auto& t) { std::swap(t[0].columns[0], t[0].columns[1]); }));
  EXPECT_NE(base, changed([](auto& t) { t[1].primary_key = {"song_id", "playlist_id"}; }));
  EXPECT_NE(base, changed([](auto& t) { t[0].primary_key.clear(); }));
  EXPECT_NE(base, changed([](auto& t) { t[0].schema = "media"; }));
  EXPECT_NE(base, changed([](auto& t) { t.pop_back(); }));
  EXPECT_NE(HashTables({}), base);
}

TEST(SchemaHashTest, NamesCannotImitateSeparators) {
  std::vector<SyncedTable> a = {{"s", "t", {{"a b", "text", false}}, {}}};
  std::vector<SyncedTable> b = {{"s", "t", {{"a", "b text", false}}, {}}};
  EXPECT_NE(HashTables(a), HashTables(b));
}

TEST(SchemaHashTest, JsonListsTablesColumnsAndKeys) {
  SchemaDigest digest;
  digest.tables = {{"public", "so\"ngs", {{"id", "bigint", true}, {"t", "text", false}}, {"id"}}};
  digest.hash = HashTables(digest.tables);
  EXPECT_EQ(digest.Json(),
            R"({"hash":")" + digest.hash +
                R"(","tables":[{"schema":"public","name":"so\"ngs","columns":[)"
                R"({"name":"id","type":"bigint","not_null":true},)"
                R"({"name":"t","type":"text","not_null":false}],"primary_key":["id"]}]})");
}

}  // namespace
}  // namespace eddy::schema
