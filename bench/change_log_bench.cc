// Change log throughput: append+commit (fsync on, group commit) and sequential reads.
//   change_log_bench --benchmark_filter=...   (uses a fresh directory under /tmp per run)
#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>

#include <benchmark/benchmark.h>
#include <unistd.h>

#include "eddy/clock.h"

#include "change/binary_codec.h"
#include "log/change_log.h"

namespace eddy::log {
namespace {

std::string MakeTempDir() {
  std::string tmpl = "/tmp/eddy_log_bench_XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

std::shared_ptr<const Table> BenchTable() {
  auto t = std::make_shared<Table>();
  t->relation_id = RelationId(16384);
  t->schema = "public";
  t->name = "orders";
  t->columns = {{"id", 20, -1, "int8", TypeKind::kInt64, TypeKind::kText, true},
                {"customer", 25, -1, "text", TypeKind::kText, TypeKind::kText, false},
                {"amount", 1700, -1, "numeric", TypeKind::kNumeric, TypeKind::kText, false},
                {"note", 25, -1, "text", TypeKind::kText, TypeKind::kText, false}};
  return t;
}

Change BenchChange(const std::shared_ptr<const Table>& table) {
  Change c;
  c.xid = Xid(1);
  c.commit_time_us = 1'700'000'000'000'000;
  c.op = Op::kInsert;
  c.table = table;
  c.new_row = {Value::Text("1234567"), Value::Text("customer-42"), Value::Text("199.95"),
               Value::Text("a typical short note on an order row")};
  return c;
}

// Appends `txns` transactions of `per_txn` changes, starting at transaction number `first`.
void AppendTxns(ChangeLog& log, Change& c, uint64_t first, uint64_t txns, uint32_t per_txn) {
  for (uint64_t t = first; t < first + txns; ++t) {
    c.position.commit_lsn = Lsn(t * 0x100);
    for (uint32_t i = 0; i < per_txn; ++i) {
      c.position.index = i;
      if (!log.Append(c).ok()) std::abort();
    }
    Commit commit{Xid(1), Lsn(t * 0x100), Lsn(t * 0x100 + 8), c.commit_time_us, per_txn};
    if (!log.AppendCommit(commit).ok()) std::abort();
  }
}

// Append+commit with fsync on: the writer never waits for the flusher (group commit), so the
// number measures how fast commits are accepted; Sync() at the end makes them all durable.
void BM_AppendCommit(benchmark::State& state) {
  const uint32_t per_txn = static_cast<uint32_t>(state.range(0));
  const bool fsync = state.range(1) != 0;
  std::string dir = MakeTempDir();
  ChangeLogOptions options;
  options.dir = dir + "/log";
  options.fsync = fsync;
  auto log = ChangeLog::Open(options, SystemClock());
  if (!log.ok()) std::abort();
  std::atomic<uint64_t> syncs{0};
  (*log)->SetDurableListener([&](const Commit&) { syncs.fetch_add(1); });
  Change c = BenchChange(BenchTable());
  uint64_t txn = 1;
  const uint64_t batch = per_txn >= 1000 ? 1 : 1000;
  for (auto _ : state) {
    AppendTxns(**log, c, txn, batch, per_txn);
    txn += batch;
  }
  if (!(*log)->Sync().ok()) std::abort();
  state.SetItemsProcessed(static_cast<int64_t>((txn - 1) * per_txn));
  state.counters["txns/s"] =
      benchmark::Counter(static_cast<double>(txn - 1), benchmark::Counter::kIsRate);
  state.counters["syncs"] = static_cast<double>(syncs.load());
  log->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_AppendCommit)
    ->ArgsProduct({{1, 1000}, {1}})
    ->ArgNames({"changes_per_txn", "fsync"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_AppendCommit)
    ->ArgsProduct({{1, 1000}, {0}})
    ->ArgNames({"changes_per_txn", "fsync"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Durable latency: each commit waits for its own sync (what a single-row workload with a
// blocking caller would see).
void BM_CommitAndSync(benchmark::State& state) {
  std::string dir = MakeTempDir();
  ChangeLogOptions options;
  options.dir = dir + "/log";
  auto log = ChangeLog::Open(options, SystemClock());
  if (!log.ok()) std::abort();
  Change c = BenchChange(BenchTable());
  uint64_t txn = 1;
  for (auto _ : state) {
    AppendTxns(**log, c, txn++, 1, 1);
    if (!(*log)->Sync().ok()) std::abort();
  }
  state.SetItemsProcessed(static_cast<int64_t>(txn - 1));
  log->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_CommitAndSync)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Sequential read of 1,000,000 durable changes (transactions of 100), decoding every entry.
void BM_Read(benchmark::State& state) {
  std::string dir = MakeTempDir();
  ChangeLogOptions options;
  options.dir = dir + "/log";
  options.fsync = false;
  options.segment_bytes = 16 << 20;
  auto log = ChangeLog::Open(options, SystemClock());
  if (!log.ok()) std::abort();
  Change c = BenchChange(BenchTable());
  constexpr uint64_t kTxns = 10'000;
  constexpr uint32_t kPerTxn = 100;
  AppendTxns(**log, c, 1, kTxns, kPerTxn);
  if (!(*log)->Sync().ok()) std::abort();
  uint64_t changes = 0;
  for (auto _ : state) {
    auto reader = (*log)->NewReader(Position{});
    if (!reader.ok()) std::abort();
    while (true) {
      auto e = (*reader)->Next(std::chrono::milliseconds(0));
      if (!e.ok()) std::abort();
      if (!e->has_value()) break;
      if ((*e)->kind == LogEntry::Kind::kChange) ++changes;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(changes));
  log->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_Read)->Unit(benchmark::kMillisecond)->UseRealTime();

// The codec alone: encode + decode one change.
void BM_CodecRoundTrip(benchmark::State& state) {
  auto table = BenchTable();
  Change c = BenchChange(table);
  change::TableLookup lookup = [&](RelationId, uint32_t) { return table; };
  std::string buf;
  for (auto _ : state) {
    buf.clear();
    change::EncodeChange(c, &buf);
    auto d = change::DecodeChange(buf, lookup);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CodecRoundTrip);

}  // namespace
}  // namespace eddy::log

BENCHMARK_MAIN();
