// Watch benchmark: `eddy serve` fanning changes out to SSE subscribers, beside a bare libpq
// replication reader (the floor) measuring the same commits.
//
//   build/release/bench/watch_bench [--seconds S] [--keys N] [--rate R]
//
// Phase 1: KEYS subscribers each watching one key plus 10 watching the whole table, RATE
// single-row updates/s spread over the keys. Phase 2: 100 whole-table subscribers, same rate.
// Clients are bench/watch_clients.mjs (Node, raw HTTP). Prints commit-to-receive p50/p99 for
// eddy's subscribers and for the floor, delivered/expected, eddy's CPU and RSS, and RSS per idle
// subscriber.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bare_reader.h"
#include "pg/connection.h"
#include "pg/throwaway_cluster.h"

namespace {

using Clock = std::chrono::steady_clock;
using eddy::bench::DieIfError;

struct Child {
  pid_t pid = -1;
  std::string out;
};

Child Spawn(std::vector<std::string> argv, std::vector<std::string> env, bool stdin_pipe,
            int* stdin_fd) {
  Child c;
  c.out = fmt::format("/tmp/eddy-watch-bench-{}-{}.out", getpid(), argv[0].size() + argv.size());
  int pipefd[2] = {-1, -1};
  if (stdin_pipe && pipe(pipefd) != 0) std::exit(1);
  c.pid = fork();
  if (c.pid == 0) {
    int fd = ::open(c.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    if (stdin_pipe) {
      dup2(pipefd[0], 0);
      close(pipefd[1]);
    }
    for (const auto& e : env) putenv(strdup(e.c_str()));
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  if (stdin_pipe) {
    close(pipefd[0]);
    *stdin_fd = pipefd[1];
  }
  return c;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool WaitFor(const Child& c, const std::string& needle, int seconds) {
  for (int i = 0; i < seconds * 20; ++i) {
    if (Slurp(c.out).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// CPU seconds (user + system) and RSS in KiB of a process.
std::pair<double, int64_t> Usage(pid_t pid) {
  std::string stat = Slurp(fmt::format("/proc/{}/stat", pid));
  size_t rp = stat.rfind(')');
  std::istringstream in(stat.substr(rp + 2));
  std::string field;
  std::vector<std::string> f;
  while (in >> field) f.push_back(field);
  // After "pid (comm) ": state is f[0]; utime f[11], stime f[12].
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  double cpu = f.size() > 12 ? (std::stod(f[11]) + std::stod(f[12])) / ticks : 0;
  int64_t rss_kb = 0;
  std::istringstream status(Slurp(fmt::format("/proc/{}/status", pid)));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) rss_kb = std::stoll(line.substr(6));
  }
  return {cpu, rss_kb};
}

struct PhaseResult {
  int64_t received = 0;
  double p50_ms = 0, p99_ms = 0;
};

PhaseResult StopClients(Child& clients, int stdin_fd) {
  kill(clients.pid, SIGTERM);
  int status = 0;
  waitpid(clients.pid, &status, 0);
  close(stdin_fd);
  std::string out = Slurp(clients.out);
  PhaseResult r;
  std::smatch m;
  if (std::regex_search(
          out, m, std::regex(R"re("received":(\d+),"p50_us":([0-9.]+),"p99_us":([0-9.]+))re"))) {
    r.received = std::stoll(m[1]);
    r.p50_ms = std::stod(m[2]) / 1000.0;
    r.p99_ms = std::stod(m[3]) / 1000.0;
  } else {
    fmt::print(stderr, "clients said: {}\n", out.substr(0, 2000));
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 10;
  int keys = 10000;
  int rate = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--keys")) keys = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--rate")) rate = std::atoi(argv[i + 1]);
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  const std::string self = std::filesystem::canonical("/proc/self/exe").parent_path().string();
  const std::string eddy_bin = self + "/../src/cli/eddy";
  const std::string clients_js = std::string(EDDY_BENCH_DIR) + "/watch_clients.mjs";

  auto cluster = eddy::pg::ThrowawayCluster::Start({});
  DieIfError(cluster.status(), "start PostgreSQL");
  DieIfError((*cluster)->CreateDatabase("bench"), "create database");
  const std::string db = (*cluster)->Url("bench");
  auto admin = eddy::pg::Connection::Connect(db);
  DieIfError(admin.status(), "connect");
  auto exec = [&](const std::string& sql) {
    DieIfError((*admin)->Exec(sql).status(), sql.c_str());
  };
  exec("CREATE TABLE items (id int PRIMARY KEY, v int)");
  exec(fmt::format("INSERT INTO items SELECT g, 0 FROM generate_series(1, {}) g", keys));
  exec("CREATE PUBLICATION eddy FOR ALL TABLES");
  exec("SELECT pg_create_logical_replication_slot('floor', 'pgoutput')");

  const std::string data_dir = fmt::format("/tmp/eddy-watch-bench-{}", getpid());
  int no_stdin = -1;
  Child eddy = Spawn({eddy_bin, "--database", db, "--data-dir", data_dir, "--http", "127.0.0.1:0",
                      "--open", "--allow-adhoc", "--log-level", "warn", "serve"},
                     {}, false, &no_stdin);
  std::smatch m;
  std::string url;
  for (int i = 0; i < 600 && url.empty(); ++i) {
    std::string out = Slurp(eddy.out);
    if (std::regex_search(out, m, std::regex("eddy serving (http://127\\.0\\.0\\.1:[0-9]+)"))) {
      url = m[1];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (url.empty()) {
    fmt::print(stderr, "eddy did not start: {}\n", Slurp(eddy.out));
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // capture streaming
  eddy::bench::BareReader floor(db, "floor");
  floor.Start();

  auto run_phase = [&](const char* name, int key_subs, int whole_subs, bool per_key) {
    auto [cpu0_idle, rss_before] = Usage(eddy.pid);
    (void)cpu0_idle;
    int stdin_fd = -1;
    Child clients = Spawn(
        {"node", clients_js},
        {"EDDY_URL=" + url, fmt::format("KEYS={}", key_subs), fmt::format("WHOLE={}", whole_subs)},
        true, &stdin_fd);
    if (!WaitFor(clients, "READY", 300)) {
      fmt::print(stderr, "clients did not get ready: {}\n", Slurp(clients.out).substr(0, 2000));
      std::exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto [cpu0, rss_idle] = Usage(eddy.pid);
    floor.Take();
    // Writers: RATE single-row updates per second, spread over the keys, from 4 connections.
    std::atomic<int64_t> updates{0};
    std::vector<std::thread> writers;
    const int kWriters = 4;
    auto start = Clock::now();
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        auto conn = eddy::pg::Connection::Connect(db);
        DieIfError(conn.status(), "writer");
        const double interval = static_cast<double>(kWriters) / rate;
        const int64_t n = static_cast<int64_t>(seconds * rate / kWriters);
        for (int64_t i = 0; i < n; ++i) {
          std::this_thread::sleep_until(
              start +
              std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                  interval * (static_cast<double>(i) + static_cast<double>(w) / kWriters))));
          int key = static_cast<int>((i * kWriters + w) % keys) + 1;
          DieIfError(
              (*conn)->Exec(fmt::format("UPDATE items SET v = v + 1 WHERE id = {}", key)).status(),
              "update");
          ++updates;
        }
      });
    }
    for (auto& t : writers) t.join();
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    // Let the clients (one Node process on the same 2 cores) finish reading.
    std::this_thread::sleep_for(std::chrono::seconds(5));
    auto [cpu1, rss_busy] = Usage(eddy.pid);
    PhaseResult got = StopClients(clients, stdin_fd);
    std::vector<int64_t> f = floor.Take();
    std::sort(f.begin(), f.end());
    const double f50 = f.empty() ? 0 : static_cast<double>(f[f.size() / 2]) / 1000.0;
    const double f99 = f.empty() ? 0 : static_cast<double>(f[f.size() * 99 / 100]) / 1000.0;
    const int64_t expected =
        per_key ? updates.load() * (1 + whole_subs) : updates.load() * whole_subs;
    fmt::print("\n{}: {} key subscribers + {} whole-table subscribers, {} updates in {:.1f} s\n",
               name, key_subs, whole_subs, updates.load(), wall);
    fmt::print("  delivered / expected        {} / {}{}\n", got.received, expected,
               got.received == expected ? "  (all)" : "  (MISSING)");
    fmt::print("  bare libpq reader (floor)   p50 {:6.2f} ms  p99 {:6.2f} ms\n", f50, f99);
    fmt::print(
        "  eddy -> SSE client          p50 {:6.2f} ms  p99 {:6.2f} ms   p99 - floor {:+.2f} ms\n",
        got.p50_ms, got.p99_ms, got.p99_ms - f99);
    fmt::print("  eddy CPU                    {:.0f}% of a core\n",
               100.0 * (cpu1 - cpu0) / (wall + 1));
    fmt::print(
        "  eddy RSS                    {:.1f} MiB before clients, {:.1f} MiB with {} idle "
        "subscribers ({:.1f} KiB each), {:.1f} MiB under load\n",
        rss_before / 1024.0, rss_idle / 1024.0, key_subs + whole_subs,
        static_cast<double>(rss_idle - rss_before) / std::max(1, key_subs + whole_subs),
        rss_busy / 1024.0);
    std::fflush(stdout);
  };
  run_phase("phase 1", keys, 10, true);
  run_phase("phase 2", 0, 100, false);
  floor.Stop();
  kill(eddy.pid, SIGTERM);
  int status = 0;
  waitpid(eddy.pid, &status, 0);
  std::filesystem::remove_all(data_dir);
  return 0;
}
