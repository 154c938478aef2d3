// The Shape API over trigger-mode capture: the same real-client smoke test as in logical mode,
// so shapes hold whatever source fills eddy's log (the snapshot join uses transaction ids, which
// the outbox records too).

#include <regex>
#include <thread>

#include "harness.h"

namespace eddy::testing {
namespace {

TEST(ShapeModesTest, TheRealClientSyncsInTriggerMode) {
  Status created = Cluster().CreateDatabase("shape_triggers");
  ASSERT_TRUE(created.ok()) << created.ToString();
  const std::string db = Cluster().Url("shape_triggers");
  Subprocess eddy({EDDY_BINARY, "--database", db, "--data-dir", TempDir(), "--http", "127.0.0.1:0",
                   "--open", "serve"},
                  {"EDDY_CAPTURE_MODE=triggers", "EDDY_TRIGGERS_SCHEMA=eddy_shapes"});
  std::regex re("eddy serving (http://127\\.0\\.0\\.1:[0-9]+)");
  std::string url;
  for (int i = 0; i < 300 && url.empty(); ++i) {
    std::smatch m;
    std::string out = eddy.Output();
    if (std::regex_search(out, m, re) && out.find("capture: streaming") != std::string::npos) {
      url = m[1];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(url.empty()) << eddy.Output();
  Subprocess node({"node", "shape/smoke.mjs"}, {"EDDY_URL=" + url, "DATABASE_URL=" + db},
                  EDDY_NODE_TESTS_DIR);
  EXPECT_EQ(node.Wait(std::chrono::seconds(120)), 0) << node.Output() << "\n--- eddy ---\n"
                                                     << eddy.Output().substr(0, 20000);
}

}  // namespace
}  // namespace eddy::testing
