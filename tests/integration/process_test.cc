// The eddy binary and the example program as separate processes: kill -9 mid-stream and
// restart, a killed leader replaced by its standby, `eddy status`, and bad input at the CLI.

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

namespace eddy::testing {
namespace {

using Child = Subprocess;

std::vector<std::string> Eddy(std::initializer_list<std::string> args) {
  std::vector<std::string> v{EDDY_BINARY};
  v.insert(v.end(), args);
  return v;
}

int CountLines(const std::string& s, const std::string& needle) {
  int n = 0;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) n += line.find(needle) != std::string::npos;
  return n;
}

TEST(EddyProcessTest, KillNineMidStreamLosesAndDuplicatesNothing) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE k (id int PRIMARY KEY)");
  std::string data = TempDir();
  auto first = std::make_unique<Child>(Eddy({"--database", db, "--slot", "k9", "--data-dir", data,
                                             "tail", "--table", "k", "--detail", "id"}));
  // Rows committed before the slot exists are not eddy's to capture: wait for it.
  ASSERT_TRUE(WaitForActiveSlot(db, "k9")) << first->Output();
  // Writers commit while eddy is killed and restarted.
  LoadWriter writer(db, "k");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  first->Kill(SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto second = std::make_unique<Child>(Eddy({"--database", db, "--slot", "k9", "--data-dir", data,
                                              "tail", "--table", "k", "--detail", "id"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  second->Kill(SIGKILL);
  const int total = writer.Stop();
  ASSERT_GT(total, 10);
  // A third run catches up, then prints the whole log from the start.
  Child reader(Eddy({"--database", db, "--slot", "k9", "--data-dir", data, "tail", "--table", "k",
                     "--detail", "id", "--from", "start", "--count", std::to_string(total + 1),
                     "--timeout", "20"}));
  EXPECT_EQ(reader.Wait(std::chrono::seconds(60)), 0);
  std::string out = reader.Output();
  std::set<int> ids;
  int lines = 0;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    size_t at = line.find("\"key\":{\"id\":");
    if (at == std::string::npos) continue;
    ++lines;
    ids.insert(std::stoi(line.substr(at + 12)));
  }
  EXPECT_EQ(lines, total) << out.substr(0, 2000);
  EXPECT_EQ(static_cast<int>(ids.size()), total);
  EXPECT_EQ(*ids.begin(), 1);
  EXPECT_EQ(*ids.rbegin(), total);
}

TEST(EddyProcessTest, KilledLeaderIsReplacedByTheStandby) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE l (id int PRIMARY KEY)");
  Child leader(
      Eddy({"--database", db, "--slot", "lead", "--data-dir", TempDir(), "tail", "--table", "l"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  Child standby(Eddy({"--database", db, "--slot", "lead", "--data-dir", TempDir(), "tail",
                      "--table", "l", "--detail", "id"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  Sql(db, "INSERT INTO l VALUES (1)");
  ASSERT_TRUE(leader.WaitForOutput("\"id\":1", std::chrono::seconds(10))) << leader.Output();
  EXPECT_EQ(standby.Output().find("\"id\":1"), std::string::npos);
  leader.Kill(SIGKILL);
  auto killed_at = std::chrono::steady_clock::now();
  Sql(db, "INSERT INTO l VALUES (2)");
  ASSERT_TRUE(standby.WaitForOutput("\"id\":2", std::chrono::seconds(15))) << standby.Output();
  auto took = std::chrono::steady_clock::now() - killed_at;
  EXPECT_LT(took, std::chrono::seconds(5)) << "takeover is expected within 5 s";
}

// Two eddys on one source under a steady write load: the leader captures, the standby waits;
// kill -9 the leader and the standby takes over within 5 s. What the two printed together holds
// every committed row: the standby resumes from the slot's confirmed position, so nothing falls
// between them (rows the leader printed but had not confirmed come again: at least once).
TEST(EddyProcessTest, StandbyTakesOverUnderLoadAndTheConsumersSeeEveryChange) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE e (id int PRIMARY KEY)");
  auto tail = [&] {
    return Eddy({"--database", db, "--slot", "elect", "--data-dir", TempDir(), "tail", "--table",
                 "e", "--detail", "id"});
  };
  Child leader(tail());
  ASSERT_TRUE(WaitForActiveSlot(db, "elect")) << leader.Output();
  Child standby(tail());
  LoadWriter writer(db, "e", {.pause = std::chrono::milliseconds(2)});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(CountLines(standby.Output(), "\"key\""), 0) << "the standby must not capture";
  leader.Kill(SIGKILL);
  auto killed_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(standby.WaitForOutput("\"key\"", std::chrono::seconds(15))) << standby.Output();
  auto took = std::chrono::steady_clock::now() - killed_at;
  EXPECT_LT(took, std::chrono::seconds(5)) << "takeover is expected within 5 s";
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  const int total = writer.Stop();
  ASSERT_TRUE(standby.WaitForOutput(fmt::format("\"id\":{}}}", total), std::chrono::seconds(20)))
      << standby.Output().substr(0, 2000);
  std::set<int> ids;
  for (const std::string& out : {leader.Output(), standby.Output()}) {
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      size_t at = line.find("\"key\":{\"id\":");
      if (at != std::string::npos) ids.insert(std::stoi(line.substr(at + 12)));
    }
  }
  EXPECT_EQ(static_cast<int>(ids.size()), total);
  EXPECT_EQ(*ids.begin(), 1);
  EXPECT_EQ(*ids.rbegin(), total);
}

TEST(EddyProcessTest, StatusShowsSlotLagAndLeader) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE st (id int PRIMARY KEY)");
  std::string data = TempDir();
  Child running(Eddy({"--database", db, "--data-dir", data, "--slot", "st_slot", "tail"}));
  ASSERT_TRUE(WaitForActiveSlot(db, "st_slot", std::chrono::seconds(10))) << running.Output();
  Child status(Eddy({"--database", db, "--data-dir", data, "--slot", "st_slot", "status"}));
  EXPECT_EQ(status.Wait(std::chrono::seconds(20)), 0);
  std::string out = status.Output();
  EXPECT_NE(out.find("slot         st_slot: active"), std::string::npos) << out;
  EXPECT_NE(out.find("wal_status=reserved"), std::string::npos) << out;
  EXPECT_NE(out.find("bytes behind the server"), std::string::npos) << out;
  EXPECT_NE(out.find("leader       backend pid"), std::string::npos) << out;
}

TEST(EddyProcessTest, BadInputGetsAMessageThatSaysWhatToFix) {
  Child bad_url(
      Eddy({"--database", "postgresql://nobody@127.0.0.1:1/x", "--data-dir", TempDir(), "status"}));
  EXPECT_EQ(bad_url.Wait(std::chrono::seconds(20)), 2);
  EXPECT_NE(bad_url.Output().find("127.0.0.1"), std::string::npos) << bad_url.Output();

  std::string dir = TempDir();
  std::ofstream(dir + "/bad.toml") << "[capture]\nslot = 12\n";
  Child bad_toml(Eddy({"--config", dir + "/bad.toml", "--database", "host=x", "tail"}));
  EXPECT_EQ(bad_toml.Wait(std::chrono::seconds(20)), 2);
  EXPECT_NE(bad_toml.Output().find("capture.slot"), std::string::npos) << bad_toml.Output();

  std::ofstream(dir + "/broken.toml") << "[capture\nslot = 'a'\n";
  Child broken(Eddy({"--config", dir + "/broken.toml", "tail"}));
  EXPECT_EQ(broken.Wait(std::chrono::seconds(20)), 2);
  EXPECT_NE(broken.Output().find("line 1"), std::string::npos) << broken.Output();

  Child bad_slot(Eddy({"--database", "host=x", "--slot", "Bad-Slot", "tail"}));
  EXPECT_EQ(bad_slot.Wait(std::chrono::seconds(20)), 2);
  EXPECT_NE(bad_slot.Output().find("capture.slot"), std::string::npos) << bad_slot.Output();

  Child no_db(Eddy({"--data-dir", TempDir(), "tail"}), {"DATABASE_URL="});
  EXPECT_EQ(no_db.Wait(std::chrono::seconds(20)), 2);
  EXPECT_NE(no_db.Output().find("DATABASE_URL"), std::string::npos) << no_db.Output();

  std::string db = NewDatabase();
  Child bad_from(Eddy({"--database", db, "--slot", "bad_from", "--data-dir", TempDir(), "tail",
                       "--from", "yesterday"}));
  EXPECT_EQ(bad_from.Wait(std::chrono::seconds(20)), 2);
  EXPECT_NE(bad_from.Output().find("--from"), std::string::npos) << bad_from.Output();

  // eddy consume and eddy triggers: each bad flag is named, exit code 2, nothing started.
  struct BadFlags {
    std::vector<std::string> args;
    std::string expect;
  };
  for (const BadFlags& k : std::vector<BadFlags>{
           {{"consume"}, "--name is required"},
           {{"consume", "--name", "a b"}, "--name: \"a b\" is not a consumer name"},
           {{"consume", "--name", "a", "--lanes", "0"}, "--lanes: must be 1 to 256"},
           {{"consume", "--name", "a", "--parked", "bogus"}, "--parked: \"bogus\" is not list"},
           {{"--capture-mode", "wal", "tail"}, "capture.mode: \"wal\" is not a mode"},
       }) {
    std::vector<std::string> argv{EDDY_BINARY, "--database", "host=x", "--data-dir", TempDir()};
    argv.insert(argv.end(), k.args.begin(), k.args.end());
    Child child(argv);
    EXPECT_NE(child.Wait(std::chrono::seconds(20)), 0) << child.Output();
    EXPECT_NE(child.Output().find(k.expect), std::string::npos) << child.Output();
  }
}

TEST(ExampleTest, WatchSongsPrintsTransactions) {
  std::string db = NewDatabase();
  Sql(db, "CREATE TABLE songs (id bigserial PRIMARY KEY, title text, artist text, album text)");
  Child example({WATCH_SONGS_BINARY, TempDir(), "3"}, {"DATABASE_URL=" + db});
  ASSERT_TRUE(example.WaitForOutput("READY", std::chrono::seconds(30))) << example.Output();
  Sql(db,
      "BEGIN; INSERT INTO songs (title, artist, album) VALUES ('a', 'x', 'z'), ('b', 'y', 'z');"
      "COMMIT; UPDATE songs SET title = 'c' WHERE title = 'a'");
  EXPECT_EQ(example.Wait(std::chrono::seconds(30)), 0) << example.Output();
  std::string out = example.Output();
  EXPECT_EQ(CountLines(out, "BEGIN"), 2) << out;
  EXPECT_EQ(CountLines(out, "COMMIT"), 2) << out;
  EXPECT_NE(out.find("\"new\":{\"title\":\"a\",\"artist\":\"x\"}"), std::string::npos) << out;
  EXPECT_EQ(out.find("album"), std::string::npos) << out;
}

TEST(EddyProcessTest, DevStartsItsOwnDatabaseAndTails) {
  Child dev(Eddy({"--http", "127.0.0.1:0", "dev", "--schema-dir", EDDY_SCHEMA_DIR, "--count", "1",
                  "--timeout", "60"}),
            {"DATABASE_URL="});
  ASSERT_TRUE(dev.WaitForOutput("connect:  psql '", std::chrono::seconds(60))) << dev.Output();
  std::string out = dev.Output();
  size_t at = out.find("psql '") + 6;
  std::string url = out.substr(at, out.find('\'', at) - at);
  Sql(url, "INSERT INTO songs (title, artist) VALUES ('hello', 'eddy')");
  EXPECT_EQ(dev.Wait(std::chrono::seconds(30)), 0) << dev.Output();
  EXPECT_NE(dev.Output().find("public.songs"), std::string::npos) << dev.Output();
  EXPECT_NE(dev.Output().find("title=\"hello\""), std::string::npos) << dev.Output();
}

}  // namespace
}  // namespace eddy::testing
