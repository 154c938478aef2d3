// The watch face end to end: `eddy serve` against a real PostgreSQL, driven by the real Node
// clients (eventsource, ws), headless Chromium (playwright-core), and 10,000 SSE subscribers.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#ifndef EDDY_WATCH_CAPTURE_MODE
#define EDDY_WATCH_CAPTURE_MODE "logical"
#endif

namespace eddy::testing {
namespace {

// Raises this process's open-file limit to the hard limit (inherited by children).
void RaiseFileLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

using Proc = Subprocess;

// One `eddy serve` for the suite, on a free port, with ad-hoc subscriptions on, and a second
// one with JWT auth.
class WatchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    RaiseFileLimit();
    db_ = new std::string(NewDatabaseNamed("watch_suite"));
    url_ = new std::string(Start(*db_, "watch_open", {"--open", "--allow-adhoc"}, &eddy_));
  }
  static void TearDownTestSuite() {
    delete eddy_;
    eddy_ = nullptr;
  }

  static std::string NewDatabaseNamed(const std::string& name) {
    Status s = Cluster().CreateDatabase(name);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return Cluster().Url(name);
  }

  // Starts eddy serve and returns its base URL.
  static std::string Start(const std::string& db, const std::string& slot,
                           std::vector<std::string> extra, Proc** proc) {
    std::vector<std::string> argv = {EDDY_BINARY, "--database", db,       "--data-dir", TempDir(),
                                     "--slot",    slot,         "--http", "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("serve");
    // The suite runs once per capture mode (CMake builds it twice); in trigger mode each eddy
    // gets its own outbox schema, as each gets its own slot in logical mode.
    std::vector<std::string> env;
    if (std::string(EDDY_WATCH_CAPTURE_MODE) == "triggers") {
      env = {"EDDY_CAPTURE_MODE=triggers", "EDDY_TRIGGERS_SCHEMA=" + slot};
    }
    *proc = new Proc(argv, env);
    // Serving, and capture streams, so that subscriptions see every change.
    std::string url = WaitUntilServing(**proc);
    if (url.empty()) ADD_FAILURE() << "eddy serve did not start: " << (*proc)->Output();
    return url;
  }

  // Runs one Node script; returns its exit code and prints its output on failure.
  static int Node(const std::string& script, const std::string& url, const std::string& db,
                  std::vector<std::string> env = {}) {
    return RunNodeScript(EDDY_NODE_TESTS_DIR, script, url, db, std::move(env));
  }

  static std::string* db_;
  static std::string* url_;
  static Proc* eddy_;
};

std::string* WatchTest::db_ = nullptr;
std::string* WatchTest::url_ = nullptr;
Proc* WatchTest::eddy_ = nullptr;

TEST_F(WatchTest, SseWithTheEventSourceClientIncludingLastEventIdResume) {
  EXPECT_EQ(Node("sse.mjs", *url_, *db_), 0) << eddy_->Output();
}

TEST_F(WatchTest, WebSocketProtocolWithTheWsClient) {
  EXPECT_EQ(Node("ws.mjs", *url_, *db_), 0) << eddy_->Output();
}

TEST_F(WatchTest, BadInputGetsFourHundredsNamingTheField) {
  EXPECT_EQ(Node("badinput.mjs", *url_, *db_), 0);
}

TEST_F(WatchTest, PageShowsARowInsertedWithPsqlInChromium) {
  if (!std::filesystem::exists("/usr/bin/chromium")) GTEST_SKIP() << "chromium is not installed";
  EXPECT_EQ(Node("page.mjs", *url_, *db_), 0);
}

TEST_F(WatchTest, SlowSubscriberIsDisconnectedAndResumesWithoutAGap) {
  EXPECT_EQ(Node("overflow.mjs", *url_, *db_), 0) << eddy_->Output().substr(0, 4000);
}

// A second eddy with configured watchers and JWT auth (HS256) with a row rule.
TEST_F(WatchTest, AuthRulesWatchersHealthAndMetrics) {
  const std::string secret = "an-hs256-secret-of-at-least-32-bytes!!";
  const std::string dir = TempDir();
  std::ofstream(dir + "/eddy.toml") << R"(
[watch]
allow_adhoc = false

[[watch.watchers]]
table = "public.songs_sec"
ops = ["insert", "update"]
label = "songs"
extra_columns = ["artist"]
trigger_columns = ["title"]

[[watch.watchers]]
table = "public.songs_sec"
ops = ["delete"]

[auth]
hs256_secret = ")" + secret + R"("

[[auth.rules]]
table = "public.songs_sec"
roles = ["user"]
row_claim = "sub"
row_column = "owner_id"
)";
  Proc* secured = nullptr;
  std::string url = Start(*db_, "watch_secured", {"--config", dir + "/eddy.toml"}, &secured);
  std::unique_ptr<Proc> owner(secured);
  ASSERT_FALSE(url.empty());
  EXPECT_EQ(Node("secured.mjs", url, *db_, {"EDDY_SECRET=" + secret}), 0)
      << secured->Output().substr(0, 4000);
}

// JWT RS256 with a public key file, end to end.
TEST_F(WatchTest, Rs256TokensWithAPublicKeyFile) {
  const std::string dir = TempDir();
  Subprocess gen({"openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                  "-out", dir + "/private.pem"});
  ASSERT_EQ(gen.Wait(std::chrono::seconds(60)), 0) << gen.Output();
  Subprocess pub(
      {"openssl", "pkey", "-in", dir + "/private.pem", "-pubout", "-out", dir + "/public.pem"});
  ASSERT_EQ(pub.Wait(std::chrono::seconds(60)), 0) << pub.Output();
  std::ofstream(dir + "/eddy.toml") << "[watch]\nallow_adhoc = true\n[auth]\n"
                                    << "rs256_public_key_file = \"" << dir << "/public.pem\"\n"
                                    << "[[auth.rules]]\ntable = \"*\"\nroles = [\"user\"]\n";
  Proc* rs = nullptr;
  std::string url = Start(*db_, "watch_rs256", {"--config", dir + "/eddy.toml"}, &rs);
  std::unique_ptr<Proc> owner(rs);
  ASSERT_FALSE(url.empty());
  EXPECT_EQ(
      Node("rs256.mjs", url, *db_,
           {"EDDY_PRIVATE_KEY=" + dir + "/private.pem", "EDDY_PUBLIC_KEY=" + dir + "/public.pem"}),
      0)
      << rs->Output().substr(0, 4000);
}

TEST_F(WatchTest, ConfigErrorsSayWhatToFix) {
  const std::string dir = TempDir();
  std::ofstream(dir + "/dup.toml") << R"(
[[watch.watchers]]
table = "songs"
ops = ["insert"]
[[watch.watchers]]
table = "songs"
ops = ["insert", "update"]
)";
  Proc dup({EDDY_BINARY, "--config", dir + "/dup.toml", "--database", *db_, "serve"}, {});
  EXPECT_EQ(dup.Wait(std::chrono::seconds(30)), 2);
  EXPECT_NE(dup.Output().find("distinct label"), std::string::npos) << dup.Output();
  std::ofstream(dir + "/noauth.toml") << "[watch]\nallow_adhoc = true\n";
  Proc noauth({EDDY_BINARY, "--config", dir + "/noauth.toml", "--database", *db_, "--data-dir",
               TempDir(), "--http", "127.0.0.1:0", "serve"},
              {});
  EXPECT_EQ(noauth.Wait(std::chrono::seconds(30)), 2);
  EXPECT_NE(noauth.Output().find("auth.hs256_secret"), std::string::npos) << noauth.Output();
}

TEST_F(WatchTest, TenThousandConcurrentSseSubscribers) {
  // eddy and the client each need one descriptor per connection.
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  const long count = std::min<long>(10000, static_cast<long>(r.rlim_cur) - 500);
  if (count < 10000) {
    fmt::print(stderr, "note: the open-file limit is {}; testing {} subscribers\n", r.rlim_cur,
               count);
  }
  EXPECT_EQ(Node("many.mjs", *url_, *db_, {fmt::format("COUNT={}", count)}), 0);
}

}  // namespace
}  // namespace eddy::testing
