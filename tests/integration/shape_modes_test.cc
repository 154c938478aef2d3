// The Shape API in other set-ups than the main suite's: over trigger-mode capture (the same
// real-client smoke test as in logical mode: shapes hold whatever source fills eddy's log, and
// the snapshot join uses transaction ids, which the outbox records too), and under a budget.

#include <fstream>
#include <regex>
#include <thread>

#include "harness.h"

namespace eddy::testing {
namespace {

TEST(ShapeModesTest, TheLeastRecentlyReadShapeGoesPastMaxShapes) {
  Status created = Cluster().CreateDatabase("shape_budget");
  ASSERT_TRUE(created.ok()) << created.ToString();
  const std::string db = Cluster().Url("shape_budget");
  const std::string dir = TempDir();
  std::ofstream(dir + "/eddy.toml") << "[shapes]\nmax_shapes = 2\nrelease_after_s = 1\n";
  Subprocess eddy({EDDY_BINARY, "--config", dir + "/eddy.toml", "--database", db, "--data-dir",
                   TempDir(), "--http", "127.0.0.1:0", "--open", "serve"},
                  {});
  const std::string url = WaitUntilServing(eddy);
  ASSERT_FALSE(url.empty()) << eddy.Output();
  Subprocess node({"node", "shape/budget.mjs"}, {"EDDY_URL=" + url, "DATABASE_URL=" + db},
                  EDDY_NODE_TESTS_DIR);
  EXPECT_EQ(node.Wait(std::chrono::seconds(90)), 0) << node.Output() << "\n--- eddy ---\n"
                                                    << eddy.Output().substr(0, 20000);
}

TEST(ShapeModesTest, TheRealClientSyncsInTriggerMode) {
  Status created = Cluster().CreateDatabase("shape_triggers");
  ASSERT_TRUE(created.ok()) << created.ToString();
  const std::string db = Cluster().Url("shape_triggers");
  Subprocess eddy({EDDY_BINARY, "--database", db, "--data-dir", TempDir(), "--http", "127.0.0.1:0",
                   "--open", "serve"},
                  {"EDDY_CAPTURE_MODE=triggers", "EDDY_TRIGGERS_SCHEMA=eddy_shapes"});
  const std::string url = WaitUntilServing(eddy);
  ASSERT_FALSE(url.empty()) << eddy.Output();
  Subprocess node({"node", "shape/smoke.mjs"}, {"EDDY_URL=" + url, "DATABASE_URL=" + db},
                  EDDY_NODE_TESTS_DIR);
  EXPECT_EQ(node.Wait(std::chrono::seconds(120)), 0) << node.Output() << "\n--- eddy ---\n"
                                                     << eddy.Output().substr(0, 20000);
}

}  // namespace
}  // namespace eddy::testing
