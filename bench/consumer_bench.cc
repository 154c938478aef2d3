// Consumer delivery throughput (changes/s through handlers that acknowledge at once) against the
// raw LogReader rate over the same log, measured in the same run.
//   consumer_bench [--changes N]
// The log is filled directly through an Engine that is never started (no PostgreSQL needed): the
// consumer takes the real path (Watcher subscription, copy, lanes, cursor), only capture is left
// out.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <unistd.h>

#include "eddy/consumer.h"

#include "server/engine.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::shared_ptr<const eddy::Table> BenchTable() {
  auto t = std::make_shared<eddy::Table>();
  t->relation_id = eddy::RelationId(16384);
  t->schema = "public";
  t->name = "orders";
  t->columns = {
      {"id", 20, -1, "int8", eddy::TypeKind::kInt64, eddy::TypeKind::kText, true},
      {"customer", 25, -1, "text", eddy::TypeKind::kText, eddy::TypeKind::kText, false},
      {"amount", 1700, -1, "numeric", eddy::TypeKind::kNumeric, eddy::TypeKind::kText, false},
      {"note", 25, -1, "text", eddy::TypeKind::kText, eddy::TypeKind::kText, false}};
  return t;
}

// Reads the whole log with a bare LogReader; changes per second.
double RawReaderRate(eddy::log::ChangeLog& log, uint64_t changes) {
  auto reader = log.NewReader(eddy::Position{});
  if (!reader.ok()) std::abort();
  auto start = Clock::now();
  uint64_t seen = 0;
  while (seen < changes) {
    auto e = (*reader)->Next(std::chrono::milliseconds(1000));
    if (!e.ok() || !e->has_value()) std::abort();
    if ((*e)->kind == eddy::log::LogEntry::Kind::kChange) ++seen;
  }
  return static_cast<double>(changes) / Seconds(Clock::now() - start);
}

// A bare Watcher subscription from the start of the log with a callback that only counts: what
// every in-process subscriber pays (read, filter, render the key), before any consumer work.
double SubscriptionRate(eddy::Watcher& watcher, uint64_t changes) {
  std::atomic<uint64_t> seen{0};
  eddy::Subscription sub;
  sub.after = eddy::Position{};
  eddy::WatchHandlers h;
  h.on_change = [&](const eddy::WatchEvent&) { seen.fetch_add(1, std::memory_order_relaxed); };
  auto start = Clock::now();
  auto id = watcher.Subscribe(sub, h);
  if (!id.ok()) std::abort();
  while (seen.load() < changes) std::this_thread::sleep_for(std::chrono::microseconds(200));
  double rate = static_cast<double>(changes) / Seconds(Clock::now() - start);
  if (!watcher.Unsubscribe(*id).ok()) std::abort();
  return rate;
}

// A consumer from the start of the log with `lanes` lanes and typed handlers that read the key.
double ConsumerRate(eddy::Watcher& watcher, const std::string& data_dir, uint64_t changes,
                    int lanes, int run) {
  std::atomic<uint64_t> handled{0};
  eddy::ConsumerOptions options;
  options.name = fmt::format("bench{}", run);
  options.data_dir = data_dir;
  options.lanes = lanes;
  options.from_start = true;
  eddy::ConsumerHandlers h;
  h.on_insert = [&](const eddy::Row& row) {
    if (!row["id"].AsInt64().ok()) std::abort();
    handled.fetch_add(1, std::memory_order_relaxed);
    return eddy::Status::Ok();
  };
  auto start = Clock::now();
  auto consumer = eddy::Consumer::Open(watcher, options, h);
  if (!consumer.ok()) {
    fmt::print(stderr, "{}\n", consumer.status().ToString());
    std::abort();
  }
  while (handled.load() < changes) std::this_thread::sleep_for(std::chrono::microseconds(200));
  double rate = static_cast<double>(changes) / Seconds(Clock::now() - start);
  (*consumer)->Stop();
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t changes = 500'000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--changes") == 0) changes = std::strtoull(argv[i + 1], nullptr, 10);
  }
  std::string dir = "/tmp/eddy_consumer_bench_XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) std::abort();
  eddy::WatcherOptions wo;
  wo.database_url = "postgresql://127.0.0.1:1/never_connected";
  wo.data_dir = dir;
  wo.fsync = false;
  auto engine = eddy::server::Engine::Create(wo);
  if (!engine.ok()) {
    fmt::print(stderr, "{}\n", engine.status().ToString());
    return 1;
  }
  eddy::log::ChangeLog& log = (*engine)->change_log();
  auto table = BenchTable();
  eddy::Change c;
  c.xid = eddy::Xid(1);
  c.commit_time_us = 1'700'000'000'000'000;
  c.op = eddy::Op::kInsert;
  c.table = table;
  const uint32_t per_txn = 10;
  for (uint64_t t = 0; t * per_txn < changes; ++t) {
    c.position.commit_lsn = eddy::Lsn((t + 1) * 0x100);
    for (uint32_t i = 0; i < per_txn; ++i) {
      c.position.index = i;
      c.new_row = {eddy::Value::Text(std::to_string((t * per_txn + i) % 10'000)),
                   eddy::Value::Text("customer-42"), eddy::Value::Text("199.95"),
                   eddy::Value::Text("a typical short note on an order row")};
      if (!log.Append(c).ok()) std::abort();
    }
    eddy::Commit commit{eddy::Xid(1), c.position.commit_lsn,
                        eddy::Lsn(c.position.commit_lsn.value() + 8), c.commit_time_us, per_txn};
    if (!log.AppendCommit(commit).ok()) std::abort();
  }
  if (!log.Sync().ok()) std::abort();
  changes = (changes + per_txn - 1) / per_txn * per_txn;

  const double raw = RawReaderRate(log, changes);
  fmt::print("log: {} changes (10 per transaction, 10000 keys)\n", changes);
  fmt::print("raw LogReader                {:>12.0f} changes/s\n", raw);
  const double sub = SubscriptionRate(**engine, changes);
  fmt::print("Watcher subscription, no-op  {:>12.0f} changes/s  ({:.2f} x raw reader)\n", sub,
             sub / raw);
  int run = 0;
  for (int lanes : {1, 4}) {
    const double rate = ConsumerRate(**engine, dir, changes, lanes, run++);
    fmt::print("consumer, {} lane(s)          {:>12.0f} changes/s  ({:.2f} x raw reader)\n", lanes,
               rate, rate / raw);
  }
  (*engine)->Stop();
  std::filesystem::remove_all(dir);
  return 0;
}
