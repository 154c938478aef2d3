// Trigger mode's cost to writers: pgbench single-row insert TPS with 8 clients on a table with
// (a) no trigger, (b) an EctoWatch-style per-row trigger doing pg_notify(chan, row_to_json(NEW)),
// (c) eddy's outbox trigger with eddy capturing it; plus eddy's commit-to-delivery latency during
// (c), at full speed and at a fixed rate (pgbench -R). One throwaway PostgreSQL 15, durable by
// default (fsync on, synchronous_commit on: what the reference figures assume); the variants run
// in turn (a, b, c, a, b, c, ...) so noise on shared cores hits them alike, and each is printed
// as a ratio of (a)'s median measured in the same run.
//
//   build/release/bench/trigger_bench [--seconds S] [--clients N] [--rounds R] [--rate TPS]
//                                     [--fsync on|off]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <libpq-fe.h>
#include <poll.h>

#include "eddy/clock.h"
#include "eddy/watcher.h"

#include "bench_util.h"
#include "pg/connection.h"
#include "pg/process.h"
#include "pg/throwaway_cluster.h"

namespace {

using eddy::bench::Connect;
using eddy::bench::Die;

void Exec(eddy::pg::Connection& c, const std::string& sql) { Die(c.Exec(sql).status(), "sql"); }

constexpr const char* kPgbench = "/usr/lib/postgresql/15/bin/pgbench";

// Runs pgbench with one INSERT into `table`; returns its TPS. `rate` > 0: at most that many
// transactions per second (pgbench -R).
double Pgbench(const eddy::pg::ThrowawayCluster& cluster, const std::string& table,
               const std::string& dir, int clients, int seconds, int rate = 0) {
  const std::string script = dir + "/" + table + ".sql";
  std::ofstream(script) << "INSERT INTO " << table
                        << " (title, artist, plays) VALUES ('a song title', 'an artist', 1);\n";
  std::filesystem::permissions(script, std::filesystem::perms::all);
  std::string out;
  eddy::pg::ProcessOptions options;
  options.capture = &out;
  options.env = eddy::pg::CleanPostgresEnvironment();
  std::vector<std::string> argv = {kPgbench, "-n",
                                   "-h",     "127.0.0.1",
                                   "-p",     std::to_string(cluster.port()),
                                   "-U",     "postgres",
                                   "-c",     std::to_string(clients),
                                   "-j",     "2",
                                   "-T",     std::to_string(seconds),
                                   "-f",     script};
  if (rate > 0) {
    argv.push_back("-R");
    argv.push_back(std::to_string(rate));
  }
  argv.push_back("bench");
  auto rc = eddy::pg::RunProcess(argv, options);
  Die(rc.status(), "pgbench");
  std::smatch m;
  static const std::regex kTps("tps = ([0-9.]+)");
  if (*rc != 0 || !std::regex_search(out, m, kTps)) {
    fmt::print(stderr, "pgbench failed ({}):\n{}\n", *rc, out);
    std::exit(1);
  }
  return std::stod(m[1]);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty()      ? 0
         : v.size() % 2 ? v[v.size() / 2]
                        : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::string List(const std::vector<double>& v) {
  std::string out;
  for (double x : v) out += fmt::format("{}{:.0f}", out.empty() ? "" : ", ", x);
  return out;
}

// Commit-to-delivery latencies of one kind of run.
struct Latencies {
  std::vector<int64_t> us;
  double Percentile(double p) {
    if (us.empty()) return 0.0;
    std::sort(us.begin(), us.end());
    size_t i = std::min(us.size() - 1, static_cast<size_t>(p * us.size()));
    return us[i] / 1000.0;
  }
  std::string Summary() {
    return fmt::format("p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} ms over {} changes",
                       Percentile(0.50), Percentile(0.99), Percentile(1.0), us.size());
  }
};

// An EctoWatch-style listener: LISTENs and drains notifications so the queue never fills.
class Listener {
 public:
  Listener(const std::string& conninfo, const std::string& channel) {
    conn_ = Connect(conninfo);
    Exec(*conn_, "LISTEN " + channel);
    thread_ = std::thread([this] {
      PGconn* c = conn_->raw();
      while (!stop_) {
        pollfd fd{PQsocket(c), POLLIN, 0};
        ::poll(&fd, 1, 100);
        PQconsumeInput(c);
        while (PGnotify* n = PQnotifies(c)) {
          ++received_;
          PQfreemem(n);
        }
      }
    });
  }
  ~Listener() {
    stop_ = true;
    thread_.join();
  }
  uint64_t received() const { return received_; }

 private:
  std::unique_ptr<eddy::pg::Connection> conn_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> received_{0};
};

}  // namespace

int main(int argc, char** argv) {
  int seconds = 15;
  int clients = 8;
  int rounds = 2;
  int rate = 1000;
  bool fsync = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--clients") == 0) clients = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--rounds") == 0) rounds = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--rate") == 0) rate = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--fsync") == 0) fsync = std::strcmp(argv[i + 1], "off") != 0;
  }
  eddy::pg::ThrowawayCluster::Options cluster_options;
  // ThrowawayCluster runs with fsync off for tests; a durable server is what writers meet.
  cluster_options.settings = {{"fsync", fsync ? "on" : "off"}, {"synchronous_commit", "on"}};
  auto cluster = eddy::pg::ThrowawayCluster::Start(cluster_options);
  Die(cluster.status(), "cluster");
  eddy::pg::ThrowawayCluster& pg = **cluster;
  Die(pg.CreateDatabase("bench"), "create database");
  const std::string conninfo = pg.ConnInfo("bench");
  const std::string dir = (*cluster)->base_dir();
  auto c = Connect(conninfo);
  {
    const char* columns = "(id bigserial PRIMARY KEY, title text, artist text, plays int)";
    Exec(*c, fmt::format("CREATE TABLE plain {0}; CREATE TABLE ecto {0}; CREATE TABLE outboxed {0}",
                         columns));
    Exec(*c,
         "CREATE FUNCTION ecto_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
         "PERFORM pg_notify('ecto', row_to_json(NEW)::text); RETURN NULL; END $$;"
         "CREATE TRIGGER ecto_notify AFTER INSERT ON ecto FOR EACH ROW "
         "EXECUTE FUNCTION ecto_notify()");
  }
  fmt::print(
      "pgbench: single-row INSERT, {} clients, {} s per run, {} round(s) of a/b/c, fsync {}, "
      "synchronous_commit on, PostgreSQL {}\n",
      clients, seconds, rounds, fsync ? "on" : "off", pg.bindir());

  // eddy captures `outboxed` in trigger mode throughout (idle outside (c): it polls the empty
  // outbox); a subscriber records delivery latency.
  eddy::WatcherOptions options;
  options.capture_mode = "triggers";
  options.database_url = conninfo;
  options.data_dir = dir + "/eddy";
  options.tables = {"public.outboxed"};
  options.fsync = true;
  auto watcher = eddy::Watcher::Open(options);
  Die(watcher.status(), "watcher");
  Die((*watcher)->Start(), "start");
  if (!(*watcher)->WaitUntilStreaming(30000)) {
    fmt::print(stderr, "eddy did not start: {}\n", (*watcher)->Health());
    return 1;
  }
  std::mutex mutex;
  Latencies* recording = nullptr;  // guarded by mutex
  std::atomic<uint64_t> delivered{0};
  eddy::Subscription sub;
  sub.table = "public.outboxed";
  eddy::WatchHandlers handlers;
  handlers.on_change = [&](const eddy::WatchEvent& e) {
    // commit_time in trigger mode is the last statement's start: a slight over-estimate.
    const int64_t now = eddy::SystemClock().NowUnixMicros();
    ++delivered;
    std::lock_guard<std::mutex> lock(mutex);
    if (recording) recording->us.push_back(now - e.change.commit_time_us);
  };
  auto id = (*watcher)->Subscribe(sub, handlers);
  Die(id.status(), "subscribe");

  // Runs (c) and waits until eddy delivered every row; returns TPS.
  auto run_outboxed = [&](Latencies& into, int run_rate) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      recording = &into;
    }
    const double tps = Pgbench(pg, "outboxed", dir, clients, seconds, run_rate);
    auto rows = c->Exec("SELECT count(*) FROM outboxed");
    Die(rows.status(), "count");
    const uint64_t want = std::stoull(std::string(rows->Get(0, 0)));
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 1200 && delivered.load() < want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const double catch_up =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("      delivered {} of {} rows ({:.1f} s after pgbench ended)\n", delivered.load(),
               want, catch_up);
    std::lock_guard<std::mutex> lock(mutex);
    recording = nullptr;
    return tps;
  };

  std::vector<double> plain, ecto, outboxed;
  Latencies at_full_speed, at_rate;
  for (int round = 1; round <= rounds; ++round) {
    plain.push_back(Pgbench(pg, "plain", dir, clients, seconds));
    fmt::print("  [{}] (a) no trigger                          {:8.0f} tps\n", round, plain.back());
    {
      Listener listener(conninfo, "ecto");
      ecto.push_back(Pgbench(pg, "ecto", dir, clients, seconds));
    }
    fmt::print("  [{}] (b) pg_notify(row_to_json(NEW)) per row {:8.0f} tps\n", round, ecto.back());
    outboxed.push_back(run_outboxed(at_full_speed, 0));
    fmt::print("  [{}] (c) eddy outbox trigger + capture       {:8.0f} tps\n", round,
               outboxed.back());
  }
  if (rate > 0) {
    const double tps = run_outboxed(at_rate, rate);
    fmt::print("  (c) at a fixed rate (pgbench -R {})         {:8.0f} tps\n", rate, tps);
  }
  (*watcher)->Stop();

  const double reference = Median(plain);
  fmt::print("\n(a) {} tps; (b) {} tps; (c) {} tps\n", List(plain), List(ecto), List(outboxed));
  fmt::print("medians, ratio to (a): (b) {:.2f} (cost {:.0f}%), (c) {:.2f} (cost {:.0f}%)\n",
             Median(ecto) / reference, 100 * (1 - Median(ecto) / reference),
             Median(outboxed) / reference, 100 * (1 - Median(outboxed) / reference));
  fmt::print("eddy delivery latency (commit to callback), full speed: {}\n",
             at_full_speed.Summary());
  if (rate > 0) {
    fmt::print("eddy delivery latency (commit to callback), {} tx/s: {}\n", rate,
               at_rate.Summary());
  }
  return 0;
}
