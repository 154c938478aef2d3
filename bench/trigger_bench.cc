// Trigger mode's cost to writers: pgbench single-row insert TPS with 8 clients on a table with
// (a) no trigger, (b) an EctoWatch-style per-row trigger doing pg_notify(chan, row_to_json(NEW)),
// (c) eddy's outbox trigger with eddy capturing it; plus eddy's commit-to-delivery latency during
// (c). One throwaway PostgreSQL 15; the reference (a) is measured in the same run, before and
// after, and every figure is printed as a ratio of it.
//
//   build/release/bench/trigger_bench [--seconds S] [--clients N]
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

#include "pg/connection.h"
#include "pg/process.h"
#include "pg/throwaway_cluster.h"

namespace {

void Die(const eddy::Status& s, const char* what) {
  if (s.ok()) return;
  fmt::print(stderr, "{}: {}\n", what, s.ToString());
  std::exit(1);
}

std::unique_ptr<eddy::pg::Connection> Connect(const std::string& conninfo) {
  auto c = eddy::pg::Connection::Connect(conninfo);
  Die(c.status(), "connect");
  return std::move(c).value();
}

void Exec(eddy::pg::Connection& c, const std::string& sql) { Die(c.Exec(sql).status(), "sql"); }

constexpr const char* kPgbench = "/usr/lib/postgresql/15/bin/pgbench";

// Runs pgbench with one INSERT into `table`; returns its TPS.
double Pgbench(const eddy::pg::ThrowawayCluster& cluster, const std::string& table,
               const std::string& dir, int clients, int seconds) {
  const std::string script = dir + "/" + table + ".sql";
  std::ofstream(script) << "INSERT INTO " << table
                        << " (title, artist, plays) VALUES ('a song title', 'an artist', 1);\n";
  std::filesystem::permissions(script, std::filesystem::perms::all);
  std::string out;
  eddy::pg::ProcessOptions options;
  options.capture = &out;
  options.env = eddy::pg::CleanPostgresEnvironment();
  auto rc =
      eddy::pg::RunProcess({kPgbench, "-n", "-h", "127.0.0.1", "-p", std::to_string(cluster.port()),
                            "-U", "postgres", "-c", std::to_string(clients), "-j", "2", "-T",
                            std::to_string(seconds), "-f", script, "bench"},
                           options);
  Die(rc.status(), "pgbench");
  std::smatch m;
  static const std::regex kTps("tps = ([0-9.]+)");
  if (*rc != 0 || !std::regex_search(out, m, kTps)) {
    fmt::print(stderr, "pgbench failed ({}):\n{}\n", *rc, out);
    std::exit(1);
  }
  return std::stod(m[1]);
}

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
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--clients") == 0) clients = std::atoi(argv[i + 1]);
  }
  auto cluster = eddy::pg::ThrowawayCluster::Start({});
  Die(cluster.status(), "cluster");
  eddy::pg::ThrowawayCluster& pg = **cluster;
  Die(pg.CreateDatabase("bench"), "create database");
  const std::string conninfo = pg.ConnInfo("bench");
  const std::string dir = (*cluster)->base_dir();
  {
    auto c = Connect(conninfo);
    const char* columns = "(id bigserial PRIMARY KEY, title text, artist text, plays int)";
    Exec(*c, fmt::format("CREATE TABLE plain {0}; CREATE TABLE ecto {0}; CREATE TABLE outboxed {0}",
                         columns));
    Exec(*c,
         "CREATE FUNCTION ecto_notify() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
         "PERFORM pg_notify('ecto', row_to_json(NEW)::text); RETURN NULL; END $$;"
         "CREATE TRIGGER ecto_notify AFTER INSERT ON ecto FOR EACH ROW "
         "EXECUTE FUNCTION ecto_notify()");
  }
  fmt::print("pgbench: single-row INSERT, {} clients, {} s per run, PostgreSQL {}\n", clients,
             seconds, pg.bindir());

  const double plain1 = Pgbench(pg, "plain", dir, clients, seconds);
  fmt::print("  (a) no trigger                         {:8.0f} tps\n", plain1);
  double ecto = 0;
  {
    Listener listener(conninfo, "ecto");
    ecto = Pgbench(pg, "ecto", dir, clients, seconds);
  }
  fmt::print("  (b) pg_notify(row_to_json(NEW)) per row {:8.0f} tps\n", ecto);

  // (c) eddy captures `outboxed` in trigger mode; a subscriber records delivery latency.
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
  std::vector<int64_t> latencies_us;
  std::atomic<uint64_t> delivered{0};
  eddy::Subscription sub;
  sub.table = "public.outboxed";
  eddy::WatchHandlers handlers;
  handlers.on_change = [&](const eddy::WatchEvent& e) {
    // commit_time in trigger mode is the last statement's start: a slight over-estimate.
    const int64_t now = eddy::SystemClock().NowUnixMicros();
    ++delivered;
    std::lock_guard<std::mutex> lock(mutex);
    latencies_us.push_back(now - e.change.commit_time_us);
  };
  auto id = (*watcher)->Subscribe(sub, handlers);
  Die(id.status(), "subscribe");
  const double outboxed = Pgbench(pg, "outboxed", dir, clients, seconds);
  fmt::print("  (c) eddy outbox trigger + capture       {:8.0f} tps\n", outboxed);
  {
    auto c = Connect(conninfo);
    auto rows = c->Exec("SELECT count(*) FROM outboxed");
    Die(rows.status(), "count");
    const uint64_t want = std::stoull(std::string(rows->Get(0, 0)));
    for (int i = 0; i < 600 && delivered.load() < want; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    fmt::print("      delivered {} of {} rows\n", delivered.load(), want);
  }
  (*watcher)->Stop();
  const double plain2 = Pgbench(pg, "plain", dir, clients, seconds);
  fmt::print("  (a) no trigger, again                  {:8.0f} tps\n", plain2);

  const double reference = (plain1 + plain2) / 2;
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) {
    if (latencies_us.empty()) return 0.0;
    size_t i = std::min(latencies_us.size() - 1, static_cast<size_t>(p * latencies_us.size()));
    return latencies_us[i] / 1000.0;
  };
  fmt::print("\nratio to (a): (b) {:.2f} (cost {:.0f}%), (c) {:.2f} (cost {:.0f}%)\n",
             ecto / reference, 100 * (1 - ecto / reference), outboxed / reference,
             100 * (1 - outboxed / reference));
  fmt::print(
      "eddy delivery latency (commit to callback): p50 {:.1f} ms, p99 {:.1f} ms, max {:.1f} "
      "ms over {} changes\n",
      pct(0.50), pct(0.99), pct(1.0), latencies_us.size());
  return 0;
}
