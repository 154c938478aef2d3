// Capture against a real PostgreSQL 15: every operation and type, keys, TOAST, truncate, schema
// changes, big transactions, filters, resume, restarts, leadership and a dropped slot.

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <simdjson.h>

#include "harness.h"

// ASan keeps freed memory in a quarantine (256 MB by default) that would hide whether capture's
// own memory stays bounded; a small quarantine keeps the RSS check meaningful.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=8"; }

namespace eddy::testing {
namespace {

simdjson::dom::element Parse(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element doc;
  auto error = parser.parse(json).get(doc);
  EXPECT_FALSE(error) << json;
  return doc;
}

std::string Field(simdjson::dom::parser& parser, const std::string& json, const char* pointer) {
  simdjson::dom::element doc = Parse(parser, json);
  simdjson::dom::element v;
  if (doc.at_pointer(pointer).get(v)) return "<missing>";
  return simdjson::minify(v);
}

TEST(CaptureTest, EveryOperationAndType) {
  std::string db = NewDatabase();
  Sql(db,
      "CREATE TYPE mood AS ENUM ('sad', 'happy');"
      "CREATE TABLE t (id int PRIMARY KEY, b bool, i2 int2, i8 int8, big int8, f4 float4, "
      "f8 float8, nan float8, n numeric, txt text, vc varchar(10), u uuid, d date, tm time, "
      "ttz timetz, ts timestamp, tstz timestamptz, iv interval, by bytea, j json, jb jsonb, "
      "arr int[], tarr text[], e mood, earr mood[], nul text, m money)");
  auto watcher = StartWatcher(OptionsFor(db));
  Collector got;
  Subscription sub;
  sub.table = "t";
  sub.detail = Detail::kFull;
  ASSERT_TRUE(watcher->Subscribe(sub, got.Handlers()).ok());
  Sql(db,
      "INSERT INTO t VALUES (1, true, -7, 9007199254740991, 9007199254740993, 1.5, "
      "0.1, 'NaN', 12.3450, 'a \"q\" \\ b', 'vc', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
      "'2024-01-02', '03:04:05', '03:04:05+05:30', '2024-01-02 03:04:05.123456', "
      "'2024-01-02 03:04:05.5+00', '1 day 2 hours', '\\x0102ff', '{\"a\": [1, 2]}', "
      "'{\"b\": {\"c\": null}}', '{1,NULL,3}', '{\"x y\",NULL,\"NULL\"}', 'happy', "
      "'{sad,happy}', NULL, 12.5)");
  Sql(db, "UPDATE t SET txt = 'changed', i8 = -9007199254740993 WHERE id = 1");
  Sql(db, "DELETE FROM t WHERE id = 1");
  ASSERT_TRUE(got.WaitFor(3)) << watcher->Health();
  auto json = got.Json();
  simdjson::dom::parser p;
  const std::string& ins = json[0];
  EXPECT_EQ(Field(p, ins, "/op"), "\"insert\"");
  EXPECT_EQ(Field(p, ins, "/table"), "\"t\"");
  EXPECT_EQ(Field(p, ins, "/schema"), "\"public\"");
  EXPECT_EQ(Field(p, ins, "/key"), "{\"id\":1}");
  EXPECT_EQ(Field(p, ins, "/new/b"), "true");
  EXPECT_EQ(Field(p, ins, "/new/i2"), "-7");
  EXPECT_EQ(Field(p, ins, "/new/i8"), "9007199254740991");
  EXPECT_EQ(Field(p, ins, "/new/big"), "\"9007199254740993\"");
  EXPECT_EQ(Field(p, ins, "/new/f4"), "1.5");
  EXPECT_EQ(Field(p, ins, "/new/f8"), "0.1");
  EXPECT_EQ(Field(p, ins, "/new/nan"), "\"NaN\"");
  EXPECT_EQ(Field(p, ins, "/new/n"), "\"12.3450\"");
  EXPECT_EQ(Field(p, ins, "/new/txt"), "\"a \\\"q\\\" \\\\ b\"");
  EXPECT_EQ(Field(p, ins, "/new/u"), "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
  EXPECT_EQ(Field(p, ins, "/new/d"), "\"2024-01-02\"");
  EXPECT_EQ(Field(p, ins, "/new/tm"), "\"03:04:05\"");
  EXPECT_EQ(Field(p, ins, "/new/ttz"), "\"03:04:05+05:30\"");
  EXPECT_EQ(Field(p, ins, "/new/ts"), "\"2024-01-02T03:04:05.123456\"");
  EXPECT_EQ(Field(p, ins, "/new/tstz"), "\"2024-01-02T03:04:05.5Z\"");
  EXPECT_EQ(Field(p, ins, "/new/iv"), "\"P1DT2H\"");
  EXPECT_EQ(Field(p, ins, "/new/by"), "\"\\\\x0102ff\"");
  EXPECT_EQ(Field(p, ins, "/new/j"), "{\"a\":[1,2]}");
  EXPECT_EQ(Field(p, ins, "/new/jb"), "{\"b\":{\"c\":null}}");
  EXPECT_EQ(Field(p, ins, "/new/arr"), "[1,null,3]");
  EXPECT_EQ(Field(p, ins, "/new/tarr"), "[\"x y\",null,\"NULL\"]");
  EXPECT_EQ(Field(p, ins, "/new/e"), "\"happy\"");
  EXPECT_EQ(Field(p, ins, "/new/earr"), "[\"sad\",\"happy\"]");
  EXPECT_EQ(Field(p, ins, "/new/nul"), "null");
  EXPECT_EQ(Field(p, ins, "/new/m"), "\"$12.50\"");
  const std::string& upd = json[1];
  EXPECT_EQ(Field(p, upd, "/op"), "\"update\"");
  EXPECT_EQ(Field(p, upd, "/new/txt"), "\"changed\"");
  EXPECT_EQ(Field(p, upd, "/new/i8"), "\"-9007199254740993\"");
  EXPECT_EQ(Field(p, upd, "/old"), "<missing>");  // DEFAULT identity, key unchanged
  const std::string& del = json[2];
  EXPECT_EQ(Field(p, del, "/op"), "\"delete\"");
  EXPECT_EQ(Field(p, del, "/key"), "{\"id\":1}");
  EXPECT_EQ(Field(p, del, "/old"), "{\"id\":1}");
  // Positions increase and transactions are bracketed (the last commit may trail the change).
  for (int i = 0; i < 200 && got.Events().size() < 9; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto pos = got.Positions();
  EXPECT_LT(pos[0], pos[1]);
  EXPECT_LT(pos[1], pos[2]);
  EXPECT_EQ(got.Events(), (std::vector<std::string>{"begin", "change", "commit", "begin", "change",
                                                    "commit", "begin", "change", "commit"}));
}

TEST(CaptureTest, CompositeKeysAndTablesWithoutKey) {
  std::string db = NewDatabase();
  Sql(db,
      "CREATE TABLE items (list_id int, song_id int, pos int, PRIMARY KEY (list_id, song_id));"
      "CREATE TABLE nokey (a int, b text);"
      "CREATE TABLE nokey_full (a int, b text); ALTER TABLE nokey_full REPLICA IDENTITY FULL;");
  auto watcher = StartWatcher(OptionsFor(db));
  Collector got;
  Subscription sub;
  ASSERT_TRUE(watcher->Subscribe(sub, got.Handlers()).ok());
  Sql(db,
      "INSERT INTO items VALUES (1, 2, 3); UPDATE items SET song_id = 5 WHERE list_id = 1;"
      "INSERT INTO nokey VALUES (7, 'x');"
      "INSERT INTO nokey_full VALUES (8, 'y'); UPDATE nokey_full SET b = 'z';"
      "DELETE FROM nokey_full;");
  ASSERT_TRUE(got.WaitFor(6)) << watcher->Health();
  auto json = got.Json();
  simdjson::dom::parser p;
  EXPECT_EQ(Field(p, json[0], "/key"), "{\"list_id\":1,\"song_id\":2}");
  // The key changed: the update carries the new key, and the old one under "old".
  EXPECT_EQ(Field(p, json[1], "/key"), "{\"list_id\":1,\"song_id\":5}");
  EXPECT_EQ(Field(p, json[2], "/key"), "{\"a\":7,\"b\":\"x\"}");  // no key: the whole row
  EXPECT_EQ(Field(p, json[4], "/op"), "\"update\"");
  EXPECT_EQ(Field(p, json[5], "/op"), "\"delete\"");
  EXPECT_EQ(Field(p, json[5], "/key"), "{\"a\":8,\"b\":\"z\"}");

  Collector full;
  Subscription fsub;
  fsub.table = "nokey_full";
  fsub.detail = Detail::kFull;
  ASSERT_TRUE(watcher->Subscribe(fsub, full.Handlers()).ok());
  Sql(db, "INSERT INTO nokey_full VALUES (9, 'p'); UPDATE nokey_full SET b = 'q'");
  ASSERT_TRUE(full.WaitFor(2));
  EXPECT_EQ(Field(p, full.Json()[1], "/old"), "{\"a\":9,\"b\":\"p\"}");
  EXPECT_EQ(Field(p, full.Json()[1], "/new"), "{\"a\":9,\"b\":\"q\"}");

  Collector keyed;
  Subscription ksub;
  ksub.table = "items";
  ksub.detail = Detail::kFull;
  ASSERT_TRUE(watcher->Subscribe(ksub, keyed.Handlers()).ok());
  Sql(db, "UPDATE items SET song_id = 6 WHERE list_id = 1");
  ASSERT_TRUE(keyed.WaitFor(1));
  EXPECT_EQ(Field(p, keyed.Json()[0], "/old"), "{\"list_id\":1,\"song_id\":5}");
}

TEST(CaptureTest, UnchangedToastIsMarkedNotNull) {
  std::string db = NewDatabase();
  Sql(db,
      "CREATE TABLE docs (id int PRIMARY KEY, title text, body text);"
      "ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;");
  auto watcher = StartWatcher(OptionsFor(db));
  Collector got;
  Subscription sub;
  sub.table = "docs";
  sub.detail = Detail::kFull;
  ASSERT_TRUE(watcher->Subscribe(sub, got.Handlers()).ok());
  Sql(db,
      "INSERT INTO docs SELECT 1, 'a', string_agg(md5(g::text), '') FROM generate_series(1, 3000) "
      "g");
  Sql(db, "UPDATE docs SET title = 'b' WHERE id = 1");
  ASSERT_TRUE(got.WaitFor(2));
  simdjson::dom::parser p;
  const std::string upd = got.Json()[1];
  EXPECT_EQ(Field(p, upd, "/new/title"), "\"b\"");
  EXPECT_EQ(Field(p, upd, "/new/body"), "<missing>");
  EXPECT_EQ(Field(p, upd, "/unchanged"), "[\"body\"]");
}

TEST(CaptureTest, TruncateAndSchemaChange) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE s (id int PRIMARY KEY, a text)");
  auto watcher = StartWatcher(OptionsFor(db));
  Collector got;
  Subscription sub;
  sub.table = "s";
  sub.detail = Detail::kFull;
  ASSERT_TRUE(watcher->Subscribe(sub, got.Handlers()).ok());
  Sql(db, "INSERT INTO s VALUES (1, 'x')");
  Sql(db, "ALTER TABLE s ADD COLUMN b int DEFAULT 5");
  Sql(db, "INSERT INTO s VALUES (2, 'y', 6)");
  Sql(db, "TRUNCATE s");
  ASSERT_TRUE(got.WaitFor(3)) << watcher->Health();
  auto json = got.Json();
  simdjson::dom::parser p;
  EXPECT_EQ(Field(p, json[0], "/schema_version"), "1");
  EXPECT_EQ(Field(p, json[1], "/schema_version"), "2");
  EXPECT_EQ(Field(p, json[1], "/new"), "{\"id\":2,\"a\":\"y\",\"b\":6}");
  EXPECT_EQ(Field(p, json[2], "/op"), "\"truncate\"");
}

TEST(CaptureTest, SchemaVersionsSurviveARestart) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE sv (id int PRIMARY KEY)");
  auto options = OptionsFor(db);
  Subscription sub;
  sub.table = "sv";
  simdjson::dom::parser p;
  {
    auto watcher = StartWatcher(options);
    Collector got;
    ASSERT_TRUE(watcher->Subscribe(sub, got.Handlers()).ok());
    Sql(db, "INSERT INTO sv VALUES (1)");
    Sql(db, "ALTER TABLE sv ADD COLUMN a text");
    Sql(db, "INSERT INTO sv VALUES (2, 'x')");
    ASSERT_TRUE(got.WaitFor(2));
    EXPECT_EQ(Field(p, got.Json()[1], "/schema_version"), "2");
  }
  {
    auto watcher = StartWatcher(options);
    Collector got;
    ASSERT_TRUE(watcher->Subscribe(sub, got.Handlers()).ok());
    Sql(db, "INSERT INTO sv VALUES (3, 'y')");
    ASSERT_TRUE(got.WaitFor(1));
    EXPECT_EQ(Field(p, got.Json()[0], "/schema_version"), "2");  // unchanged table, same version
  }
  Sql(db, "ALTER TABLE sv ADD COLUMN b int");  // while eddy is down
  auto watcher = StartWatcher(options);
  Collector got;
  ASSERT_TRUE(watcher->Subscribe(sub, got.Handlers()).ok());
  Sql(db, "INSERT INTO sv VALUES (4, 'z', 1)");
  ASSERT_TRUE(got.WaitFor(1));
  EXPECT_EQ(Field(p, got.Json()[0], "/schema_version"), "3");
}

TEST(CaptureTest, FiltersByOperationKeyAndColumnValue) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE songs (id int PRIMARY KEY, artist text, title text)");
  auto watcher = StartWatcher(OptionsFor(db));
  Collector inserts, one_key, by_artist, extra;
  Subscription s1;
  s1.table = "songs";
  s1.ops = {Op::kInsert};
  ASSERT_TRUE(watcher->Subscribe(s1, inserts.Handlers()).ok());
  Subscription s2;
  s2.table = "public.songs";
  s2.key = {"2"};
  ASSERT_TRUE(watcher->Subscribe(s2, one_key.Handlers()).ok());
  Subscription s3;
  s3.table = "songs";
  s3.column = "artist";
  s3.column_value = "Randomer";
  ASSERT_TRUE(watcher->Subscribe(s3, by_artist.Handlers()).ok());
  Subscription s4;
  s4.table = "songs";
  s4.ops = {Op::kUpdate};
  s4.detail = Detail::kColumns;
  s4.columns = {"title"};
  ASSERT_TRUE(watcher->Subscribe(s4, extra.Handlers()).ok());
  Sql(db, "INSERT INTO songs VALUES (1, 'A', 'one'), (2, 'Randomer', 'two')");
  Sql(db, "UPDATE songs SET title = 'deux' WHERE id = 2");
  Sql(db, "UPDATE songs SET title = 'uno' WHERE id = 1");
  Sql(db, "DELETE FROM songs WHERE id = 1");
  ASSERT_TRUE(extra.WaitFor(2));
  ASSERT_TRUE(inserts.WaitFor(2));
  ASSERT_TRUE(one_key.WaitFor(1));
  ASSERT_TRUE(by_artist.WaitFor(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(inserts.size(), 2u);
  EXPECT_EQ(one_key.size(), 1u);    // the update of id 2 (a key subscription skips inserts)
  EXPECT_EQ(by_artist.size(), 2u);  // insert and update of Randomer's song
  simdjson::dom::parser p;
  EXPECT_EQ(Field(p, extra.Json()[0], "/new"), "{\"title\":\"deux\"}");
  EXPECT_EQ(Field(p, one_key.Json()[0], "/new"), "<missing>");  // id-only by default

  Subscription bad;
  bad.table = "songs";
  bad.ops = {Op::kInsert};
  bad.key = {"1"};
  auto r = watcher->Subscribe(bad, Collector().Handlers());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("subscription.key"), std::string::npos);
}

TEST(CaptureTest, ResumesFromAPosition) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE r (id int PRIMARY KEY)");
  auto options = OptionsFor(db);
  auto watcher = StartWatcher(options);
  Collector all;
  Subscription sub;
  sub.table = "r";
  ASSERT_TRUE(watcher->Subscribe(sub, all.Handlers()).ok());
  Sql(db, "INSERT INTO r SELECT generate_series(1, 5)");
  Sql(db, "INSERT INTO r SELECT generate_series(6, 10)");
  ASSERT_TRUE(all.WaitFor(10));
  auto positions = all.Positions();
  Collector resumed;
  sub.after = positions[6];
  ASSERT_TRUE(watcher->Subscribe(sub, resumed.Handlers()).ok());
  ASSERT_TRUE(resumed.WaitFor(3));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(resumed.Positions(), std::vector<Position>(positions.begin() + 7, positions.end()));
  Collector from_start;
  sub.after = Position{};
  ASSERT_TRUE(watcher->Subscribe(sub, from_start.Handlers()).ok());
  ASSERT_TRUE(from_start.WaitFor(10));
  EXPECT_EQ(from_start.Positions(), positions);

  // A restarted watcher on the same data dir keeps the log and does not capture twice.
  watcher->Stop();
  watcher.reset();
  Sql(db, "INSERT INTO r VALUES (11)");
  auto again = StartWatcher(options);
  Collector after_restart;
  sub.after = Position{};
  ASSERT_TRUE(again->Subscribe(sub, after_restart.Handlers()).ok());
  ASSERT_TRUE(after_restart.WaitFor(11));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(after_restart.size(), 11u);
}

// Peak resident memory of this process in KiB.
int64_t PeakRssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6));
  }
  return 0;
}

TEST(CaptureTest, MillionRowTransactionStreamsWithBoundedMemory) {
  const int64_t rss_before_kb = PeakRssKb();
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE big (id int PRIMARY KEY, v text)");
  auto watcher = StartWatcher(OptionsFor(db));
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> commits{0};
  WatchHandlers h;
  h.on_change = [&](const WatchEvent&) { ++count; };
  h.on_commit = [&](const Commit& c) {
    EXPECT_EQ(c.change_count, 1000000u);
    ++commits;
  };
  Subscription sub;
  sub.table = "big";
  ASSERT_TRUE(watcher->Subscribe(sub, h).ok());
  Sql(db, "INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 1000000) g");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (commits == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(count.load(), 1000000u) << watcher->Health();
  EXPECT_EQ(commits.load(), 1u);
  // The transaction is about 60 MB of changes: it goes through the spool and the log, never
  // through memory whole (about 12 MiB of growth is typical here).
  const int64_t grown_mb = (PeakRssKb() - rss_before_kb) / 1024;
  fmt::print("peak RSS grew by {} MiB for a 1,000,000-row transaction\n", grown_mb);
  EXPECT_LT(grown_mb, 100);
  watcher->Stop();  // before the counters the handlers use go away
}

TEST(CaptureTest, StreamedTransactionWithRolledBackSavepoint) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE sp (id int PRIMARY KEY)");
  auto watcher = StartWatcher(OptionsFor(db));
  Collector got;
  Subscription sub;
  sub.table = "sp";
  ASSERT_TRUE(watcher->Subscribe(sub, got.Handlers()).ok());
  Sql(db,
      "BEGIN; INSERT INTO sp SELECT generate_series(1, 3000); SAVEPOINT a;"
      "INSERT INTO sp SELECT generate_series(3001, 6000); ROLLBACK TO SAVEPOINT a;"
      "INSERT INTO sp SELECT generate_series(6001, 7000); COMMIT;");
  Sql(db, "BEGIN; INSERT INTO sp SELECT generate_series(10001, 15000); ROLLBACK;");
  Sql(db, "INSERT INTO sp VALUES (0)");
  ASSERT_TRUE(got.WaitFor(4001)) << watcher->Health();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(got.size(), 4001u);
  simdjson::dom::parser p;
  std::set<int64_t> ids;
  for (const auto& j : got.Json()) {
    int64_t id = 0;
    EXPECT_FALSE(Parse(p, j)["key"]["id"].get(id));
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 4001u);
  EXPECT_EQ(ids.count(3001), 0u);
  EXPECT_EQ(ids.count(10001), 0u);
}

TEST(CaptureTest, FilteredDatabaseStillAdvancesTheSlot) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE watched (id int PRIMARY KEY); CREATE TABLE other (id int PRIMARY KEY)");
  auto options = OptionsFor(db);
  options.tables = {"public.watched"};
  auto watcher = StartWatcher(options);
  Sql(db, "INSERT INTO other SELECT generate_series(1, 20000)");
  std::string target = Query(db, "SELECT pg_current_wal_lsn()");
  bool advanced = false;
  for (int i = 0; i < 100 && !advanced; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    advanced = Query(db, fmt::format("SELECT confirmed_flush_lsn >= '{}' FROM pg_replication_slots "
                                     "WHERE slot_name = '{}'",
                                     target, options.slot)) == "t";
  }
  EXPECT_TRUE(advanced) << watcher->Health();
}

TEST(CaptureTest, PostgresRestartsUnderLoadLoseNothing) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE load (id int PRIMARY KEY)");
  auto watcher = StartWatcher(OptionsFor(db));
  Collector got;
  Subscription sub;
  sub.table = "load";
  ASSERT_TRUE(watcher->Subscribe(sub, got.Handlers()).ok());
  // Only ids whose commit returned are counted; a commit lost in a crash is retried.
  LoadWriter writer(db, "load", {.survive_restarts = true});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(Cluster().Restart(pg::StopMode::kFast).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  ASSERT_TRUE(Cluster().Restart(pg::StopMode::kImmediate).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  int n = writer.Stop();
  ASSERT_GT(n, 10);
  int rows = std::stoi(Query(db, "SELECT count(*) FROM load"));
  ASSERT_TRUE(got.WaitFor(static_cast<size_t>(rows), std::chrono::seconds(60)))
      << watcher->Health();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  simdjson::dom::parser p;
  std::set<int64_t> ids;
  for (const auto& j : got.Json()) {
    int64_t id = 0;
    EXPECT_FALSE(Parse(p, j)["key"]["id"].get(id));
    EXPECT_TRUE(ids.insert(id).second) << "duplicate " << id;
  }
  EXPECT_EQ(static_cast<int>(ids.size()), rows);
  for (int i = 1; i <= n; ++i) EXPECT_EQ(ids.count(i), 1u) << "missing " << i;
}

TEST(CaptureTest, SecondWatcherOnTheSlotWaitsThenTakesOver) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE lead (id int PRIMARY KEY)");
  auto leader = StartWatcher(OptionsFor(db, "shared"));
  auto standby_options = OptionsFor(db, "shared");
  auto standby = Watcher::Open(standby_options);
  ASSERT_TRUE(standby.ok());
  ASSERT_TRUE((*standby)->Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_NE((*standby)->Health().find("role=standby"), std::string::npos) << (*standby)->Health();
  Collector got;
  Subscription sub;
  sub.table = "lead";
  ASSERT_TRUE((*standby)->Subscribe(sub, got.Handlers()).ok());
  leader->Stop();
  leader.reset();
  ASSERT_TRUE((*standby)->WaitUntilStreaming(10000)) << (*standby)->Health();
  Sql(db, "INSERT INTO lead VALUES (1)");
  ASSERT_TRUE(got.WaitFor(1)) << (*standby)->Health();
}

TEST(CaptureTest, DroppedSlotGivesAClearError) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE d (id int PRIMARY KEY)");
  auto options = OptionsFor(db, "dropme");
  {
    auto watcher = StartWatcher(options);
    Collector got;
    ASSERT_TRUE(watcher->Subscribe(Subscription{}, got.Handlers()).ok());
    Sql(db, "INSERT INTO d VALUES (1)");
    ASSERT_TRUE(got.WaitFor(1));
    watcher->Stop();
  }
  Sql(db, "SELECT pg_drop_replication_slot('dropme')");
  auto watcher = Watcher::Open(options);
  ASSERT_TRUE(watcher.ok());
  ASSERT_TRUE((*watcher)->Start().ok());
  EXPECT_FALSE((*watcher)->WaitUntilStreaming(10000));
  std::string health = (*watcher)->Health();
  EXPECT_NE(health.find("does not exist"), std::string::npos) << health;
  EXPECT_NE(health.find("--recreate-slot"), std::string::npos) << health;
  (*watcher)->Stop();
  (*watcher).reset();

  options.recreate_slot = true;
  auto recreated = StartWatcher(options);
  Collector got;
  ASSERT_TRUE(recreated->Subscribe(Subscription{}, got.Handlers()).ok());
  Sql(db, "INSERT INTO d VALUES (2)");
  ASSERT_TRUE(got.WaitFor(1));
}

TEST(CaptureTest, SlotDroppedWhileCapturingStopsWithAClearError) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE dr (id int PRIMARY KEY)");
  auto options = OptionsFor(db, "dropped_live");
  auto watcher = StartWatcher(options);
  Collector got;
  ASSERT_TRUE(watcher->Subscribe(Subscription{}, got.Handlers()).ok());
  Sql(db, "INSERT INTO dr VALUES (1)");
  ASSERT_TRUE(got.WaitFor(1));
  // Behind eddy's back: end its walsender and drop the slot before it reconnects.
  bool dropped = false;
  for (int i = 0; i < 200 && !dropped; ++i) {
    auto conn = pg::Connection::Connect(db);
    ASSERT_TRUE(conn.ok());
    (void)(*conn)->Exec(
        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = "
        "'dropped_live' AND active_pid IS NOT NULL");
    dropped = (*conn)->Exec("SELECT pg_drop_replication_slot('dropped_live')").ok();
    if (!dropped) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(dropped);
  std::string health;
  for (int i = 0; i < 100; ++i) {
    health = watcher->Health();
    if (health.find("role=failed") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(health.find("role=failed"), std::string::npos) << health;
  EXPECT_NE(health.find("does not exist"), std::string::npos) << health;
  EXPECT_NE(health.find("--recreate-slot"), std::string::npos) << health;
}

}  // namespace
}  // namespace eddy::testing
