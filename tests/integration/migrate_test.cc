// `eddy migrate` and the schema hash against a real PostgreSQL: order, re-runs, edited and
// failing files, dry runs, status, concurrent runs, and the eddy-schema-hash header of a running
// `eddy serve` (docs/schema.md).

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "harness.h"
#include "schema/schema_hash.h"

namespace eddy::testing {
namespace {

using std::chrono::seconds;

void WriteFile(const std::string& dir, const std::string& name, const std::string& text) {
  std::ofstream(std::filesystem::path(dir) / name, std::ios::binary) << text;
}

// Runs `eddy -d <db> migrate <args...>`; returns the exit code, output in `*output`.
int Migrate(const std::string& db, std::vector<std::string> args, std::string* output) {
  std::vector<std::string> argv = {EDDY_BINARY, "--database", db, "migrate"};
  argv.insert(argv.end(), args.begin(), args.end());
  Subprocess eddy(argv);
  const int rc = eddy.Wait(seconds(120));
  *output = eddy.Output();
  return rc;
}

int HistoryRows(const std::string& db) {
  return std::stoi(Query(db, "SELECT count(*) FROM eddy.schema_migrations"));
}

bool TableExists(const std::string& db, const std::string& table) {
  return Query(db, "SELECT to_regclass('" + table + "') IS NOT NULL") == "t";
}

TEST(MigrateTest, AppliesInVersionOrderAndASecondRunIsANoOp) {
  const std::string db = NewDatabase();
  const std::string dir = TempDir();
  // 9 sorts after 10 as text; the numeric version decides, so the ALTER finds its table.
  WriteFile(dir, "10_add_artist.sql", "ALTER TABLE tracks ADD COLUMN artist text;\n");
  WriteFile(dir, "9_create_tracks.sql", "CREATE TABLE tracks (id int PRIMARY KEY);\n");
  std::string out;
  ASSERT_EQ(Migrate(db, {"--dir", dir}, &out), 0) << out;
  const size_t first = out.find("applying 9_create_tracks.sql ... ok");
  const size_t second = out.find("applying 10_add_artist.sql ... ok");
  ASSERT_NE(first, std::string::npos) << out;
  ASSERT_NE(second, std::string::npos) << out;
  EXPECT_LT(first, second);
  EXPECT_NE(out.find("applied 2 migrations"), std::string::npos) << out;
  EXPECT_NE(out.find("schema hash: "), std::string::npos) << out;
  EXPECT_EQ(HistoryRows(db), 2);
  EXPECT_EQ(Query(db,
                  "SELECT string_agg(version || ':' || name, ',' ORDER BY version) FROM "
                  "eddy.schema_migrations"),
            "9:create_tracks,10:add_artist");
  EXPECT_EQ(Query(db, "SELECT length(checksum) FROM eddy.schema_migrations LIMIT 1"), "64");

  ASSERT_EQ(Migrate(db, {"--dir", dir}, &out), 0) << out;
  EXPECT_NE(out.find("nothing to apply: 2 migrations already applied"), std::string::npos) << out;
  EXPECT_EQ(out.find("applying"), std::string::npos) << out;
  EXPECT_EQ(out.find("NOTICE"), std::string::npos) << out;  // quiet when nothing is to do
  EXPECT_EQ(HistoryRows(db), 2);

  // A new file runs alone.
  WriteFile(dir, "11_index.sql", "CREATE INDEX tracks_artist ON tracks (artist);\n");
  ASSERT_EQ(Migrate(db, {"--dir", dir}, &out), 0) << out;
  EXPECT_NE(out.find("applying 11_index.sql ... ok"), std::string::npos) << out;
  EXPECT_NE(out.find("applied 1 migration\n"), std::string::npos) << out;
  EXPECT_EQ(HistoryRows(db), 3);
}

TEST(MigrateTest, AnEditedAppliedFileIsAnErrorAndNothingLaterRuns) {
  const std::string db = NewDatabase();
  const std::string dir = TempDir();
  WriteFile(dir, "1_create.sql", "CREATE TABLE a (id int PRIMARY KEY);\n");
  std::string out;
  ASSERT_EQ(Migrate(db, {"--dir", dir}, &out), 0) << out;
  WriteFile(dir, "1_create.sql", "CREATE TABLE a (id bigint PRIMARY KEY);\n");
  WriteFile(dir, "2_more.sql", "CREATE TABLE b (id int PRIMARY KEY);\n");
  EXPECT_EQ(Migrate(db, {"--dir", dir}, &out), 2) << out;
  EXPECT_NE(out.find("migration 1_create.sql was edited after it was applied"), std::string::npos)
      << out;
  EXPECT_NE(out.find("new migration file"), std::string::npos) << out;
  EXPECT_FALSE(TableExists(db, "b"));
  EXPECT_EQ(HistoryRows(db), 1);
  // Status shows it too, and exits 1.
  EXPECT_EQ(Migrate(db, {"status", "--dir", dir}, &out), 1) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("changed +1_create.sql +ERROR: edited"))) << out;
  // Dry run refuses as well.
  EXPECT_EQ(Migrate(db, {"--dir", dir, "--dry-run"}, &out), 2) << out;
}

TEST(MigrateTest, AFailureMidwayRollsThatFileBackAndKeepsTheEarlierOnes) {
  const std::string db = NewDatabase();
  const std::string dir = TempDir();
  WriteFile(dir, "1_good.sql", "CREATE TABLE good (id int PRIMARY KEY);\n");
  WriteFile(dir, "2_bad.sql",
            "CREATE TABLE half (id int PRIMARY KEY);\n"
            "INSERT INTO half VALUES (1);\n"
            "CREAT TABLE typo (id int);\n");
  WriteFile(dir, "3_later.sql", "CREATE TABLE later (id int PRIMARY KEY);\n");
  std::string out;
  EXPECT_EQ(Migrate(db, {"--dir", dir}, &out), 2) << out;
  EXPECT_NE(out.find("2_bad.sql failed and was rolled back"), std::string::npos) << out;
  EXPECT_NE(out.find("line 3: syntax error at or near \"CREAT\""), std::string::npos) << out;
  EXPECT_NE(out.find("SQLSTATE 42601"), std::string::npos) << out;
  EXPECT_NE(out.find("the 1 file applied before it stays applied"), std::string::npos) << out;
  EXPECT_TRUE(TableExists(db, "good"));
  EXPECT_FALSE(TableExists(db, "half"));
  EXPECT_FALSE(TableExists(db, "later"));
  EXPECT_EQ(HistoryRows(db), 1);

  // A runtime error (no position): the file and PostgreSQL's message.
  WriteFile(dir, "2_bad.sql",
            "CREATE TABLE half (id int PRIMARY KEY CHECK (id > 0));\n"
            "INSERT INTO half VALUES (-1);\n");
  EXPECT_EQ(Migrate(db, {"--dir", dir}, &out), 2) << out;
  EXPECT_NE(out.find("2_bad.sql failed"), std::string::npos) << out;
  EXPECT_NE(out.find("violates check constraint"), std::string::npos) << out;
  EXPECT_FALSE(TableExists(db, "half"));

  // Fixed: the rest applies.
  WriteFile(dir, "2_bad.sql", "CREATE TABLE half (id int PRIMARY KEY);\n");
  ASSERT_EQ(Migrate(db, {"--dir", dir}, &out), 0) << out;
  EXPECT_TRUE(TableExists(db, "later"));
  EXPECT_EQ(HistoryRows(db), 3);
}

TEST(MigrateTest, AFileThatCommitsItselfIsReported) {
  const std::string db = NewDatabase();
  const std::string dir = TempDir();
  WriteFile(dir, "1_commits.sql", "CREATE TABLE c (id int);\nCOMMIT;\n");
  std::string out;
  EXPECT_EQ(Migrate(db, {"--dir", dir}, &out), 2) << out;
  EXPECT_NE(out.find("COMMIT or ROLLBACK in the file"), std::string::npos) << out;
}

TEST(MigrateTest, DryRunListsAndAppliesNothing) {
  const std::string db = NewDatabase();
  const std::string dir = TempDir();
  WriteFile(dir, "1_a.sql", "CREATE TABLE a (id int PRIMARY KEY);\n");
  WriteFile(dir, "2_b.sql", "CREATE TABLE b (id int PRIMARY KEY);\n");
  std::string out;
  ASSERT_EQ(Migrate(db, {"--dir", dir, "--dry-run"}, &out), 0) << out;
  EXPECT_NE(out.find("would apply 1_a.sql\nwould apply 2_b.sql\n"), std::string::npos) << out;
  EXPECT_NE(out.find("dry run: 2 migrations would be applied; nothing was changed"),
            std::string::npos)
      << out;
  EXPECT_FALSE(TableExists(db, "a"));
  EXPECT_FALSE(TableExists(db, "eddy.schema_migrations"));  // not even the history table

  ASSERT_EQ(Migrate(db, {"--dir", dir}, &out), 0) << out;
  WriteFile(dir, "3_c.sql", "CREATE TABLE c (id int PRIMARY KEY);\n");
  ASSERT_EQ(Migrate(db, {"--dry-run", "--dir", dir}, &out), 0) << out;
  EXPECT_NE(out.find("would apply 3_c.sql\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("would apply 1_a.sql"), std::string::npos) << out;
  EXPECT_FALSE(TableExists(db, "c"));
}

TEST(MigrateTest, StatusShowsAppliedPendingAndMissingFiles) {
  const std::string db = NewDatabase();
  const std::string dir = TempDir();
  std::string out;
  WriteFile(dir, "1_a.sql", "CREATE TABLE a (id int PRIMARY KEY);\n");
  EXPECT_EQ(Migrate(db, {"status", "--dir", dir}, &out), 0) << out;
  EXPECT_NE(out.find("history eddy.schema_migrations (not created yet)"), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("pending +1_a.sql"))) << out;

  WriteFile(dir, "2_b.sql", "CREATE TABLE b (id int PRIMARY KEY);\n");
  ASSERT_EQ(Migrate(db, {"--dir", dir}, &out), 0) << out;
  std::filesystem::remove(std::filesystem::path(dir) / "1_a.sql");
  WriteFile(dir, "3_c.sql", "CREATE TABLE c (id int PRIMARY KEY);\n");
  EXPECT_EQ(Migrate(db, {"status", "--dir", dir}, &out), 0) << out;
  EXPECT_NE(out.find("(2 applied)"), std::string::npos) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("missing +1_a +WARNING: applied"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("applied +2_b.sql +20[0-9]{2}-"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("pending +3_c.sql"))) << out;
  EXPECT_TRUE(std::regex_search(out, std::regex("schema hash: [0-9a-f]{16} \\(2 synced tables\\)")))
      << out;
  // Migrating warns about the missing file and applies the pending one.
  ASSERT_EQ(Migrate(db, {"--dir", dir}, &out), 0) << out;
  EXPECT_NE(out.find("warning: version 1 (a) was applied"), std::string::npos) << out;
  EXPECT_TRUE(TableExists(db, "c"));
}

TEST(MigrateTest, BadInputGetsAMessageWithTheFix) {
  const std::string db = NewDatabase();
  const std::string dir = TempDir();
  std::string out;
  EXPECT_EQ(Migrate(db, {"--dir", dir + "/nope"}, &out), 2) << out;
  EXPECT_NE(out.find("does not exist"), std::string::npos) << out;
  WriteFile(dir, "init.sql", "SELECT 1;");
  EXPECT_EQ(Migrate(db, {"--dir", dir}, &out), 2) << out;
  EXPECT_NE(out.find("migration file \"init.sql\""), std::string::npos) << out;
  EXPECT_NE(out.find("expected <digits>_<name>.sql"), std::string::npos) << out;
  std::filesystem::remove(std::filesystem::path(dir) / "init.sql");
  WriteFile(dir, "5_a.sql", "SELECT 1;");
  WriteFile(dir, "05_b.sql", "SELECT 1;");
  EXPECT_EQ(Migrate(db, {"--dir", dir}, &out), 2) << out;
  EXPECT_NE(out.find("have the same version 5"), std::string::npos) << out;
  Subprocess no_db({EDDY_BINARY, "migrate", "--dir", dir}, {"DATABASE_URL="});
  EXPECT_EQ(no_db.Wait(seconds(60)), 2);
  EXPECT_NE(no_db.Output().find("pass --database or set DATABASE_URL"), std::string::npos)
      << no_db.Output();
}

TEST(MigrateTest, ConcurrentRunsApplyEachFileOnce) {
  const std::string db = NewDatabase();
  const std::string dir = TempDir();
  // CREATE TABLE without IF NOT EXISTS: a second application would fail. The sleep makes the
  // runs overlap.
  WriteFile(dir, "1_slow.sql", "SELECT pg_sleep(1);\nCREATE TABLE once (id int PRIMARY KEY);\n");
  WriteFile(dir, "2_next.sql", "CREATE TABLE twice_not (id int PRIMARY KEY);\n");
  std::vector<std::unique_ptr<Subprocess>> runs;
  for (int i = 0; i < 4; ++i) {
    runs.push_back(std::make_unique<Subprocess>(
        std::vector<std::string>{EDDY_BINARY, "--database", db, "migrate", "--dir", dir}));
  }
  int applied_runs = 0;
  for (auto& run : runs) {
    EXPECT_EQ(run->Wait(seconds(120)), 0) << run->Output();
    if (run->Output().find("applied 2 migrations") != std::string::npos) ++applied_runs;
  }
  EXPECT_EQ(applied_runs, 1);
  EXPECT_EQ(HistoryRows(db), 2);
}

TEST(MigrateTest, SchemaHashIsStableAndChangesWithColumnsOfSyncedTables) {
  const std::string db = NewDatabase();
  std::string out;
  ASSERT_EQ(Migrate(db, {"--dir", EDDY_SCHEMA_DIR}, &out), 0) << out;
  auto conn = pg::Connection::Connect(db);
  ASSERT_TRUE(conn.ok());
  schema::SchemaHashOptions options;  // logical mode, publication "eddy" (missing: all tables)
  auto first = schema::ComputeSchemaDigest(**conn, options);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::vector<std::string> names;
  for (const auto& t : first->tables) names.push_back(t.schema + "." + t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"public.media_blobs", "public.playlist_items",
                                             "public.playlists", "public.songs"}));
  EXPECT_EQ(first->tables[1].primary_key, (std::vector<std::string>{"playlist_id", "song_id"}));
  EXPECT_EQ(first->tables[3].columns[1].name, "title");
  EXPECT_EQ(first->tables[3].columns[1].type, "text");
  EXPECT_TRUE(first->tables[3].columns[1].not_null);

  // Data changes and a second run leave it alone.
  Sql(db, "INSERT INTO songs (title) VALUES ('another'); DELETE FROM playlist_items;");
  auto again = schema::ComputeSchemaDigest(**conn, options);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->hash, first->hash);
  // `eddy status` prints the same.
  Subprocess status({EDDY_BINARY, "--database", db, "--data-dir", TempDir(), "status"});
  EXPECT_EQ(status.Wait(seconds(60)), 0) << status.Output();
  EXPECT_NE(status.Output().find("schema hash: " + first->hash + " (4 synced tables)"),
            std::string::npos)
      << status.Output();

  Sql(db, "ALTER TABLE songs ADD COLUMN rating integer");
  auto altered = schema::ComputeSchemaDigest(**conn, options);
  ASSERT_TRUE(altered.ok());
  EXPECT_NE(altered->hash, first->hash);

  // With a publication, only its tables count: a table outside it may change freely.
  Sql(db, "CREATE PUBLICATION eddy FOR TABLE songs, playlists");
  auto published = schema::ComputeSchemaDigest(**conn, options);
  ASSERT_TRUE(published.ok());
  EXPECT_EQ(published->tables.size(), 2u);
  Sql(db, "ALTER TABLE media_blobs ADD COLUMN size bigint");
  auto outside = schema::ComputeSchemaDigest(**conn, options);
  ASSERT_TRUE(outside.ok());
  EXPECT_EQ(outside->hash, published->hash);
  Sql(db, "ALTER TABLE playlists ALTER COLUMN owner_id SET NOT NULL");
  auto inside = schema::ComputeSchemaDigest(**conn, options);
  ASSERT_TRUE(inside.ok());
  EXPECT_NE(inside->hash, published->hash);
}

// curl -si: the status line and headers (lower-cased names) of a GET.
std::string Headers(const std::string& url) {
  Subprocess curl({"curl", "-s", "-i", "--max-time", "10", url});
  curl.Wait(seconds(30));
  std::string out = curl.Output();
  std::transform(out.begin(), out.end(), out.begin(), [](char c) { return std::tolower(c); });
  return out;
}

std::string HashHeader(const std::string& url) {
  std::smatch m;
  const std::string headers = Headers(url);
  if (std::regex_search(headers, m, std::regex("eddy-schema-hash: ([0-9a-f]{16})"))) return m[1];
  return "";
}

TEST(MigrateTest, EveryServeResponseCarriesTheSchemaHashHeader) {
  const std::string db = NewDatabase();
  std::string out;
  ASSERT_EQ(Migrate(db, {"--dir", EDDY_SCHEMA_DIR}, &out), 0) << out;
  const std::string config = TempDir() + "/eddy.toml";
  std::ofstream(config) << "[schema]\nhash_check_ms = 200\n";
  Subprocess eddy({EDDY_BINARY, "--database", db, "--data-dir", TempDir(), "--config", config,
                   "--slot", "migrate_header", "--http", "127.0.0.1:0", "--open", "serve"});
  std::regex re("eddy serving (http://127\\.0\\.0\\.1:[0-9]+)");
  std::string url;
  for (int i = 0; i < 300 && url.empty(); ++i) {
    std::smatch m;
    std::string output = eddy.Output();
    if (std::regex_search(output, m, re) &&
        output.find("capture: streaming") != std::string::npos) {
      url = m[1];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(url.empty()) << eddy.Output();

  auto conn = pg::Connection::Connect(db);
  ASSERT_TRUE(conn.ok());
  auto digest = schema::ComputeSchemaDigest(**conn, schema::SchemaHashOptions{});
  ASSERT_TRUE(digest.ok());
  const std::string hash = digest->hash;
  EXPECT_EQ(HashHeader(url + "/health"), hash);
  EXPECT_EQ(HashHeader(url + "/v1/shape?table=songs&offset=-1"), hash);
  EXPECT_EQ(HashHeader(url + "/metrics"), hash);
  EXPECT_EQ(HashHeader(url + "/no-such-path"), hash);
  const std::string schema_json = Headers(url + "/v1/schema");
  EXPECT_NE(schema_json.find("{\"hash\":\"" + hash +
                             "\",\"tables\":[{\"schema\":\"public\","
                             "\"name\":\"media_blobs\""),
            std::string::npos)
      << schema_json;

  Sql(db, "ALTER TABLE songs ADD COLUMN rating integer");
  std::string changed;
  for (int i = 0; i < 100; ++i) {
    changed = HashHeader(url + "/health");
    if (!changed.empty() && changed != hash) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(changed, hash);
  EXPECT_EQ(changed.size(), 16u);
  EXPECT_EQ(HashHeader(url + "/v1/shape?table=songs&offset=-1"), changed);
  eddy.Kill(SIGTERM);
  EXPECT_EQ(eddy.Wait(seconds(30)), 0) << eddy.Output().substr(0, 20000);
}

}  // namespace
}  // namespace eddy::testing
