#include "harness.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

namespace eddy::testing {
namespace {

std::vector<std::string>& TempDirs() {
  static std::vector<std::string> dirs;
  return dirs;
}

struct Cleanup {
  ~Cleanup() {
    for (const auto& d : TempDirs()) std::filesystem::remove_all(d);
  }
} cleanup;

}  // namespace

pg::ThrowawayCluster& Cluster() {
  static std::unique_ptr<pg::ThrowawayCluster> cluster = [] {
    pg::ThrowawayClusterOptions options;
    options.settings = {{"logical_decoding_work_mem", "'64kB'"},
                        {"max_connections", "200"}};
    auto c = pg::ThrowawayCluster::Start(options);
    if (!c.ok()) {
      fmt::print(stderr, "cannot start PostgreSQL: {}\n", c.status().ToString());
      std::abort();
    }
    return std::move(c).value();
  }();
  return *cluster;
}

std::string NewDatabase() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = fmt::format("{}_{}", info->test_suite_name(), info->name());
  std::transform(name.begin(), name.end(), name.begin(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  });
  name = name.substr(0, 60);
  Status s = Cluster().CreateDatabase(name);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return Cluster().ConnInfo(name);
}

void Sql(const std::string& conninfo, const std::string& sql) {
  auto conn = pg::Connection::Connect(conninfo);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  auto res = (*conn)->Exec(sql);
  ASSERT_TRUE(res.ok()) << sql << ": " << res.status().ToString();
}

std::string Query(const std::string& conninfo, const std::string& sql) {
  auto conn = pg::Connection::Connect(conninfo);
  EXPECT_TRUE(conn.ok()) << conn.status().ToString();
  if (!conn.ok()) return "";
  auto res = (*conn)->Exec(sql);
  EXPECT_TRUE(res.ok()) << sql << ": " << res.status().ToString();
  if (!res.ok() || res->rows() == 0) return "";
  return std::string(res->Get(0, 0));
}

std::string TempDir() {
  std::string tmpl = "/tmp/eddy-test-XXXXXX";
  char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  TempDirs().push_back(tmpl);
  return tmpl;
}

WatchHandlers Collector::Handlers() {
  WatchHandlers h;
  h.on_begin = [this](const TransactionBoundary&) {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back("begin");
  };
  h.on_change = [this](const WatchEvent& e) {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back("change");
    json_.emplace_back(e.json);
    positions_.push_back(e.change.position);
    cv_.notify_all();
  };
  h.on_commit = [this](const Commit&) {
    std::lock_guard<std::mutex> lock(mutex_);
    events_.push_back("commit");
    cv_.notify_all();
  };
  return h;
}

bool Collector::WaitFor(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return json_.size() >= n; });
}

std::vector<std::string> Collector::Json() {
  std::lock_guard<std::mutex> lock(mutex_);
  return json_;
}

std::vector<std::string> Collector::Events() {
  std::lock_guard<std::mutex> lock(mutex_);
  return events_;
}

std::vector<Position> Collector::Positions() {
  std::lock_guard<std::mutex> lock(mutex_);
  return positions_;
}

size_t Collector::size() {
  std::lock_guard<std::mutex> lock(mutex_);
  return json_.size();
}

WatcherOptions OptionsFor(const std::string& conninfo, const std::string& slot) {
  WatcherOptions o;
  o.database_url = conninfo;
  o.data_dir = TempDir();
  o.slot = slot;
  return o;
}

std::unique_ptr<Watcher> StartWatcher(const WatcherOptions& options) {
  auto w = Watcher::Open(options);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return nullptr;
  Status s = (*w)->Start();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE((*w)->WaitUntilStreaming(30000)) << (*w)->Health();
  return std::move(w).value();
}

}  // namespace eddy::testing
