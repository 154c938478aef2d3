// JetStream publish benchmark: how fast eddy publishes its changes to JetStream with
// acknowledgement (Nats-Msg-Id, every PubAck awaited), against eddy's own capture rate without a
// sink on the same workload, in one run on a throwaway PostgreSQL 15 and a local nats-server.
//
//   build/release/bench/nats_bench [--single N] [--large N] [--no-fsync]
//
// The same WAL (N single-row transactions from 8 connections plus one large transaction) is read
// twice, from two slots: first by eddy with no sink (until a no-op subscriber saw every change),
// then by eddy with nats.publish on (until the stream holds every change). Publishing follows the
// durable log, so its figure includes capture.
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nats/nats.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/watcher.h"

#include "bench_util.h"
#include "pg/connection.h"

namespace {

using eddy::bench::Clock;
using eddy::bench::Connect;
using eddy::bench::Die;
using eddy::bench::Exec;
using eddy::bench::Seconds;

int64_t StreamCount(jsCtx* js, const char* stream) {
  jsStreamInfo* si = nullptr;
  if (js_GetStreamInfo(&si, js, stream, nullptr, nullptr) != NATS_OK) return -1;
  auto n = static_cast<int64_t>(si->State.Msgs);
  jsStreamInfo_Destroy(si);
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t single = 50000;
  int64_t large = 200000;
  bool fsync = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--no-fsync")) fsync = false;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--single")) single = std::atoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--large")) large = std::atoll(argv[i + 1]);
  }
  auto cluster = eddy::bench::StartBenchCluster();
  const std::string db = cluster->ConnInfo("bench");
  auto admin = Connect(db);
  Exec(*admin, "CREATE TABLE bench (id bigint PRIMARY KEY, v text, n int)");
  Exec(*admin, "CREATE PUBLICATION eddy FOR ALL TABLES");
  Exec(*admin, "SELECT pg_create_logical_replication_slot('plain', 'pgoutput')");
  Exec(*admin, "SELECT pg_create_logical_replication_slot('pub', 'pgoutput')");
  eddy::bench::WriteSingleAndLarge(db, *admin, single, large);
  const int64_t total = single + large;
  const std::string base = fmt::format("/tmp/eddy-nats-bench-{}", getpid());

  // 1. Reference: eddy capture into its durable log, no sink.
  double plain_s = 0;
  {
    eddy::WatcherOptions options;
    options.database_url = db;
    options.data_dir = base + "/plain";
    options.slot = "plain";
    options.fsync = fsync;
    std::atomic<int64_t> delivered{0};
    auto watcher = eddy::Watcher::Open(options);
    Die(watcher.status(), "open eddy");
    eddy::Subscription all;
    all.after = eddy::Position{};
    eddy::WatchHandlers handlers;
    handlers.on_change = [&](const eddy::WatchEvent&) { ++delivered; };
    auto t0 = Clock::now();
    Die((*watcher)->Start(), "start eddy");
    Die((*watcher)->Subscribe(all, handlers).status(), "subscribe");
    while (delivered < total) std::this_thread::sleep_for(std::chrono::microseconds(200));
    plain_s = Seconds(Clock::now() - t0);
    (*watcher)->Stop();
  }

  // 2. eddy with the JetStream sink, to a local nats-server (file storage).
  const int port = 14000 + getpid() % 1000;
  std::filesystem::create_directories(base + "/js");
  pid_t server = fork();
  if (server == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    execl("/usr/sbin/nats-server", "nats-server", "-js", "-a", "127.0.0.1", "-p",
          std::to_string(port).c_str(), "-sd", (base + "/js").c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::string url = fmt::format("nats://127.0.0.1:{}", port);
  natsConnection* nc = nullptr;
  for (int i = 0; i < 100 && natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (nc == nullptr) {
    fmt::print(stderr, "nats-server did not start on {}\n", url);
    return 1;
  }
  jsCtx* js = nullptr;
  natsConnection_JetStream(&js, nc, nullptr);
  double pub_s = 0;
  {
    eddy::WatcherOptions options;
    options.database_url = db;
    options.data_dir = base + "/pub";
    options.slot = "pub";
    options.fsync = fsync;
    options.nats.url = url;
    options.nats.publish = true;
    options.nats.required = true;
    auto watcher = eddy::Watcher::Open(options);
    Die(watcher.status(), "open eddy");
    auto t0 = Clock::now();
    Die((*watcher)->Start(), "start eddy");
    while (StreamCount(js, "EDDY") < total) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      if (Seconds(Clock::now() - t0) > 600) {
        fmt::print(stderr, "timed out: {}\n", (*watcher)->Health());
        return 1;
      }
    }
    pub_s = Seconds(Clock::now() - t0);
    (*watcher)->Stop();
  }
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  kill(server, SIGTERM);
  int status = 0;
  waitpid(server, &status, 0);
  std::filesystem::remove_all(base);

  const double plain_rate = static_cast<double>(total) / plain_s;
  const double pub_rate = static_cast<double>(total) / pub_s;
  fmt::print("\nJetStream publish, {} changes ({} single-row transactions + 1 of {} rows):\n",
             total, single, large);
  fmt::print("  eddy capture, no sink (durable log)             {:8.2f} s  {:9.0f} changes/s\n",
             plain_s, plain_rate);
  fmt::print("  eddy capture + JetStream publish, acked, R1     {:8.2f} s  {:9.0f} changes/s\n",
             pub_s, pub_rate);
  fmt::print("  ratio publish / capture                         {:8.2f}\n", pub_rate / plain_rate);
  return 0;
}
