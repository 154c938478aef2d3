#pragma once

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "eddy/clock.h"

#include "log/change_log.h"

namespace eddy::log::testing {

// A fresh directory under /tmp, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/eddy_log_test_XXXXXX";
    char* made = ::mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

class FakeClock final : public Clock {
 public:
  int64_t NowUnixMicros() const override { return unix_us.load(); }
  int64_t NowSteadyMicros() const override { return steady_us.load(); }
  std::atomic<int64_t> unix_us{1'700'000'000'000'000};
  std::atomic<int64_t> steady_us{1'000'000};
};

inline std::shared_ptr<const Table> TestTable(uint32_t relation = 16384, uint32_t version = 1) {
  auto t = std::make_shared<Table>();
  t->relation_id = RelationId(relation);
  t->schema = "public";
  t->name = "t" + std::to_string(relation);
  t->schema_version = version;
  t->columns = {{"id", 23, -1, "int4", TypeKind::kInt32, TypeKind::kText, true},
                {"body", 25, -1, "text", TypeKind::kText, TypeKind::kText, false},
                {"big", 25, -1, "text", TypeKind::kText, TypeKind::kText, false}};
  return t;
}

// Transaction number `txn` has commit lsn 0x1000 * txn, xid txn and commit time txn seconds.
inline Lsn TxnLsn(uint64_t txn) { return Lsn(0x1000 * txn); }

inline Change TestChange(const std::shared_ptr<const Table>& table, uint64_t txn, uint32_t index) {
  Change c;
  c.position = {TxnLsn(txn), index};
  c.xid = Xid(static_cast<uint32_t>(txn));
  c.commit_time_us = static_cast<int64_t>(txn) * 1'000'000;
  c.op = index % 3 == 2 ? Op::kUpdate : Op::kInsert;
  c.table = table;
  c.new_row = {Value::Text(std::to_string(index)), Value::Text("txn " + std::to_string(txn)),
               index % 2 == 0 ? Value::Null() : Value::Unchanged()};
  if (c.op == Op::kUpdate) {
    c.old_row = {Value::Text(std::to_string(index)), Value::Null(), Value::Null()};
    c.old_kind = OldRow::kKey;
  }
  return c;
}

inline Commit TestCommit(uint64_t txn, uint32_t changes) {
  return Commit{Xid(static_cast<uint32_t>(txn)), TxnLsn(txn), Lsn(0x1000 * txn + 0x10),
                static_cast<int64_t>(txn) * 1'000'000, changes};
}

// Appends transaction `txn` with `changes` changes and commits it.
inline Status AppendTxn(ChangeLog& log, uint64_t txn, uint32_t changes,
                        const std::shared_ptr<const Table>& table = TestTable()) {
  for (uint32_t i = 0; i < changes; ++i)
    EDDY_RETURN_IF_ERROR(log.Append(TestChange(table, txn, i)));
  return log.AppendCommit(TestCommit(txn, changes));
}

// Reads everything currently durable (stops at the first timeout of `wait`).
inline Result<std::vector<LogEntry>> ReadAll(
    LogReader& reader, std::chrono::milliseconds wait = std::chrono::milliseconds(0)) {
  std::vector<LogEntry> out;
  while (true) {
    EDDY_ASSIGN_OR_RETURN(std::optional<LogEntry> e, reader.Next(wait));
    if (!e) return out;
    out.push_back(std::move(*e));
  }
}

inline Result<std::vector<LogEntry>> ReadAllFrom(ChangeLog& log, Position after) {
  EDDY_ASSIGN_OR_RETURN(auto reader, log.NewReader(after));
  return ReadAll(*reader);
}

// Checks that `entries` are exactly transactions [first, last] with `changes` changes each.
inline void ExpectTxns(const std::vector<LogEntry>& entries, uint64_t first, uint64_t last,
                       uint32_t changes) {
  size_t i = 0;
  for (uint64_t txn = first; txn <= last; ++txn) {
    for (uint32_t k = 0; k < changes; ++k, ++i) {
      ASSERT_LT(i, entries.size());
      ASSERT_EQ(entries[i].kind, LogEntry::Kind::kChange) << "txn " << txn << " change " << k;
      const Change& got = entries[i].change;
      Change want = TestChange(got.table, txn, k);
      EXPECT_EQ(got.position, want.position);
      EXPECT_EQ(got.xid, want.xid);
      EXPECT_EQ(got.op, want.op);
      EXPECT_EQ(got.new_row, want.new_row);
      EXPECT_EQ(got.old_row, want.old_row);
    }
    ASSERT_LT(i, entries.size());
    ASSERT_EQ(entries[i].kind, LogEntry::Kind::kCommit) << "txn " << txn;
    EXPECT_EQ(entries[i].commit.commit_lsn, TxnLsn(txn));
    EXPECT_EQ(entries[i].commit.change_count, changes);
    ++i;
  }
  EXPECT_EQ(i, entries.size());
}

inline std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

#define ASSERT_OK(expr)                                                  \
  do {                                                                   \
    ::eddy::Status assert_ok_status_ = (expr);                           \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_.ToString(); \
  } while (0)

#define ASSERT_OK_AND_ASSIGN(lhs, expr)                           \
  auto EDDY_CONCAT_(assign_tmp_, __LINE__) = (expr);              \
  ASSERT_TRUE(EDDY_CONCAT_(assign_tmp_, __LINE__).ok())           \
      << EDDY_CONCAT_(assign_tmp_, __LINE__).status().ToString(); \
  lhs = std::move(EDDY_CONCAT_(assign_tmp_, __LINE__)).value()

}  // namespace eddy::log::testing
