#include "log/change_log.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "unit/log/log_test_util.h"

namespace eddy::log {
namespace {

using namespace std::chrono_literals;
using testing::AppendTxn;
using testing::ExpectTxns;
using testing::FakeClock;
using testing::ReadAll;
using testing::ReadAllFrom;
using testing::SegmentFiles;
using testing::TempDir;
using testing::TestChange;
using testing::TestCommit;
using testing::TestTable;
using testing::TxnLsn;

ChangeLogOptions Options(const TempDir& dir, uint64_t segment_bytes = 64ull << 20) {
  ChangeLogOptions o;
  o.dir = dir.Sub("log");
  o.segment_bytes = segment_bytes;
  o.fsync = false;
  return o;
}

TEST(ChangeLogTest, RoundTripAndReopen) {
  TempDir dir;
  FakeClock clock;
  ChangeLogOptions options = Options(dir);
  options.fsync = true;
  {
    ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(options, clock));
    EXPECT_FALSE(log->LastDurableCommit().has_value());
    for (uint64_t txn = 1; txn <= 3; ++txn) ASSERT_OK(AppendTxn(*log, txn, 4));
    ASSERT_OK(log->Sync());
    ASSERT_TRUE(log->LastDurableCommit().has_value());
    EXPECT_EQ(log->LastDurableCommit()->commit_lsn, TxnLsn(3));
    ASSERT_OK_AND_ASSIGN(auto entries, ReadAllFrom(*log, Position{}));
    ExpectTxns(entries, 1, 3, 4);
    ASSERT_FALSE(entries.empty());
    const Table& t = *entries[0].change.table;
    EXPECT_EQ(t.QualifiedName(), "public.t16384");
    EXPECT_EQ(t.columns, TestTable()->columns);
    EXPECT_EQ(entries[0].change.new_row[2].kind, Value::Kind::kNull);
    EXPECT_EQ(entries[1].change.new_row[2].kind, Value::Kind::kUnchanged);
    EXPECT_EQ(entries[4].commit.end_lsn, Lsn(0x1010));
  }
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(options, clock));
  ASSERT_TRUE(log->LastDurableCommit().has_value());
  EXPECT_EQ(log->LastDurableCommit()->commit_lsn, TxnLsn(3));
  ASSERT_OK(AppendTxn(*log, 4, 2));
  ASSERT_OK(log->Sync());
  ASSERT_OK_AND_ASSIGN(auto entries, ReadAllFrom(*log, Position{}));
  EXPECT_EQ(entries.size(), 3u * 5 + 3);
  EXPECT_EQ(entries.back().commit.commit_lsn, TxnLsn(4));
}

TEST(ChangeLogTest, SecondWriterIsRefused) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(Options(dir), SystemClock()));
  auto second = ChangeLog::Open(Options(dir), SystemClock());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
}

TEST(ChangeLogTest, ReadsStrictlyAfterAnyPosition) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(Options(dir, 700), SystemClock()));
  for (uint64_t txn = 1; txn <= 6; ++txn) ASSERT_OK(AppendTxn(*log, txn, 4));
  ASSERT_OK(log->Sync());
  ASSERT_GT(SegmentFiles(dir.Sub("log")).size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto all, ReadAllFrom(*log, Position{}));
  ExpectTxns(all, 1, 6, 4);
  // After every entry (first, middle of a transaction, a commit, the last): exactly the suffix.
  for (size_t i = 0; i < all.size(); ++i) {
    SCOPED_TRACE(all[i].position().ToString());
    ASSERT_OK_AND_ASSIGN(auto suffix, ReadAllFrom(*log, all[i].position()));
    ASSERT_EQ(suffix.size(), all.size() - i - 1);
    for (size_t k = 0; k < suffix.size(); ++k) {
      EXPECT_EQ(suffix[k].position(), all[i + 1 + k].position());
    }
  }
  // Between entries and past the end.
  ASSERT_OK_AND_ASSIGN(auto between, ReadAllFrom(*log, Position{Lsn(0x1800), 0}));
  EXPECT_EQ(between.front().position(), (Position{TxnLsn(2), 0}));
  ASSERT_OK_AND_ASSIGN(auto past, log->NewReader(Position{Lsn(0x100000), 0}));
  ASSERT_OK_AND_ASSIGN(auto none, ReadAll(*past));
  EXPECT_TRUE(none.empty());
  // A reader past the end sees what comes later.
  ASSERT_OK(AppendTxn(*log, 0x200, 1));
  ASSERT_OK(log->Sync());
  ASSERT_OK_AND_ASSIGN(auto later, ReadAll(*past));
  ASSERT_EQ(later.size(), 2u);
  EXPECT_EQ(later[0].change.position.commit_lsn, TxnLsn(0x200));
}

TEST(ChangeLogTest, NothingIsReadableBeforeItsCommitIsDurable) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(Options(dir), SystemClock()));
  ASSERT_OK_AND_ASSIGN(auto reader, log->NewReader(Position{}));
  ASSERT_OK(log->Append(TestChange(TestTable(), 1, 0)));
  ASSERT_OK(log->Append(TestChange(TestTable(), 1, 1)));
  ASSERT_OK_AND_ASSIGN(auto e, reader->Next(0ms));
  EXPECT_FALSE(e.has_value());
  ASSERT_OK(log->AppendCommit(TestCommit(1, 2)));
  ASSERT_OK(log->Sync());
  ASSERT_OK_AND_ASSIGN(auto entries, ReadAll(*reader));
  ExpectTxns(entries, 1, 1, 2);
}

TEST(ChangeLogTest, RejectsOutOfOrderAppends) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(Options(dir), SystemClock()));
  auto table = TestTable();
  ASSERT_OK(AppendTxn(*log, 2, 2));
  EXPECT_EQ(log->Append(TestChange(table, 2, 1)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log->Append(TestChange(table, 1, 5)).code(), StatusCode::kInvalidArgument);
  ASSERT_OK(log->Append(TestChange(table, 3, 0)));
  EXPECT_EQ(log->Append(TestChange(table, 3, 0)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log->Append(TestChange(table, 4, 1)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log->AppendCommit(TestCommit(3, 5)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log->AppendCommit(TestCommit(4, 1)).code(), StatusCode::kInvalidArgument);
  Change narrow = TestChange(table, 3, 1);
  narrow.new_row.pop_back();
  EXPECT_EQ(log->Append(narrow).code(), StatusCode::kInvalidArgument);
  Change no_table = TestChange(table, 3, 1);
  no_table.table = nullptr;
  EXPECT_EQ(log->Append(no_table).code(), StatusCode::kInvalidArgument);
  ASSERT_OK(log->AppendCommit(TestCommit(3, 1)));
  // An empty transaction is fine.
  ASSERT_OK(log->AppendCommit(TestCommit(5, 0)));
  ASSERT_OK(log->Sync());
  ASSERT_OK_AND_ASSIGN(auto entries, ReadAllFrom(*log, Position{}));
  EXPECT_EQ(entries.size(), 3u + 2 + 1);
}

TEST(ChangeLogTest, DiscardUncommittedDropsTheOpenTransaction) {
  TempDir dir;
  ChangeLogOptions options = Options(dir);
  {
    ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(options, SystemClock()));
    ASSERT_OK(AppendTxn(*log, 1, 3));
    auto other = TestTable(99);
    ASSERT_OK(log->Append(TestChange(other, 2, 0)));  // writes a Table record for 99
    ASSERT_OK(log->Append(TestChange(other, 2, 1)));
    ASSERT_OK(log->DiscardUncommitted());
    // The same transaction again (PostgreSQL resends it), then a new one on table 99.
    ASSERT_OK(AppendTxn(*log, 2, 2));
    ASSERT_OK(AppendTxn(*log, 3, 2, other));
    ASSERT_OK(log->DiscardUncommitted());  // nothing open: no-op
    ASSERT_OK(log->Sync());
    ASSERT_OK_AND_ASSIGN(auto entries, ReadAllFrom(*log, Position{}));
    ASSERT_EQ(entries.size(), 4u + 3 + 3);
    EXPECT_EQ(entries[7].change.table->relation_id, RelationId(99));
  }
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(options, SystemClock()));
  ASSERT_OK_AND_ASSIGN(auto entries, ReadAllFrom(*log, Position{}));
  ASSERT_EQ(entries.size(), 10u);
  EXPECT_EQ(entries[7].change.table->relation_id, RelationId(99));
}

TEST(ChangeLogTest, RollsSegmentsAndReadsAcrossThem) {
  TempDir dir;
  ChangeLogOptions options = Options(dir, 1024);
  {
    ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(options, SystemClock()));
    ASSERT_OK_AND_ASSIGN(auto tail, log->NewReader(Position{}));
    for (uint64_t txn = 1; txn <= 40; ++txn) ASSERT_OK(AppendTxn(*log, txn, 5));
    // One transaction much bigger than a segment: rolls mid-transaction.
    ASSERT_OK(AppendTxn(*log, 41, 300));
    ASSERT_OK(AppendTxn(*log, 42, 1));
    ASSERT_OK(log->Sync());
    EXPECT_GT(SegmentFiles(options.dir).size(), 20u);
    ASSERT_OK_AND_ASSIGN(auto entries, ReadAll(*tail));
    EXPECT_EQ(entries.size(), 40u * 6 + 301 + 2);
    std::vector<LogEntry> first(entries.begin(), entries.begin() + 240);
    ExpectTxns(first, 1, 40, 5);
    for (size_t i = 1; i < entries.size(); ++i) {
      ASSERT_LT(entries[i - 1].position(), entries[i].position());
    }
  }
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(options, SystemClock()));
  ASSERT_OK_AND_ASSIGN(auto mid, ReadAllFrom(*log, Position{TxnLsn(41), 150}));
  ASSERT_EQ(mid.size(), 149u + 1 + 2);
  EXPECT_EQ(mid.front().position(), (Position{TxnLsn(41), 151}));
  ASSERT_OK(AppendTxn(*log, 43, 2));
  ASSERT_OK(log->Sync());
  ASSERT_OK_AND_ASSIGN(auto all, ReadAllFrom(*log, Position{}));
  EXPECT_EQ(all.size(), 40u * 6 + 301 + 2 + 3);
}

TEST(ChangeLogTest, DiscardAndRecoveryAcrossSegments) {
  TempDir dir;
  ChangeLogOptions options = Options(dir, 1024);
  {
    ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(options, SystemClock()));
    ASSERT_OK(AppendTxn(*log, 1, 3));
    size_t before = SegmentFiles(options.dir).size();
    for (uint32_t i = 0; i < 200; ++i) ASSERT_OK(log->Append(TestChange(TestTable(), 2, i)));
    EXPECT_GT(SegmentFiles(options.dir).size(), before + 5);
    ASSERT_OK(log->DiscardUncommitted());
    EXPECT_EQ(SegmentFiles(options.dir).size(), before);
    ASSERT_OK(AppendTxn(*log, 3, 2));
    // Crash with a big transaction open: the next Open drops it and its segments.
    for (uint32_t i = 0; i < 200; ++i) ASSERT_OK(log->Append(TestChange(TestTable(), 4, i)));
    ASSERT_OK(log->Sync());
  }
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(options, SystemClock()));
  EXPECT_EQ(log->LastDurableCommit()->commit_lsn, TxnLsn(3));
  ASSERT_OK(AppendTxn(*log, 5, 1));
  ASSERT_OK(log->Sync());
  ASSERT_OK_AND_ASSIGN(auto entries, ReadAllFrom(*log, Position{}));
  ASSERT_EQ(entries.size(), 4u + 3 + 2);
  EXPECT_EQ(entries[4].change.position, (Position{TxnLsn(3), 0}));
  EXPECT_EQ(entries[7].change.position, (Position{TxnLsn(5), 0}));
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& f : SegmentFiles(dir)) total += std::filesystem::file_size(f);
  return total;
}

TEST(ChangeLogTest, RetentionByBytes) {
  TempDir dir;
  ChangeLogOptions options = Options(dir, 1024);
  options.retention_bytes = 4096;
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(options, SystemClock()));
  ASSERT_OK(AppendTxn(*log, 1, 4));
  ASSERT_OK(log->Sync());
  ASSERT_OK_AND_ASSIGN(auto early, log->NewReader(Position{}));  // opens the first segment
  for (uint64_t txn = 2; txn <= 60; ++txn) ASSERT_OK(AppendTxn(*log, txn, 4));
  ASSERT_OK(log->Sync());
  uint64_t before = DirBytes(options.dir);
  ASSERT_OK(log->ApplyRetention());
  uint64_t after = DirBytes(options.dir);
  EXPECT_LT(after, before);
  EXPECT_GE(after, options.retention_bytes);
  EXPECT_LT(after, options.retention_bytes + 2 * options.segment_bytes);
  // The retained log is a suffix of whole transactions ending with the last one.
  ASSERT_OK_AND_ASSIGN(auto entries, ReadAllFrom(*log, Position{}));
  ASSERT_FALSE(entries.empty());
  uint64_t first_txn = entries.front().change.position.commit_lsn.value() / 0x1000;
  EXPECT_EQ(entries.front().change.position.index, 0u);
  EXPECT_GT(first_txn, 1u);
  ExpectTxns(entries, first_txn, 60, 4);
  // Too old a position is data loss; the one just before the oldest retained entry is not.
  auto old = log->NewReader(Position{TxnLsn(1), 0});
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(old.status().message().find("retention"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(auto ok_reader, log->NewReader(Position{TxnLsn(first_txn - 1), 4}));
  // A reader that was still on a removed segment reads what it has open, then reports data loss.
  Status status;
  while (true) {
    auto e = early->Next(0ms);
    if (!e.ok()) {
      status = e.status();
      break;
    }
    ASSERT_TRUE(e->has_value()) << "the early reader should hit the gap";
  }
  EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status.ToString();
}

TEST(ChangeLogTest, RetentionByAgeUsesTheNewestCommitTime) {
  TempDir dir;
  FakeClock clock;
  ChangeLogOptions options = Options(dir, 1024);
  options.retention_age_us = 30'000'000;
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(options, clock));
  for (uint64_t txn = 1; txn <= 60; ++txn) ASSERT_OK(AppendTxn(*log, txn, 4));  // t = txn s
  ASSERT_OK(log->Sync());
  clock.unix_us = 10'000'000;  // nothing is 30 s old yet
  ASSERT_OK(log->ApplyRetention());
  ASSERT_OK_AND_ASSIGN(auto all, ReadAllFrom(*log, Position{}));
  ExpectTxns(all, 1, 60, 4);
  clock.unix_us = 70'000'000;  // commits before 40 s are past the age
  ASSERT_OK(log->ApplyRetention());
  ASSERT_OK_AND_ASSIGN(auto entries, ReadAllFrom(*log, Position{}));
  uint64_t first_txn = entries.front().change.position.commit_lsn.value() / 0x1000;
  EXPECT_GT(first_txn, 20u);
  EXPECT_LE(first_txn, 40u);  // every segment with a commit at or after 40 s is kept
  ExpectTxns(entries, first_txn, 60, 4);
  // The flusher applies retention by itself once the steady clock has moved on.
  ASSERT_OK(AppendTxn(*log, 61, 1));
  ASSERT_OK(log->Sync());
  clock.unix_us = 1'000'000'000;
  clock.steady_us += 2 * ChangeLog::kRetentionIntervalUs;
  // Everything but the segment being written is past the age; the one before it stays only if
  // the current segment starts inside one of its transactions.
  for (int i = 0; i < 300 && SegmentFiles(options.dir).size() > 2; ++i) {
    std::this_thread::sleep_for(10ms);  // the flusher wakes at least once a second
  }
  EXPECT_LE(SegmentFiles(options.dir).size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto left, ReadAllFrom(*log, Position{}));
  EXPECT_EQ(left.front().change.position.index, 0u);
  EXPECT_GT(left.front().change.position.commit_lsn, TxnLsn(first_txn));
  EXPECT_EQ(left.back().commit.commit_lsn, TxnLsn(61));
}

TEST(ChangeLogTest, RetentionNeverStartsTheLogInsideATransaction) {
  TempDir dir;
  ChangeLogOptions options = Options(dir, 1024);
  options.retention_bytes = 1;
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(options, SystemClock()));
  for (uint64_t txn = 1; txn <= 40; ++txn) ASSERT_OK(AppendTxn(*log, txn, 1));  // boundary rolls
  ASSERT_OK(AppendTxn(*log, 41, 300));  // rolls inside itself: continuation segments
  ASSERT_OK(AppendTxn(*log, 42, 1));
  ASSERT_OK(log->Sync());
  size_t segments = SegmentFiles(options.dir).size();
  ASSERT_GT(segments, 5u);
  ASSERT_OK(log->ApplyRetention());
  // Segments go only up to the one where transaction 41 starts; all after it continue it.
  size_t left = SegmentFiles(options.dir).size();
  EXPECT_LT(left, segments);
  EXPECT_GT(left, 5u);
  ASSERT_OK_AND_ASSIGN(auto entries, ReadAllFrom(*log, Position{}));
  ASSERT_GE(entries.size(), 301u + 2 + 2);
  EXPECT_EQ(entries.front().change.position.index, 0u);
  uint64_t first_txn = entries.front().change.position.commit_lsn.value() / 0x1000;
  EXPECT_GT(first_txn, 1u);
  std::vector<LogEntry> ones(entries.begin(), entries.end() - 303);
  ExpectTxns(ones, first_txn, 40, 1);
  std::vector<LogEntry> big(entries.end() - 303, entries.end() - 2);
  ExpectTxns(big, 41, 41, 300);
}

TEST(ChangeLogTest, ConcurrentReadersTailTheWriter) {
  TempDir dir;
  ChangeLogOptions options = Options(dir, 16 << 10);
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(options, SystemClock()));
  std::atomic<uint64_t> durable_listener_lsn{0};
  log->SetDurableListener([&](const Commit& c) { durable_listener_lsn = c.commit_lsn.value(); });
  constexpr uint64_t kTxns = 1500;
  auto read = [&](std::vector<LogEntry>* out, Status* status) {
    auto reader = log->NewReader(Position{});
    if (!reader.ok()) {
      *status = reader.status();
      return;
    }
    while (true) {
      auto e = (*reader)->Next(5s);
      if (!e.ok()) {
        *status = e.status();
        return;
      }
      if (!e->has_value()) {
        *status = Internal("timed out");
        return;
      }
      out->push_back(std::move(**e));
      if (out->back().kind == LogEntry::Kind::kCommit &&
          out->back().commit.commit_lsn == TxnLsn(kTxns)) {
        return;
      }
    }
  };
  std::vector<LogEntry> a, b;
  Status sa, sb;
  std::thread ta(read, &a, &sa);
  std::thread tb(read, &b, &sb);
  for (uint64_t txn = 1; txn <= kTxns; ++txn) ASSERT_OK(AppendTxn(*log, txn, 2));
  ta.join();
  tb.join();
  ASSERT_OK(sa);
  ASSERT_OK(sb);
  ExpectTxns(a, 1, kTxns, 2);
  ExpectTxns(b, 1, kTxns, 2);
  ASSERT_OK(log->Sync());
  EXPECT_EQ(durable_listener_lsn.load(), TxnLsn(kTxns).value());
  EXPECT_GT(SegmentFiles(options.dir).size(), 3u);
}

TEST(ChangeLogTest, CloseAndCancelWakeWaitingReaders) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(Options(dir), SystemClock()));
  ASSERT_OK_AND_ASSIGN(auto r1, log->NewReader(Position{}));
  ASSERT_OK_AND_ASSIGN(auto r2, log->NewReader(Position{}));
  Status s1, s2;
  std::thread t1([&] { s1 = r1->Next(60s).status(); });
  std::thread t2([&] { s2 = r2->Next(60s).status(); });
  r1->Cancel();
  t1.join();
  EXPECT_EQ(s1.code(), StatusCode::kAborted);
  log->Close();
  t2.join();
  EXPECT_EQ(s2.code(), StatusCode::kAborted);
  EXPECT_EQ(log->Append(TestChange(TestTable(), 1, 0)).code(), StatusCode::kFailedPrecondition);
  log.reset();  // readers outlive the log
  EXPECT_EQ(r2->Next(0ms).status().code(), StatusCode::kAborted);
}

TEST(ChangeLogTest, OneMillionChangeTransactionWithBoundedReaderMemory) {
  TempDir dir;
  ChangeLogOptions options = Options(dir, 8 << 20);
  ASSERT_OK_AND_ASSIGN(auto log, ChangeLog::Open(options, SystemClock()));
  auto table = TestTable();
  constexpr uint32_t kChanges = 1'000'000;
  ASSERT_OK(AppendTxn(*log, 1, 1));
  Change c = TestChange(table, 2, 0);  // reused: never the whole transaction in memory
  for (uint32_t i = 0; i < kChanges; ++i) {
    c.position.index = i;
    c.new_row[0].text = std::to_string(i);
    ASSERT_OK(log->Append(c));
  }
  ASSERT_OK(log->AppendCommit(TestCommit(2, kChanges)));
  ASSERT_OK(AppendTxn(*log, 3, 1));
  ASSERT_OK(log->Sync());
  EXPECT_GT(SegmentFiles(options.dir).size(), 2u);  // rolled inside the transaction

  ASSERT_OK_AND_ASSIGN(auto reader, log->NewReader(Position{TxnLsn(1), 1}));
  uint32_t next = 0;
  size_t max_buffer = 0;
  while (true) {
    ASSERT_OK_AND_ASSIGN(auto e, reader->Next(0ms));
    ASSERT_TRUE(e.has_value());
    max_buffer = std::max(max_buffer, reader->buffer_capacity());
    if (e->kind == LogEntry::Kind::kCommit) {
      EXPECT_EQ(e->commit.change_count, kChanges);
      break;
    }
    ASSERT_EQ(e->change.position.index, next);
    if (next % 100'000 == 0) {
      ASSERT_EQ(e->change.new_row[0].text, std::to_string(next));
    }
    ++next;
  }
  EXPECT_EQ(next, kChanges);
  EXPECT_LE(max_buffer, 2u * RecordScanner::kReadChunk);
  ASSERT_OK_AND_ASSIGN(auto rest, ReadAll(*reader));
  EXPECT_EQ(rest.size(), 2u);
}

}  // namespace
}  // namespace eddy::log
