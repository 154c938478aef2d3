#include "deliver/consumer_core.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "deliver/parked_store.h"
#include "fake_change_feed.h"

namespace eddy::deliver {
namespace {

using testing::FakeChangeFeed;
using testing::FakeLog;

std::shared_ptr<const Table> TestTable() {
  static auto table = [] {
    auto t = std::make_shared<Table>();
    t->relation_id = RelationId(16384);
    t->schema = "public";
    t->name = "t";
    t->columns = {{"id", 23, -1, "int4", TypeKind::kInt32, TypeKind::kText, true},
                  {"v", 25, -1, "text", TypeKind::kText, TypeKind::kText, false}};
    return t;
  }();
  return table;
}

// Appends a one-change transaction: (op, id, v) at commit LSN `lsn`.
void AddTxn(FakeLog& log, uint64_t lsn, Op op, int id, const std::string& v) {
  FeedEntry e;
  e.change.position = Position{Lsn(lsn), 0};
  e.change.op = op;
  e.change.table = TestTable();
  std::vector<Value> row = {Value::Text(std::to_string(id)), Value::Text(v)};
  if (op == Op::kDelete) {
    e.change.old_row = row;
    e.change.old_kind = OldRow::kKey;
  } else if (op != Op::kTruncate) {
    e.change.new_row = row;
  }
  log.Append(e);
  FeedEntry c;
  c.kind = FeedEntry::Kind::kCommit;
  c.commit.commit_lsn = Lsn(lsn);
  c.commit.end_lsn = Lsn(lsn + 1);
  c.commit.change_count = 1;
  log.Append(c);
}

// What handlers saw, shared with the handlers (which may outlive a test's locals).
struct Seen {
  std::mutex mu;
  std::vector<std::pair<int, std::string>> calls;  // (id, v) of every handler call
  std::map<int, std::vector<std::string>> acked;   // id -> values acknowledged, in order
  void Add(int id, const std::string& v, bool ok) {
    std::lock_guard<std::mutex> lock(mu);
    calls.emplace_back(id, v);
    if (ok) acked[id].push_back(v);
  }
  size_t AckedCount() {
    std::lock_guard<std::mutex> lock(mu);
    size_t n = 0;
    for (auto& [id, vs] : acked) n += vs.size();
    return n;
  }
};

class ConsumerCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("eddy-consumer-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    options_.name = "c1";
    options_.data_dir = dir_.string();
    options_.lanes = 3;
    options_.max_attempts = 3;
    options_.backoff_min_ms = 0;
    options_.backoff_max_ms = 0;
    options_.from_start = true;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Handlers recording into `seen`; `fail(id, v, attempt)` says whether a call fails.
  ConsumerHandlers Handlers(std::shared_ptr<Seen> seen,
                            std::function<bool(int, const std::string&)> fail = nullptr) {
    ConsumerHandlers h;
    auto handle = [seen, fail](const Row& row) -> Status {
      int id = static_cast<int>(*row["id"].AsInt64());
      std::string v = row["v"].exists() ? *row["v"].AsString() : "";
      bool failed = fail && fail(id, v);
      seen->Add(id, v, !failed);
      return failed ? Unavailable("handler says no") : Status::Ok();
    };
    h.on_insert = handle;
    h.on_update = [handle](const Row& n, const Row&) { return handle(n); };
    h.on_delete = handle;
    return h;
  }

  std::unique_ptr<ConsumerCore> Start(std::shared_ptr<FakeLog> log, ConsumerHandlers h) {
    auto core = ConsumerCore::Open(options_, std::move(h), std::make_unique<FakeChangeFeed>(log));
    EXPECT_TRUE(core.ok()) << core.status().ToString();
    EXPECT_TRUE((*core)->Start().ok());
    return std::move(core).value();
  }

  template <class Pred>
  bool WaitUntil(Pred pred) {
    for (int i = 0; i < 2000; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pred();
  }

  std::filesystem::path dir_;
  ConsumerOptions options_;
};

TEST_F(ConsumerCoreTest, DeliversEveryChangeInCommitOrderPerKey) {
  auto log = std::make_shared<FakeLog>();
  for (int i = 0; i < 300; ++i) AddTxn(*log, 100 + i, Op::kUpdate, i % 7, std::to_string(i));
  auto seen = std::make_shared<Seen>();
  auto core = Start(log, Handlers(seen));
  ASSERT_TRUE(WaitUntil([&] { return seen->AckedCount() == 300; }));
  for (int id = 0; id < 7; ++id) {
    std::vector<std::string> want;
    for (int i = id; i < 300; i += 7) want.push_back(std::to_string(i));
    EXPECT_EQ(seen->acked[id], want) << "key " << id;
  }
  ASSERT_TRUE(WaitUntil([&] { return core->Stats().cursor == Position{Lsn(399), 1}; }));
  core->Stop();
  auto stored = log::CursorFile(dir_.string() + "/consumers/c1/cursor").Load();
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->position, (Position{Lsn(399), 1}));
  EXPECT_EQ((*stored)->end_lsn, Lsn(400));
}

TEST_F(ConsumerCoreTest, RetriesAFailingHandlerAndKeepsTheKeysOrder) {
  auto log = std::make_shared<FakeLog>();
  AddTxn(*log, 100, Op::kInsert, 1, "a");
  AddTxn(*log, 101, Op::kUpdate, 1, "b");
  auto seen = std::make_shared<Seen>();
  auto tries = std::make_shared<std::atomic<int>>(0);
  auto core = Start(log, Handlers(seen, [tries](int, const std::string& v) {
                      return v == "a" && ++*tries <= 2;  // fails twice, then succeeds
                    }));
  ASSERT_TRUE(WaitUntil([&] { return seen->AckedCount() == 2; }));
  std::vector<std::pair<int, std::string>> want = {{1, "a"}, {1, "a"}, {1, "a"}, {1, "b"}};
  EXPECT_EQ(seen->calls, want);
  EXPECT_EQ(core->Stats().failures, 2u);
  EXPECT_EQ(core->Stats().parked, 0u);
}

TEST_F(ConsumerCoreTest, ParksAFailingKeyWhileOtherKeysFlowThenReplaysInOrder) {
  auto log = std::make_shared<FakeLog>();
  AddTxn(*log, 100, Op::kInsert, 1, "a");
  AddTxn(*log, 101, Op::kInsert, 2, "x");
  AddTxn(*log, 102, Op::kUpdate, 1, "b");
  AddTxn(*log, 103, Op::kUpdate, 2, "y");
  AddTxn(*log, 104, Op::kUpdate, 1, "c");
  auto seen = std::make_shared<Seen>();
  auto broken = std::make_shared<std::atomic<bool>>(true);
  auto core = Start(log, Handlers(seen, [broken](int id, const std::string&) {
                      return id == 1 && broken->load();
                    }));
  ASSERT_TRUE(WaitUntil([&] { return core->Stats().parked == 3 && seen->AckedCount() == 2; }));
  EXPECT_EQ(seen->acked[2], (std::vector<std::string>{"x", "y"}));
  auto parked = core->ListParked();
  ASSERT_TRUE(parked.ok());
  ASSERT_EQ(parked->size(), 3u);
  EXPECT_EQ((*parked)[0].attempts, 3);
  EXPECT_NE((*parked)[0].error.find("handler says no"), std::string::npos);
  EXPECT_EQ((*parked)[1].attempts, 0);
  EXPECT_NE((*parked)[1].error.find("behind parked change"), std::string::npos);
  // Every change is finished: the cursor moved past the parked ones.
  ASSERT_TRUE(WaitUntil([&] { return core->Stats().cursor == Position{Lsn(104), 1}; }));

  // Still broken: the replay fails and keeps everything parked.
  EXPECT_FALSE(core->Replay((*parked)[0].id).ok());
  EXPECT_EQ(core->Stats().parked, 3u);
  EXPECT_EQ(core->ListParked()->front().attempts, 4);

  *broken = false;
  ASSERT_TRUE(core->Replay((*parked)[1].id).ok());  // replays #1 then #2, in order
  EXPECT_EQ(core->Stats().parked, 1u);
  ASSERT_TRUE(core->ReplayAll().ok());
  EXPECT_EQ(core->Stats().parked, 0u);
  EXPECT_EQ(seen->acked[1], (std::vector<std::string>{"a", "b", "c"}));
  // The key flows again.
  AddTxn(*log, 105, Op::kUpdate, 1, "d");
  ASSERT_TRUE(WaitUntil([&] { return seen->AckedCount() == 6; }));
  EXPECT_EQ(seen->acked[1].back(), "d");
}

TEST_F(ConsumerCoreTest, ParkedChangesSurviveARestartAndCanBeDiscarded) {
  auto log = std::make_shared<FakeLog>();
  AddTxn(*log, 100, Op::kInsert, 1, "a");
  AddTxn(*log, 101, Op::kInsert, 1, "b");
  auto seen = std::make_shared<Seen>();
  {
    auto core = Start(log, Handlers(seen, [](int, const std::string& v) { return v == "a"; }));
    ASSERT_TRUE(WaitUntil([&] { return core->Stats().parked == 2; }));
  }
  auto core = ConsumerCore::Open(options_, Handlers(seen), nullptr);  // offline
  ASSERT_TRUE(core.ok()) << core.status().ToString();
  auto parked = (*core)->ListParked();
  ASSERT_EQ(parked->size(), 2u);
  EXPECT_EQ(*Row(&(*parked)[0].change, &(*parked)[0].change.new_row)["v"].AsString(), "a");
  ASSERT_TRUE((*core)->Discard((*parked)[0].id).ok());
  ASSERT_TRUE((*core)->ReplayAll().ok());
  EXPECT_EQ(seen->acked[1], (std::vector<std::string>{"b"}));
  EXPECT_EQ((*core)->Stats().parked, 0u);
  EXPECT_EQ((*core)->Discard(12345).code(), StatusCode::kNotFound);
}

TEST_F(ConsumerCoreTest, ARestartDeliversWhatWasNotFinished) {
  auto log = std::make_shared<FakeLog>();
  AddTxn(*log, 100, Op::kInsert, 1, "a");
  AddTxn(*log, 101, Op::kInsert, 2, "x");
  auto seen = std::make_shared<Seen>();
  options_.max_attempts = 1000;
  options_.backoff_min_ms = 60'000;  // stuck in backoff until Stop
  options_.backoff_max_ms = 60'000;
  {
    auto core = Start(log, Handlers(seen, [](int id, const std::string&) { return id == 1; }));
    ASSERT_TRUE(WaitUntil([&] { return seen->AckedCount() == 1; }));
    EXPECT_EQ(core->Stats().in_flight, 1u);
  }  // Stop interrupts the backoff; key 1 is unfinished.
  AddTxn(*log, 102, Op::kInsert, 3, "z");
  auto seen2 = std::make_shared<Seen>();
  auto core = Start(log, Handlers(seen2));
  ASSERT_TRUE(WaitUntil([&] { return seen2->AckedCount() >= 3; }));
  EXPECT_EQ(seen2->acked[1], (std::vector<std::string>{"a"}));
  EXPECT_EQ(seen2->acked[3], (std::vector<std::string>{"z"}));
}

TEST_F(ConsumerCoreTest, ANewConsumerWithoutFromStartBeginsAtTheEnd) {
  auto log = std::make_shared<FakeLog>();
  AddTxn(*log, 100, Op::kInsert, 1, "old");
  options_.from_start = false;
  auto seen = std::make_shared<Seen>();
  auto core = Start(log, Handlers(seen));
  AddTxn(*log, 101, Op::kInsert, 1, "new");
  ASSERT_TRUE(WaitUntil([&] { return seen->AckedCount() == 1; }));
  EXPECT_EQ(seen->acked[1], (std::vector<std::string>{"new"}));
}

TEST_F(ConsumerCoreTest, ATruncateWaitsForEveryEarlierChange) {
  auto log = std::make_shared<FakeLog>();
  for (int i = 0; i < 20; ++i) AddTxn(*log, 100 + i, Op::kInsert, i, "v");
  AddTxn(*log, 200, Op::kTruncate, 0, "");
  auto seen = std::make_shared<Seen>();
  auto handlers = Handlers(seen);
  auto at_truncate = std::make_shared<std::atomic<size_t>>(0);
  handlers.on_truncate = [seen, at_truncate](const Change&) {
    *at_truncate = seen->AckedCount();
    return Status::Ok();
  };
  auto core = Start(log, handlers);
  ASSERT_TRUE(WaitUntil([&] { return core->Stats().cursor == Position{Lsn(200), 1}; }));
  EXPECT_EQ(at_truncate->load(), 20u);
}

TEST_F(ConsumerCoreTest, RejectsBadOptionsNamingTheField) {
  options_.name = "bad name!";
  auto core = ConsumerCore::Open(options_, {}, nullptr);
  ASSERT_FALSE(core.ok());
  EXPECT_NE(core.status().message().find("consumer.name"), std::string::npos);
  options_.name = "ok";
  options_.max_attempts = 0;
  EXPECT_NE(ConsumerCore::Open(options_, {}, nullptr).status().message().find("max_attempts"),
            std::string::npos);
}

TEST_F(ConsumerCoreTest, OneProcessPerConsumer) {
  auto first = ConsumerCore::Open(options_, {}, nullptr);
  ASSERT_TRUE(first.ok());
  auto second = ConsumerCore::Open(options_, {}, nullptr);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
}

TEST(ParkedStoreTest, EncodingRoundTripsAndDetectsDamage) {
  ParkedChange p;
  p.id = 9;
  p.attempts = 4;
  p.error = "boom";
  p.change.table = TestTable();
  p.change.position = Position{Lsn(0x1234), 2};
  p.change.op = Op::kUpdate;
  p.change.new_row = {Value::Text("1"), Value::Unchanged()};
  p.change.old_row = {Value::Text("1"), Value::Null()};
  p.change.old_kind = OldRow::kKey;
  std::string bytes = ParkedStore::Encode(p);
  auto back = ParkedStore::Decode(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->id, 9u);
  EXPECT_EQ(back->attempts, 4);
  EXPECT_EQ(back->error, "boom");
  EXPECT_EQ(back->change.new_row, p.change.new_row);
  EXPECT_EQ(back->change.position, p.change.position);
  EXPECT_EQ(back->change.table->QualifiedName(), "public.t");
  bytes[bytes.size() - 3] ^= 1;
  EXPECT_EQ(ParkedStore::Decode(bytes).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(ParkedStore::Decode("short").status().code(), StatusCode::kCorruption);
}

TEST(ParkedStoreTest, KeysSeparateValuesUnambiguously) {
  Change a;
  a.table = TestTable();
  a.op = Op::kInsert;
  a.new_row = {Value::Text("1"), Value::Text("x")};
  Change b = a;
  b.new_row = {Value::Text("1"), Value::Text("y")};  // same key, other value
  Change c = a;
  c.new_row = {Value::Text("12"), Value::Text("x")};
  EXPECT_EQ(KeyOf(a), KeyOf(b));
  EXPECT_NE(KeyOf(a), KeyOf(c));
}

}  // namespace
}  // namespace eddy::deliver
