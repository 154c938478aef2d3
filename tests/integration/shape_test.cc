// The Shape API end to end: `eddy serve` against a real PostgreSQL, driven by the real
// @electric-sql/client under Node (tests/node/shape/*.mjs), and behind nginx's proxy_cache.

#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <unistd.h>

#include "harness.h"

namespace eddy::testing {
namespace {

using Proc = Subprocess;

// One `eddy serve` for the suite with small chunks (so chunking shows), a short long-poll and
// DELETE allowed, as Electric's own client tests run it.
class ShapeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = new std::string(NewDatabaseNamed("shape_suite"));
    dir_ = new std::string(TempDir());
    std::ofstream(*dir_ + "/eddy.toml") << R"(
[shapes]
chunk_kb = 10
long_poll_timeout_ms = 3000
sse_timeout_ms = 10000
max_age_s = 1
stale_age_s = 3
allow_delete = true
)";
    url_ = new std::string(Start(*db_, "shape_open", *dir_, &eddy_));
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

  // Starts eddy serve with the suite's config (or `config`) and returns its base URL.
  static std::string Start(const std::string& db, const std::string& slot,
                           const std::string& data_dir, Proc** proc,
                           const std::string& config = "") {
    std::vector<std::string> argv = {EDDY_BINARY,
                                     "--config",
                                     config.empty() ? *dir_ + "/eddy.toml" : config,
                                     "--database",
                                     db,
                                     "--data-dir",
                                     data_dir,
                                     "--slot",
                                     slot,
                                     "--http",
                                     "127.0.0.1:0",
                                     "--open",
                                     "serve"};
    *proc = new Proc(argv, {});
    std::string url = WaitUntilServing(**proc);
    if (url.empty()) ADD_FAILURE() << "eddy serve did not start: " << (*proc)->Output();
    return url;
  }

  static int Node(const std::string& script, std::vector<std::string> env = {}) {
    return NodeAt(script, *url_, *db_, *eddy_, std::move(env));
  }

  // Runs a script against the eddy at `url` (whose output goes into failure messages).
  static int NodeAt(const std::string& script, const std::string& url, const std::string& db,
                    const Proc& eddy, std::vector<std::string> env = {}) {
    return RunNodeScript(EDDY_NODE_TESTS_DIR, script, url, db, std::move(env), &eddy);
  }

  static std::string* db_;
  static std::string* url_;
  static std::string* dir_;
  static Proc* eddy_;
};

std::string* ShapeTest::db_ = nullptr;
std::string* ShapeTest::url_ = nullptr;
std::string* ShapeTest::dir_ = nullptr;
Proc* ShapeTest::eddy_ = nullptr;

TEST_F(ShapeTest, ClientSyncsInitialRowsAndLiveChanges) { EXPECT_EQ(Node("shape/smoke.mjs"), 0); }

TEST_F(ShapeTest, EveryColumnTypeParsesAndTheSchemaHeaderDescribesIt) {
  EXPECT_EQ(Node("shape/types.mjs"), 0);
}

TEST_F(ShapeTest, WhereParamsColumnsReplicaFullOffsetNowAndJsonb) {
  EXPECT_EQ(Node("shape/where.mjs"), 0);
}

TEST_F(ShapeTest, ChangesOnlyWithSubsetSnapshotsOverGetAndPost) {
  EXPECT_EQ(Node("shape/subset.mjs"), 0);
}

TEST_F(ShapeTest, SseLiveModeSurvivesTheServersSseTimeout) {
  EXPECT_EQ(Node("shape/sse.mjs", {"SSE_TIMEOUT_S=10"}), 0);
}

TEST_F(ShapeTest, TruncateDeleteAndAddColumnMakeTheClientRefetch) {
  EXPECT_EQ(Node("shape/refetch.mjs"), 0);
}

TEST_F(ShapeTest, SmallChunksEtagsAndCacheHeaders) {
  EXPECT_EQ(Node("shape/chunks.mjs", {"CHUNK_KB=10"}), 0);
}

TEST_F(ShapeTest, BadRequestsGetElectricsErrorBodies) { EXPECT_EQ(Node("shape/badinput.mjs"), 0); }

TEST_F(ShapeTest, InitialSyncUnderConcurrentWritersEqualsSelect) {
  EXPECT_EQ(Node("shape/concurrent.mjs"), 0);
}

TEST_F(ShapeTest, MediaLibrarySchemaSyncsCompositeKeysAndArtistFilter) {
  EXPECT_EQ(Node("shape/media.mjs"), 0);  // schema/ of the repository
}

// Shapes and handles survive a restart of eddy serve: the client resumes at its offset, no 409.
// An eddy of its own (own database, data dir and slot), with DELETE left disabled.
TEST_F(ShapeTest, ShapesAndHandlesSurviveARestart) {
  const std::string db = NewDatabaseNamed("shape_restart");
  const std::string dir = TempDir();
  const std::string config = dir + "/eddy.toml";
  std::ofstream(config) << "[shapes]\nchunk_kb = 10\nlong_poll_timeout_ms = 3000\n";
  const std::string data = dir + "/data";
  const std::vector<std::string> env = {"TABLE=restarted", "STATE_FILE=" + dir + "/state.json",
                                        "DELETE_DISABLED=1"};
  Proc* first = nullptr;
  const std::string url1 = Start(db, "shape_restart", data, &first, config);
  std::unique_ptr<Proc> eddy1(first);
  ASSERT_FALSE(url1.empty());
  std::vector<std::string> env1 = env;
  env1.push_back("PHASE=1");
  ASSERT_EQ(NodeAt("shape/restart.mjs", url1, db, *eddy1, env1), 0);
  eddy1->Kill(SIGTERM);
  Sql(db, "INSERT INTO restarted VALUES (100, 'while down')");
  Proc* second = nullptr;
  const std::string url2 = Start(db, "shape_restart", data, &second, config);
  std::unique_ptr<Proc> eddy2(second);
  ASSERT_FALSE(url2.empty());
  std::vector<std::string> env2 = env;
  env2.push_back("PHASE=2");
  EXPECT_EQ(NodeAt("shape/restart.mjs", url2, db, *eddy2, env2), 0);
}

// nginx (Debian's package) in front of the suite's eddy with proxy_cache and proxy_cache_lock,
// honouring eddy's Cache-Control: ten clients live-polling one shape cost the origin about one
// request per live cycle.
TEST_F(ShapeTest, NginxProxyCacheCollapsesTenLivePollingClients) {
  const std::string nginx = "/usr/sbin/nginx";
  ASSERT_TRUE(std::filesystem::exists(nginx))
      << "nginx is missing: install the Debian package (scripts/install-deps.sh)";
  const std::string dir = TempDir();
  for (const char* sub : {"/cache", "/tmp"}) std::filesystem::create_directories(dir + sub);
  const int port = FreeLoopbackPort();
  ASSERT_GT(port, 0);
  const std::string origin = url_->substr(std::string("http://").size());
  std::ofstream(dir + "/nginx.conf")
      << fmt::format(R"(
{user}
worker_processes 1;
error_log {dir}/error.log info;
events {{ worker_connections 512; }}
http {{
  log_format edge '$upstream_cache_status|$upstream_addr|$status|$request_uri';
  access_log {dir}/access.log edge;
  client_body_temp_path {dir}/tmp/body;
  proxy_temp_path {dir}/tmp/proxy;
  fastcgi_temp_path {dir}/tmp/fastcgi;
  uwsgi_temp_path {dir}/tmp/uwsgi;
  scgi_temp_path {dir}/tmp/scgi;
  proxy_cache_path {dir}/cache levels=1:2 keys_zone=shapes:10m max_size=200m inactive=60s;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://{origin};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_read_timeout 60s;
      proxy_cache shapes;
      proxy_cache_lock on;
      proxy_cache_lock_timeout 10s;
      proxy_cache_lock_age 10s;
      proxy_cache_valid 200 5s;
      proxy_cache_key $scheme$proxy_host$request_uri;
      add_header x-cache $upstream_cache_status;
    }}
  }}
}}
)",
                     fmt::arg("user", geteuid() == 0 ? "user root;" : ""), fmt::arg("dir", dir),
                     fmt::arg("port", port), fmt::arg("origin", origin));
  Proc edge({nginx, "-e", dir + "/error.log", "-p", dir, "-c", dir + "/nginx.conf", "-g",
             "daemon off; pid " + dir + "/nginx.pid;"});
  const int rc = Node("shape/nginx.mjs", {fmt::format("NGINX_URL=http://127.0.0.1:{}", port),
                                          "NGINX_ACCESS_LOG=" + dir + "/access.log"});
  EXPECT_EQ(rc, 0) << "nginx: " << edge.Output();
  edge.Kill(SIGTERM);
}

// A second eddy with [auth] (HS256) and a row rule, plus Electric's shared secret: the client
// with a bearer token sees only its rows, and a WHERE cannot escape the rule.
TEST_F(ShapeTest, JwtRowRulesAndTheSharedSecretGuardShapes) {
  const std::string secret = "an-hs256-secret-of-at-least-32-bytes!!";
  const std::string dir = TempDir();
  std::ofstream(dir + "/eddy.toml") << R"(
[shapes]
secret = "electric-style-secret"
long_poll_timeout_ms = 3000

[auth]
hs256_secret = ")" + secret + R"("

[[auth.rules]]
table = "public.shape_owned"
roles = ["user"]
row_claim = "sub"
row_column = "owner"
)";
  std::vector<std::string> argv = {EDDY_BINARY,  "--config",   dir + "/eddy.toml", "--database",
                                   *db_,         "--data-dir", TempDir(),          "--slot",
                                   "shape_auth", "--http",     "127.0.0.1:0",      "serve"};
  Proc secured(argv, {});
  const std::string url = WaitUntilServing(secured);
  ASSERT_FALSE(url.empty()) << secured.Output();
  Proc node({"node", "shape/auth.mjs"},
            {"EDDY_URL=" + url, "DATABASE_URL=" + *db_, "EDDY_SECRET=" + secret,
             "EDDY_SHAPE_SECRET=electric-style-secret"},
            EDDY_NODE_TESTS_DIR);
  EXPECT_EQ(node.Wait(std::chrono::seconds(120)), 0) << node.Output() << "\n--- eddy ---\n"
                                                     << secured.Output().substr(0, 20000);
}

}  // namespace
}  // namespace eddy::testing
