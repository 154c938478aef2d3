// Capture benchmark: eddy against pg_recvlogical on the same WAL, and commit-to-callback latency
// against a bare libpq replication reader, in one run on a throwaway PostgreSQL 15.
//
//   build/release/bench/capture_bench [--single N] [--large N] [--seconds S]
//
// Throughput: N single-row transactions from 8 connections plus one large transaction are
// written first; then pg_recvlogical (pgoutput, to /dev/null) reads its slot to the end LSN,
// then eddy captures its own slot into its durable log (fsync on) and delivers every change to a
// no-op subscriber. Latency: writers commit single-row transactions at 1,000/s and 5,000/s while
// eddy and a bare reader (libpq, START_REPLICATION, reading only Commit messages) run side by
// side; latency is the callback's wall time minus PostgreSQL's commit timestamp.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/clock.h"
#include "eddy/watcher.h"

#include "bare_reader.h"
#include "bench_util.h"
#include "capture/replication_stream.h"
#include "common/byte_reader.h"
#include "pg/connection.h"
#include "pg/throwaway_cluster.h"

namespace {

using eddy::bench::Clock;
using eddy::bench::Connect;
using eddy::bench::Die;
using eddy::bench::Exec;
using eddy::bench::Seconds;

std::string QueryOne(eddy::pg::Connection& c, const std::string& sql) {
  auto r = c.Exec(sql);
  Die(r.status(), sql.c_str());
  return std::string(r->Get(0, 0));
}

int64_t NowUnixUs() { return eddy::SystemClock().NowUnixMicros(); }

struct Percentiles {
  double p50 = 0, p99 = 0;
  size_t n = 0;
};

Percentiles Summarise(std::vector<int64_t> v) {
  Percentiles p;
  p.n = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  p.p50 = static_cast<double>(v[v.size() / 2]) / 1000.0;
  p.p99 = static_cast<double>(v[std::min(v.size() - 1, v.size() * 99 / 100)]) / 1000.0;
  return p;
}

// Commits single-row transactions at `rate` per second for `seconds` from `connections` clients.
void WriteAtRate(const std::string& conninfo, int rate, double seconds, int connections,
                 std::atomic<int64_t>* next_id) {
  std::vector<std::thread> writers;
  for (int w = 0; w < connections; ++w) {
    writers.emplace_back([&, w] {
      auto conn = Connect(conninfo);
      const double per_writer = static_cast<double>(rate) / connections;
      const auto interval = std::chrono::duration<double>(1.0 / per_writer);
      auto start =
          Clock::now() + std::chrono::duration_cast<Clock::duration>(interval * w / connections);
      const int64_t total = static_cast<int64_t>(per_writer * seconds);
      for (int64_t i = 0; i < total; ++i) {
        std::this_thread::sleep_until(start +
                                      std::chrono::duration_cast<Clock::duration>(interval * i));
        Exec(*conn, fmt::format("INSERT INTO lat VALUES ({})", (*next_id)++));
      }
    });
  }
  for (auto& t : writers) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t single = 100000;
  int64_t large = 900000;
  double seconds = 5;
  bool fsync = true;
  bool skip_throughput = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--no-fsync")) fsync = false;
    if (!std::strcmp(argv[i], "--latency-only")) skip_throughput = true;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--single")) single = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--large")) large = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
  }
  if (skip_throughput) {
    single = 1000;
    large = 1000;
  }
  auto cluster = eddy::bench::StartBenchCluster();
  const std::string db = cluster->ConnInfo("bench");
  auto admin = Connect(db);
  Exec(*admin, "CREATE TABLE bench (id bigint PRIMARY KEY, v text, n int)");
  Exec(*admin, "CREATE TABLE lat (id bigint PRIMARY KEY)");
  Exec(*admin, "CREATE PUBLICATION eddy FOR ALL TABLES");
  Exec(*admin, "SELECT pg_create_logical_replication_slot('ref', 'pgoutput')");
  Exec(*admin, "SELECT pg_create_logical_replication_slot('eddy', 'pgoutput')");

  // 1. The same WAL for both readers.
  eddy::bench::WriteSingleAndLarge(db, *admin, single, large);
  const std::string end_lsn = QueryOne(*admin, "SELECT pg_current_wal_lsn()");
  const int64_t total = single + large;

  // 2. pg_recvlogical to the end LSN.
  auto bindir = eddy::pg::ThrowawayCluster::FindBindir();
  Die(bindir.status(), "find PostgreSQL binaries");
  std::string recvlogical = *bindir + "/pg_recvlogical";
  auto t0 = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    execl(recvlogical.c_str(), "pg_recvlogical", "-d", db.c_str(), "-S", "ref", "--start", "-E",
          end_lsn.c_str(), "-o", "proto_version=2", "-o", "publication_names=eddy", "-o",
          "streaming=true", "-f", "/dev/null", "--no-loop", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  const double ref_s = Seconds(Clock::now() - t0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fmt::print(stderr, "pg_recvlogical failed (status {})\n", status);
    return 1;
  }

  // 3. eddy: capture into the durable log and deliver to a no-op subscriber.
  std::string data_dir = fmt::format("/tmp/eddy-bench-{}", getpid());
  eddy::WatcherOptions options;
  options.database_url = db;
  options.data_dir = data_dir;
  options.slot = "eddy";
  options.fsync = fsync;
  std::atomic<int64_t> delivered{0};
  double eddy_s = 0;
  {
    auto watcher = eddy::Watcher::Open(options);
    Die(watcher.status(), "open eddy");
    eddy::Subscription all;
    all.table = "bench";
    all.after = eddy::Position{};
    eddy::WatchHandlers handlers;
    handlers.on_change = [&](const eddy::WatchEvent&) { ++delivered; };
    auto t1 = Clock::now();
    Die((*watcher)->Start(), "start eddy");
    Die((*watcher)->Subscribe(all, handlers).status(), "subscribe");
    while (delivered < total) std::this_thread::sleep_for(std::chrono::microseconds(200));
    eddy_s = Seconds(Clock::now() - t1);
    (*watcher)->Stop();
  }
  std::filesystem::remove_all(data_dir);
  const double ref_rate = static_cast<double>(total) / ref_s;
  const double eddy_rate = static_cast<double>(total) / eddy_s;
  fmt::print("\nthroughput, {} changes ({} single-row transactions + 1 of {} rows):\n", total,
             single, large);
  fmt::print("  pg_recvlogical (pgoutput -> /dev/null)          {:8.2f} s  {:9.0f} changes/s\n",
             ref_s, ref_rate);
  fmt::print("  eddy (decode, durable log, no-op subscriber)    {:8.2f} s  {:9.0f} changes/s\n",
             eddy_s, eddy_rate);
  fmt::print("  ratio eddy / pg_recvlogical                     {:8.2f}\n", eddy_rate / ref_rate);
  std::fflush(stdout);

  // 4. Latency beside a bare reader.
  Exec(*admin, "SELECT pg_drop_replication_slot('ref')");
  Exec(*admin, "SELECT pg_create_logical_replication_slot('floor', 'pgoutput')");
  options.data_dir = data_dir + "-lat";
  options.slot = "eddy_lat";
  auto watcher = eddy::Watcher::Open(options);
  Die(watcher.status(), "open eddy");
  Die((*watcher)->Start(), "start eddy");
  if (!(*watcher)->WaitUntilStreaming(30000)) Die(eddy::Unavailable((*watcher)->Health()), "eddy");
  std::mutex mu;
  std::vector<int64_t> eddy_lat;
  eddy::Subscription lat;
  lat.table = "lat";
  eddy::WatchHandlers handlers;
  handlers.on_change = [&](const eddy::WatchEvent& e) {
    int64_t d = NowUnixUs() - e.change.commit_time_us;
    std::lock_guard<std::mutex> lock(mu);
    eddy_lat.push_back(d);
  };
  Die((*watcher)->Subscribe(lat, handlers).status(), "subscribe");
  eddy::bench::BareReader floor(db, "floor");
  floor.Start();
  std::atomic<int64_t> next_id{1};
  fmt::print(
      "\ncommit-to-callback latency (PostgreSQL commit timestamp to callback), {:.0f} s per "
      "rate:\n",
      seconds);
  for (int rate : {1000, 5000}) {
    WriteAtRate(db, rate, 1.0, rate >= 5000 ? 8 : 2, &next_id);  // warm-up
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    floor.Take();
    {
      std::lock_guard<std::mutex> lock(mu);
      eddy_lat.clear();
    }
    WriteAtRate(db, rate, seconds, rate >= 5000 ? 8 : 2, &next_id);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    Percentiles f = Summarise(floor.Take());
    Percentiles e;
    {
      std::lock_guard<std::mutex> lock(mu);
      e = Summarise(std::exchange(eddy_lat, {}));
    }
    fmt::print("  {:5}/s  bare libpq reader  p50 {:6.2f} ms  p99 {:6.2f} ms  (n={})\n", rate, f.p50,
               f.p99, f.n);
    fmt::print(
        "  {:5}/s  eddy (durable)     p50 {:6.2f} ms  p99 {:6.2f} ms  (n={})  p99 - floor "
        "{:+.2f} ms\n",
        rate, e.p50, e.p99, e.n, e.p99 - f.p99);
    std::fflush(stdout);
  }
  floor.Stop();
  (*watcher)->Stop();
  std::filesystem::remove_all(options.data_dir);
  return 0;
}
