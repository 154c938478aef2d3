#include "adapters/watch/hub.h"

#include <filesystem>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <unistd.h>

namespace eddy::watch {
namespace {

std::shared_ptr<const Table> Items() {
  auto t = std::make_shared<Table>();
  t->relation_id = RelationId(7);
  t->schema = "public";
  t->name = "items";
  t->columns = {Column{"id", 23, -1, "int4", TypeKind::kInt32, TypeKind::kText, true}};
  return t;
}

// Records the ids it is given, checking order.
class RecordingSubscriber final : public Subscriber {
 public:
  explicit RecordingSubscriber(Subscription s)
      : filter_(std::move(match::SubscriptionFilter::Compile(s)).value()) {}
  match::SubscriptionFilter& filter() override { return *filter_; }
  bool Allowed(const Change&) override { return true; }
  void OnReady(const Position& p) override {
    std::lock_guard<std::mutex> lock(mu);
    ready = p;
  }
  bool OnChange(const RenderedChange& c) override {
    std::lock_guard<std::mutex> lock(mu);
    positions.push_back(c.change.position);
    sse_bytes.push_back(c.sse);
    return true;
  }
  bool OnCommit(const RenderedCommit&) override {
    std::lock_guard<std::mutex> lock(mu);
    ++commits;
    return true;
  }
  void OnError(const Status& s) override {
    std::lock_guard<std::mutex> lock(mu);
    error = s;
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return positions.size();
  }

  std::mutex mu;
  Position ready;
  std::vector<Position> positions;
  std::vector<SharedBytes> sse_bytes;
  int commits = 0;
  Status error;

 private:
  std::unique_ptr<match::SubscriptionFilter> filter_;
};

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/eddy-hub-XXXXXX";
    dir_ = mkdtemp(tmpl);
    log::ChangeLogOptions o;
    o.dir = dir_;
    o.fsync = false;
    log_ = std::move(log::ChangeLog::Open(o, SystemClock())).value();
  }
  void TearDown() override {
    log_.reset();
    std::filesystem::remove_all(dir_);
  }
  // One transaction of one insert at LSN 100 * n.
  void Commit(int n) {
    Change c;
    c.position = Position{Lsn(100 * static_cast<uint64_t>(n)), 0};
    c.xid = Xid(static_cast<uint32_t>(n));
    c.table = table_;
    c.new_row = {Value::Text(std::to_string(n))};
    ASSERT_TRUE(log_->Append(c).ok());
    ASSERT_TRUE(log_->AppendCommit(Commit_{Xid(static_cast<uint32_t>(n)), c.position.commit_lsn,
                                           Lsn(100 * static_cast<uint64_t>(n) + 10), 0, 1})
                    .ok());
  }
  using Commit_ = eddy::Commit;
  bool WaitFor(RecordingSubscriber& s, size_t n) {
    for (int i = 0; i < 500 && s.size() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return s.size() >= n;
  }

  std::string dir_;
  std::unique_ptr<log::ChangeLog> log_;
  std::shared_ptr<const Table> table_ = Items();
};

TEST_F(HubTest, LiveSubscribersShareOneRenderingPerProjection) {
  Hub hub(*log_);
  ASSERT_TRUE(hub.Start().ok());
  Subscription s;
  s.table = "items";
  auto a = std::make_shared<RecordingSubscriber>(s);
  auto b = std::make_shared<RecordingSubscriber>(s);
  ASSERT_TRUE(hub.Add(a, std::nullopt).ok());
  ASSERT_TRUE(hub.Add(b, std::nullopt).ok());
  for (int n = 1; n <= 3; ++n) Commit(n);
  ASSERT_TRUE(log_->Sync().ok());
  ASSERT_TRUE(WaitFor(*a, 3) && WaitFor(*b, 3));
  EXPECT_EQ(a->sse_bytes[0].get(), b->sse_bytes[0].get());  // the same bytes, not a copy
  EXPECT_EQ(hub.Stats().renders, 3u);
  EXPECT_EQ(a->commits, 3);
  hub.Stop();
}

TEST_F(HubTest, ColumnValueFilterPicksOneRow) {
  Hub hub(*log_);
  ASSERT_TRUE(hub.Start().ok());
  Subscription s;
  s.table = "items";
  s.ops = {Op::kInsert};
  s.column = "id";
  s.column_value = "2";
  auto two = std::make_shared<RecordingSubscriber>(s);
  ASSERT_TRUE(hub.Add(two, std::nullopt).ok());
  for (int n = 1; n <= 3; ++n) Commit(n);
  ASSERT_TRUE(log_->Sync().ok());
  ASSERT_TRUE(WaitFor(*two, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(two->positions, (std::vector<Position>{{Lsn(200), 0}}));
  hub.Stop();
}

// A subscriber that resumes from an old position while new transactions keep arriving joins the
// live set with no gap and no duplicate.
TEST_F(HubTest, CatchUpJoinsTheLiveSetWithoutGapOrDuplicate) {
  for (int n = 1; n <= 200; ++n) Commit(n);
  ASSERT_TRUE(log_->Sync().ok());
  Hub hub(*log_);
  ASSERT_TRUE(hub.Start().ok());
  std::thread writer([&] {
    for (int n = 201; n <= 600; ++n) {
      Commit(n);
      if (n % 50 == 0) {
        ASSERT_TRUE(log_->Sync().ok());
      }
    }
    ASSERT_TRUE(log_->Sync().ok());
  });
  Subscription s;
  s.table = "items";
  std::vector<std::shared_ptr<RecordingSubscriber>> subs;
  for (int from : {0, 10, 150, 300}) {
    auto sub = std::make_shared<RecordingSubscriber>(s);
    Position after = from == 0 ? Position{} : Position{Lsn(100 * static_cast<uint64_t>(from)), 1};
    ASSERT_TRUE(hub.Add(sub, after).ok());
    subs.push_back(sub);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  writer.join();
  const std::vector<int> from = {0, 10, 150, 300};
  for (size_t i = 0; i < subs.size(); ++i) {
    const size_t expected = 600 - static_cast<size_t>(from[i]);
    ASSERT_TRUE(WaitFor(*subs[i], expected)) << "from " << from[i] << ": " << subs[i]->size();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::lock_guard<std::mutex> lock(subs[i]->mu);
    ASSERT_EQ(subs[i]->positions.size(), expected) << "from " << from[i];
    for (size_t k = 0; k < expected; ++k) {
      ASSERT_EQ(subs[i]->positions[k].commit_lsn.value(), 100 * (from[i] + 1 + k))
          << "from " << from[i] << " at " << k;
    }
  }
  hub.Stop();
}

}  // namespace
}  // namespace eddy::watch
