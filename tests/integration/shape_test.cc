// The Shape API end to end: `eddy serve` against a real PostgreSQL, driven by the real
// @electric-sql/client under Node (tests/node/shape/*.mjs), and behind nginx's proxy_cache.

#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <fmt/format.h>

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

  // Starts eddy serve with the suite's config and returns its base URL.
  static std::string Start(const std::string& db, const std::string& slot,
                           const std::string& data_dir, Proc** proc) {
    std::vector<std::string> argv = {EDDY_BINARY,
                                     "--config",
                                     *dir_ + "/eddy.toml",
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
    std::regex re("eddy serving (http://127\\.0\\.0\\.1:[0-9]+)");
    for (int i = 0; i < 300; ++i) {
      std::smatch m;
      std::string out = (*proc)->Output();
      if (std::regex_search(out, m, re) && out.find("capture: streaming") != std::string::npos) {
        return m[1];
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "eddy serve did not start: " << (*proc)->Output();
    return "";
  }

  static int Node(const std::string& script, std::vector<std::string> env = {}) {
    env.push_back("EDDY_URL=" + *url_);
    env.push_back("DATABASE_URL=" + *db_);
    Proc node({"node", script}, env, EDDY_NODE_TESTS_DIR);
    int rc = node.Wait(std::chrono::seconds(300));
    if (rc != 0) {
      ADD_FAILURE() << script << " exited " << rc << ":\n"
                    << node.Output() << "\n--- eddy ---\n"
                    << eddy_->Output().substr(0, 20000);
    }
    return rc;
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

}  // namespace
}  // namespace eddy::testing
