// The WatermelonDB face end to end with the real client: `eddy serve` against a real PostgreSQL,
// driven by @nozbe/watermelondb 0.28 under Node (tests/node/watermelon/*.mjs, LokiJS adapter).
// The tables and the config are the scripts' own (tests/node/watermelon/{schema.sql,eddy.toml}),
// so a manual run and this suite see the same server.

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace eddy::testing {
namespace {

using Proc = Subprocess;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// One database and one `eddy serve` for the suite; every script syncs tables of its own.
class WatermelonClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Status created = Cluster().CreateDatabase("watermelon_clients");
    ASSERT_TRUE(created.ok()) << created.ToString();
    db_ = new std::string(Cluster().Url("watermelon_clients"));
    // The tables exist before eddy starts: its config names them.
    Sql(*db_, ReadFile(std::string(EDDY_NODE_TESTS_DIR) + "/watermelon/schema.sql"));
    eddy_ = new Proc(EddyArgs("eddy.toml", "watermelon_clients", {"--open"}), {});
    const std::string url = WaitUntilServing(*eddy_);
    if (url.empty()) FAIL() << "eddy serve did not start: " << eddy_->Output();
    url_ = new std::string(url);
  }
  static void TearDownTestSuite() {
    delete eddy_;
    eddy_ = nullptr;
  }

  // `eddy serve` with tests/node/watermelon/<config> on the suite's database.
  static std::vector<std::string> EddyArgs(const std::string& config, const std::string& slot,
                                           const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {EDDY_BINARY, "--config"};
    argv.push_back(std::string(EDDY_NODE_TESTS_DIR) + "/watermelon/" + config);
    for (const std::string& arg :
         std::vector<std::string>{"--database", *db_, "--data-dir", TempDir(), "--slot", slot,
                                  "--http", "127.0.0.1:0"}) {
      argv.push_back(arg);
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("serve");
    return argv;
  }

  void SetUp() override {
    if (url_ == nullptr) GTEST_SKIP() << "eddy serve did not start (see the first failure)";
  }

  // Runs tests/node/watermelon/<script>; on failure the script's output and eddy's go into the
  // failure message.
  static int Node(const std::string& script, std::vector<std::string> env = {}) {
    return NodeAt(script, *url_, *eddy_, std::move(env));
  }

  static int NodeAt(const std::string& script, const std::string& url, const Proc& eddy,
                    std::vector<std::string> env = {}) {
    return RunNodeScript(EDDY_NODE_TESTS_DIR, "watermelon/" + script, url, *db_, std::move(env),
                         &eddy, std::chrono::seconds(240));
  }

  static std::string* db_;
  static std::string* url_;
  static Proc* eddy_;
};

std::string* WatermelonClientTest::db_ = nullptr;
std::string* WatermelonClientTest::url_ = nullptr;
Proc* WatermelonClientTest::eddy_ = nullptr;

TEST_F(WatermelonClientTest, FirstSyncPushSecondDeviceAndPsqlWriter) {
  EXPECT_EQ(Node("basic.mjs"), 0);
}

TEST_F(WatermelonClientTest, ConflictRetryWithPerColumnMergeAndLostPushAnswer) {
  EXPECT_EQ(Node("conflict.mjs"), 0);
}

TEST_F(WatermelonClientTest, CheckViolationBecomesARejectedId) {
  EXPECT_EQ(Node("rejected.mjs"), 0);
}

TEST_F(WatermelonClientTest, ADeletedRowNeverComesBack) { EXPECT_EQ(Node("resurrect.mjs"), 0); }

TEST_F(WatermelonClientTest, ARowCommittedLateBySlowTransactionStillArrives) {
  EXPECT_EQ(Node("slow.mjs"), 0);
}

TEST_F(WatermelonClientTest, MigrationSyncBackfillsNewColumnAndTable) {
  EXPECT_EQ(Node("migration.mjs"), 0);
}

TEST_F(WatermelonClientTest, ClientAheadOfTheWatermarkGetsAReplacementSync) {
  EXPECT_EQ(Node("replacement.mjs"), 0);
}

// Every commit at or below a pull's timestamp is in that pull, although PostgreSQL makes a commit
// visible a moment after the change stream may have delivered it.
// The meta follower waits until its batch's transactions are visible before it records them.
TEST_F(WatermelonClientTest, EveryCommitBelowThePullTimestampIsInThePull) {
  EXPECT_EQ(Node("visibility.mjs", {"VIS_SECONDS=10", "WRITERS=4", "VIS_CHECK=stale"}), 0);
}

// A first sync sends no row above its timestamp, so the next pull never sends a row the client
// already has as created again (WatermelonDB logs that as a likely server bug).
// A full pull sends only rows whose metadata is at or below its timestamp.
TEST_F(WatermelonClientTest, AFirstSyncSendsNothingTheNextPullCreatesAgain) {
  EXPECT_EQ(Node("visibility.mjs", {"VIS_SECONDS=10", "WRITERS=4", "VIS_CHECK=recreated"}), 0);
}

// A second eddy on the same database with [auth] and a scoped table (scoped.toml: its own slot
// and metadata schema): each user syncs only its rows, and rows move between users.
TEST_F(WatermelonClientTest, JwtScopesSplitRowsBetweenUsers) {
  Proc scoped(EddyArgs("scoped.toml", "watermelon_scoped"), {});
  const std::string url = WaitUntilServing(scoped);
  ASSERT_FALSE(url.empty()) << "eddy serve (scoped.toml) did not start: " << scoped.Output();
  EXPECT_EQ(
      NodeAt("scope.mjs", url, scoped, {"EDDY_JWT_SECRET=watermelon-scope-test-secret-0123456789"}),
      0);
}

// A third eddy (large.toml: wm_large only, pulls past 64 KiB streamed): a 50,000-row first
// sync and a 10,000-row incremental pull arrive chunked and gzipped and apply whole.
TEST_F(WatermelonClientTest, LargePullsAreStreamedAndApplyWhole) {
  Proc large(EddyArgs("large.toml", "watermelon_large", {"--open"}), {});
  const std::string url = WaitUntilServing(large);
  ASSERT_FALSE(url.empty()) << "eddy serve (large.toml) did not start: " << large.Output();
  EXPECT_EQ(NodeAt("large.mjs", url, large), 0);
}

// A device that syncs only when /v1/watermelon/changes says so gets psql's and another
// device's writes.
TEST_F(WatermelonClientTest, LiveNudgesDriveSynchronize) { EXPECT_EQ(Node("nudge.mjs"), 0); }

// Several clients and SQL writers, ending consistent on every client.
TEST_F(WatermelonClientTest, SoakOfClientsAndSqlWritersEndsConsistent) {
  EXPECT_EQ(Node("soak.mjs", {"SOAK_SECONDS=25", "CLIENTS=3", "SQL_WRITERS=2"}), 0);
}

}  // namespace
}  // namespace eddy::testing
