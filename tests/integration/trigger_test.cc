// Trigger mode (capture_mode = "triggers") against a real PostgreSQL 15: the same JSON as logical
// mode for the same SQL, big rows, rollbacks, changes made while eddy is stopped, kill -9 without
// duplicates, PostgreSQL restarts, partitioned tables, long names and `eddy triggers --cleanup`.

#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <signal.h>

#include "harness.h"
#include "outbox/trigger_names.h"

namespace eddy::testing {
namespace {

WatcherOptions TriggerOptionsFor(const std::string& conninfo) {
  WatcherOptions o = OptionsFor(conninfo);
  o.capture_mode = "triggers";
  o.fsync = false;
  o.triggers.poll_ms = 100;
  return o;
}

// A second database next to the test's own, for the logical-mode reference.
std::string NewDatabaseNamed(const std::string& name) {
  Status s = Cluster().CreateDatabase(name);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return Cluster().ConnInfo(name);
}

// The change JSON without what legitimately differs between the modes and runs.
std::string Comparable(const std::string& json) {
  static const std::regex kVolatile(R"x("(position|lsn|commit_time)":"[^"]*",?|"xid":[0-9]+,?)x");
  return std::regex_replace(json, kVolatile, "");
}

Subscription All() {
  Subscription s;
  s.detail = Detail::kFull;
  return s;
}

std::vector<std::string> Eddy(std::vector<std::string> args) {
  std::vector<std::string> v{EDDY_BINARY};
  v.insert(v.end(), args.begin(), args.end());
  return v;
}

const char* kSchema =
    "CREATE TYPE mood AS ENUM ('sad', 'happy');"
    "CREATE TABLE t (id int PRIMARY KEY, b bool, i2 int2, i8 int8, big int8, f4 float4, "
    "f8 float8, nan float8, n numeric, txt text, vc varchar(10), u uuid, d date, tm time, "
    "ttz timetz, ts timestamp, tstz timestamptz, iv interval, by bytea, j json, jb jsonb, "
    "arr int[], tarr text[], e mood, earr mood[], nul text, m money, "
    "twice int GENERATED ALWAYS AS (id * 2) STORED);"
    "CREATE TABLE full_t (id int PRIMARY KEY, v text);"
    "ALTER TABLE full_t REPLICA IDENTITY FULL;"
    "CREATE TABLE nokey (a int, b text);"
    "ALTER TABLE nokey REPLICA IDENTITY FULL;"
    "CREATE TABLE comp (a int, b text, v text, PRIMARY KEY (a, b));";

const char* kWorkload[] = {
    "INSERT INTO t VALUES (1, true, -7, 9007199254740991, 9007199254740993, 1.5, "
    "0.1, 'NaN', 12.3450, 'a \"q\" \\ b, (x)', 'vc', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
    "'2024-01-02', '03:04:05', '03:04:05+05:30', '2024-01-02 03:04:05.123456', "
    "'2024-01-02 03:04:05.5+00', '1 day 2 hours', '\\x0102ff', '{\"a\": [1, 2]}', "
    "'{\"b\": {\"c\": null}}', '{1,NULL,3}', '{\"x y\",NULL,\"NULL\"}', 'happy', "
    "'{sad,happy}', NULL, 12.5)",
    "INSERT INTO t (id, txt) VALUES (2, ''), (3, 'multi\nline\ttab')",
    "UPDATE t SET txt = 'changed', i8 = -9007199254740993 WHERE id = 1",
    "UPDATE t SET id = 10 WHERE id = 2",
    "DELETE FROM t WHERE id = 3",
    "BEGIN; INSERT INTO full_t VALUES (1, 'one'), (2, 'two'); UPDATE full_t SET v = 'uno' WHERE "
    "id = 1; DELETE FROM full_t WHERE id = 2; COMMIT",
    "INSERT INTO nokey VALUES (1, 'x'), (NULL, NULL)",
    "DELETE FROM nokey WHERE a = 1",
    "INSERT INTO comp VALUES (1, 'k', 'v')",
    "UPDATE comp SET v = 'w' WHERE a = 1",
    "DELETE FROM comp",
    // A row far past NOTIFY's 8000-byte payload limit (and TOASTed).
    "INSERT INTO full_t SELECT 3, string_agg(md5(i::text), '') FROM generate_series(1, 600) i",
    "TRUNCATE nokey",
    "ALTER TABLE comp ADD COLUMN extra int",
    "INSERT INTO comp VALUES (2, 'k', 'v', 42)",
};

// The test's database captured in trigger mode beside a reference database captured in logical
// mode, both with kSchema and each subscribed to every change.
struct BothModes {
  std::string db;         // trigger mode
  std::string reference;  // logical mode
  std::unique_ptr<Watcher> triggers;
  std::unique_ptr<Watcher> logical;
  Collector got;   // from `triggers`
  Collector want;  // from `logical`

  void Start(const std::string& reference_name, const std::string& reference_slot) {
    db = NewDatabase();
    reference = NewDatabaseNamed(reference_name);
    Sql(db, kSchema);
    Sql(reference, kSchema);
    triggers = StartWatcher(TriggerOptionsFor(db));
    logical = StartWatcher(OptionsFor(reference, reference_slot));
    ASSERT_TRUE(triggers && logical);
    ASSERT_TRUE(triggers->Subscribe(All(), got.Handlers()).ok());
    ASSERT_TRUE(logical->Subscribe(All(), want.Handlers()).ok());
  }

  // Waits for `expected` changes from both and compares them one by one.
  void ExpectSameJson(size_t expected) {
    ASSERT_TRUE(want.WaitFor(expected)) << logical->Health();
    ASSERT_TRUE(got.WaitFor(expected)) << triggers->Health();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto got_json = got.Json();
    auto want_json = want.Json();
    ASSERT_EQ(got_json.size(), want_json.size());
    for (size_t i = 0; i < want_json.size(); ++i) {
      EXPECT_EQ(Comparable(got_json[i]), Comparable(want_json[i])) << "change " << i;
    }
  }
};

TEST(TriggerTest, SameJsonAsLogicalModeForTheSameSql) {
  BothModes modes;
  ASSERT_NO_FATAL_FAILURE(modes.Start("trigger_reference_logical", "trigger_reference"));
  const std::string& db = modes.db;
  for (const char* sql : kWorkload) {
    Sql(db, sql);
    Sql(modes.reference, sql);
  }
  ASSERT_NO_FATAL_FAILURE(modes.ExpectSameJson(19));
  // Transactions stay whole: same begin/change/commit sequence.
  EXPECT_EQ(modes.got.Events(), modes.want.Events());
  // Outbox rows are deleted once durable.
  bool emptied = false;
  for (int i = 0; i < 100 && !emptied; ++i) {
    emptied = Query(db, "SELECT count(*) FROM eddy.outbox") == "0";
    if (!emptied) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(emptied);
}

// Writers print rows under their own settings; eddy prints the rows whose text depends on them
// again under its own, so the JSON still matches logical mode's.
TEST(TriggerTest, WriterSettingsDoNotChangeTheJson) {
  BothModes modes;
  ASSERT_NO_FATAL_FAILURE(modes.Start("trigger_reference_settings", "trigger_reference_settings"));
  const std::string& db = modes.db;
  const std::string& reference = modes.reference;
  // Settings that print some values differently: read back and printed again by eddy...
  const std::string reprinted =
      "SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres_verbose'; "
      "SET TimeZone = 'Asia/Kolkata'; SET extra_float_digits = 1; SET bytea_output = 'escape'; ";
  // ... and ones whose text cannot be read back exactly (zone abbreviations, rounded floats):
  // printed under eddy's settings in the trigger.
  const std::string printed_as_eddy =
      "SET DateStyle = 'SQL, DMY'; SET IntervalStyle = 'sql_standard'; "
      "SET TimeZone = 'Asia/Kolkata'; SET extra_float_digits = 0; SET bytea_output = 'escape'; ";
  int n = 0;
  for (const char* sql : kWorkload) {
    Sql(db, (n++ % 2 ? printed_as_eddy : reprinted) + sql);
    Sql(reference, sql);
  }
  Sql(db, reprinted +
              "INSERT INTO t (id, tstz, iv) VALUES (20, '2024-03-04 05:06:07+02', "
              "'-1 year 2 mons 3 days 04:05:06.5')");
  Sql(reference,
      "INSERT INTO t (id, tstz, iv) VALUES (20, '2024-03-04 05:06:07+02', "
      "'-1 year 2 mons 3 days 04:05:06.5')");
  // A writer with settings equivalent to eddy's: not reprinted.
  Sql(db,
      "SET DateStyle = 'ISO, DMY'; SET TimeZone = 'UTC'; SET IntervalStyle = 'iso_8601'; "
      "SET extra_float_digits = 2; UPDATE t SET f8 = 0.3, iv = '2 hours' WHERE id = 20");
  Sql(reference, "UPDATE t SET f8 = 0.3, iv = '2 hours' WHERE id = 20");
  modes.ExpectSameJson(21);
}

TEST(TriggerTest, RolledBackTransactionsYieldNothing) {
  const std::string db = NewDatabase();
  Sql(db, "CREATE TABLE r (id int PRIMARY KEY)");
  auto watcher = StartWatcher(TriggerOptionsFor(db));
  Collector got;
  ASSERT_TRUE(watcher->Subscribe(All(), got.Handlers()).ok());
  Sql(db, "BEGIN; INSERT INTO r VALUES (1); ROLLBACK");
  Sql(db,
      "BEGIN; INSERT INTO r VALUES (2); SAVEPOINT s; INSERT INTO r VALUES (3); "
      "ROLLBACK TO s; COMMIT");
  ASSERT_TRUE(got.WaitFor(1)) << watcher->Health();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  auto json = got.Json();
  ASSERT_EQ(json.size(), 1u);
  EXPECT_NE(json[0].find("\"key\":{\"id\":2}"), std::string::npos) << json[0];
}

// A writer that read the doorbell before eddy armed it does not ring; when it commits after
// eddy's read, eddy must still read it soon (it waits for the transactions in progress when it
// armed), not after triggers.poll_ms, here a minute.
TEST(TriggerTest, WriterThatMissedTheArmedDoorbellIsNotLeftForThePoll) {
  const std::string db = NewDatabase();
  Sql(db, "CREATE TABLE late (id int PRIMARY KEY)");
  WatcherOptions options = TriggerOptionsFor(db);
  options.triggers.poll_ms = 60000;
  auto watcher = StartWatcher(options);
  Collector got;
  ASSERT_TRUE(watcher->Subscribe(All(), got.Handlers()).ok());
  const std::string armed = "SELECT pg_sequence_last_value('eddy.doorbell') IS NULL";
  auto wait_until_armed = [&] {
    for (int i = 0; i < 300 && Query(db, armed) != "t"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return Query(db, armed) == "t";
  };
  ASSERT_TRUE(wait_until_armed());
  // Take the doorbell without ringing, so the writer below finds it unarmed and does not ring.
  Sql(db, "SELECT nextval('eddy.doorbell')");
  auto writer = pg::Connection::Connect(db);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ASSERT_TRUE((*writer)->Exec("BEGIN; INSERT INTO late VALUES (1)").ok());
  // Now ring: eddy arms again and reads while the writer is still open, then waits.
  Sql(db, "NOTIFY eddy_outbox");
  ASSERT_TRUE(wait_until_armed());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_TRUE((*writer)->Exec("COMMIT").ok());
  ASSERT_TRUE(got.WaitFor(1, std::chrono::seconds(20))) << watcher->Health();
}

TEST(TriggerTest, ChangesMadeWhileStoppedArriveAfterRestartOnce) {
  const std::string db = NewDatabase();
  Sql(db, "CREATE TABLE s (id int PRIMARY KEY)");
  WatcherOptions options = TriggerOptionsFor(db);
  {
    auto watcher = StartWatcher(options);
    Collector got;
    ASSERT_TRUE(watcher->Subscribe(All(), got.Handlers()).ok());
    Sql(db, "INSERT INTO s SELECT generate_series(1, 5)");
    ASSERT_TRUE(got.WaitFor(5)) << watcher->Health();
    watcher->Stop();
  }
  Sql(db, "INSERT INTO s SELECT generate_series(6, 10)");
  auto watcher = StartWatcher(options);
  Collector all;
  Subscription from_start = All();
  from_start.after = Position{};
  ASSERT_TRUE(watcher->Subscribe(from_start, all.Handlers()).ok());
  ASSERT_TRUE(all.WaitFor(10)) << watcher->Health();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(all.size(), 10u);
  auto positions = all.Positions();
  for (size_t i = 1; i < positions.size(); ++i) EXPECT_LT(positions[i - 1], positions[i]);
}

// Reads the ids of `tail --detail id` JSON lines.
std::vector<int> Ids(const std::string& out) {
  std::vector<int> ids;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    size_t at = line.find("\"key\":{\"id\":");
    if (at != std::string::npos) ids.push_back(std::stoi(line.substr(at + 12)));
  }
  return ids;
}

TEST(TriggerTest, KillNineMidStreamLosesAndDuplicatesNothing) {
  const std::string db = NewDatabase();
  Sql(db, "CREATE TABLE k (id int PRIMARY KEY)");
  const std::string data = TempDir();
  const std::vector<std::string> common = {"--database",     db,        "--data-dir", data,
                                           "--capture-mode", "triggers"};
  auto args = [&](std::vector<std::string> more) {
    std::vector<std::string> a = common;
    a.insert(a.end(), more.begin(), more.end());
    return Eddy(a);
  };
  auto first = std::make_unique<Subprocess>(args({"tail", "--table", "k", "--detail", "id"}));
  ASSERT_TRUE(first->WaitForOutput("capture: streaming outbox", std::chrono::seconds(30)))
      << first->Output();
  LoadWriter writer(db, "k");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  first->Kill(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto second = std::make_unique<Subprocess>(args({"tail", "--table", "k", "--detail", "id"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  second->Kill(SIGKILL);
  const int total = writer.Stop();
  ASSERT_GT(total, 10);
  Subprocess reader(args({"tail", "--table", "k", "--detail", "id", "--from", "start", "--count",
                          std::to_string(total + 1), "--timeout", "20"}));
  EXPECT_EQ(reader.Wait(std::chrono::seconds(60)), 0);
  std::vector<int> ids = Ids(reader.Output());
  std::set<int> unique(ids.begin(), ids.end());
  EXPECT_EQ(static_cast<int>(ids.size()), total) << reader.Output().substr(0, 2000);
  EXPECT_EQ(static_cast<int>(unique.size()), total);
}

TEST(TriggerTest, PostgresRestartsUnderLoadLoseNothing) {
  const std::string db = NewDatabase();
  Sql(db, "CREATE TABLE load (id int PRIMARY KEY)");
  auto watcher = StartWatcher(TriggerOptionsFor(db));
  Collector got;
  Subscription sub;
  sub.table = "load";
  ASSERT_TRUE(watcher->Subscribe(sub, got.Handlers()).ok());
  LoadWriter writer(db, "load", {.survive_restarts = true});
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(Cluster().Restart(pg::StopMode::kFast).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  ASSERT_TRUE(Cluster().Restart(pg::StopMode::kImmediate).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  const int n = writer.Stop();
  ASSERT_GT(n, 10);
  const int rows = std::stoi(Query(db, "SELECT count(*) FROM load"));
  ASSERT_TRUE(got.WaitFor(static_cast<size_t>(rows), std::chrono::seconds(60)))
      << watcher->Health();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::set<int> ids;
  for (const auto& j : got.Json()) {
    size_t at = j.find("\"key\":{\"id\":");
    ASSERT_NE(at, std::string::npos) << j;
    EXPECT_TRUE(ids.insert(std::stoi(j.substr(at + 12))).second) << "duplicate " << j;
  }
  EXPECT_EQ(static_cast<int>(ids.size()), rows);
  for (int i = 1; i <= n; ++i) EXPECT_EQ(ids.count(i), 1u) << "missing " << i;
}

TEST(TriggerTest, PartitionedTablesReportTheParent) {
  const std::string db = NewDatabase();
  Sql(db,
      "CREATE TABLE ev (id int, at date, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);"
      "CREATE TABLE ev_2024 PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');");
  auto watcher = StartWatcher(TriggerOptionsFor(db));
  // A partition created after eddy installed its trigger inherits it.
  Sql(db, "CREATE TABLE ev_2025 PARTITION OF ev FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')");
  Collector got;
  ASSERT_TRUE(watcher->Subscribe(All(), got.Handlers()).ok());
  Sql(db, "INSERT INTO ev VALUES (1, '2024-05-01', 'a'), (2, '2025-05-01', 'b')");
  Sql(db, "UPDATE ev SET v = 'c' WHERE id = 2");
  ASSERT_TRUE(got.WaitFor(3)) << watcher->Health();
  for (const std::string& j : got.Json()) {
    EXPECT_NE(j.find("\"table\":\"ev\""), std::string::npos) << j;
  }
  // One trigger set on the parent, none of eddy's own on partitions.
  EXPECT_EQ(Query(db,
                  "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'eddy\\_%' AND tgparentid = 0 "
                  "AND tgrelid = 'ev'::regclass"),
            "4");
}

TEST(TriggerTest, LongTableNamesGetDistinctLengthSafeTriggers) {
  const std::string db = NewDatabase();
  const std::string a = std::string(57, 'x') + "_alpha";  // 63 bytes, the most PostgreSQL keeps
  const std::string b = std::string(57, 'x') + "_beta";
  const std::string c = std::string(50, 'x') + "_\xC3\xA9t\xC3\xA9_new";  // made after start
  Sql(db, fmt::format("CREATE TABLE {} (id int PRIMARY KEY); CREATE TABLE {} (id int PRIMARY KEY)",
                      a, b));
  auto watcher = StartWatcher(TriggerOptionsFor(db));
  Collector got;
  ASSERT_TRUE(watcher->Subscribe(All(), got.Handlers()).ok());
  // The event trigger installs triggers on a new table in the creating transaction.
  Sql(db,
      fmt::format("CREATE TABLE \"{}\" (id int PRIMARY KEY); INSERT INTO \"{}\" VALUES (3)", c, c));
  Sql(db, fmt::format("INSERT INTO {} VALUES (1); INSERT INTO {} VALUES (2)", a, b));
  ASSERT_TRUE(got.WaitFor(3)) << watcher->Health();
  EXPECT_EQ(Query(db,
                  "SELECT count(DISTINCT tgname) FROM pg_trigger WHERE tgname LIKE 'eddy\\_%' "
                  "AND length(tgname) <= 63"),
            "12");
  // SQL and C++ compute the same names, so eddy recognises the event trigger's triggers.
  for (const std::string& t : {a, b, c}) {
    EXPECT_EQ(Query(db, fmt::format("SELECT eddy.trigger_name('update', '{}')", t)),
              outbox::TriggerName("eddy", Op::kUpdate, t));
  }
}

TEST(TriggerTest, CleanupRemovesStaleTriggers) {
  const std::string db = NewDatabase();
  Sql(db, "CREATE TABLE keep (id int PRIMARY KEY); CREATE TABLE gone (id int PRIMARY KEY)");
  {
    WatcherOptions options = TriggerOptionsFor(db);
    options.tables = {"public.keep", "public.gone"};
    auto watcher = StartWatcher(options);
    watcher->Stop();
  }
  EXPECT_EQ(Query(db, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'eddy\\_%'"), "8");
  const std::vector<std::string> base = {
      "--database", db, "--capture-mode", "triggers", "--capture-table", "public.keep"};
  auto run = [&](std::vector<std::string> more) {
    std::vector<std::string> a = base;
    a.insert(a.end(), more.begin(), more.end());
    auto p = std::make_unique<Subprocess>(Eddy(a));
    EXPECT_EQ(p->Wait(std::chrono::seconds(30)), 0) << p->Output();
    return p->Output();
  };
  const std::string listing = run({"triggers"});
  EXPECT_NE(listing.find("stale   public.gone eddy_insert_gone"), std::string::npos) << listing;
  EXPECT_NE(listing.find("active  public.keep eddy_insert_keep"), std::string::npos) << listing;
  const std::string cleaned = run({"triggers", "--cleanup"});
  EXPECT_NE(cleaned.find("dropped 4 stale trigger(s)"), std::string::npos) << cleaned;
  EXPECT_EQ(Query(db,
                  "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'eddy\\_%' "
                  "AND tgrelid = 'gone'::regclass"),
            "0");
  EXPECT_EQ(Query(db,
                  "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'eddy\\_%' "
                  "AND tgrelid = 'keep'::regclass"),
            "4");
}

TEST(TriggerTest, BadModeAndMissingOutboxGiveClearErrors) {
  const std::string db = NewDatabase();
  WatcherOptions options = TriggerOptionsFor(db);
  options.triggers.install = false;
  auto w = Watcher::Open(options);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Start().ok());
  EXPECT_FALSE((*w)->WaitUntilStreaming(10000));
  EXPECT_NE((*w)->Health().find("triggers.install is off"), std::string::npos) << (*w)->Health();
}

}  // namespace
}  // namespace eddy::testing
