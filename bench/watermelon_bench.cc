// WatermelonDB face benchmark: eddy's sync endpoints against `COPY` of the same rows, both
// measured in the same run.
//
//   build/h-*/bench/watermelon_bench [--rows N] [--changed N] [--pushed N] [--repeat N]
//                                    [--nudged N]
//
// A throwaway PostgreSQL 15 holds `items (id text PRIMARY KEY, title text, plays int, meta jsonb,
// added_at timestamptz, n int)` with ROWS rows; eddy's server (server::Service, the same object
// `eddy serve` runs) serves it on /v1/watermelon/* in this process, and a plain HTTP/1.1 client
// here reads every answer to the end:
//   1. first sync: GET pull?last_pulled_at=null (ROWS records as `created`), against
//      `COPY (SELECT ...) TO STDOUT` of the same rows read to the end with libpq;
//   2. incremental pull of CHANGED rows updated by SQL after a pull, against COPY TO of those rows;
//   3. push of PUSHED new records in one request, against `COPY ... FROM STDIN` of the same rows
//      into a twin table;
//   4. the first sync again with Accept-Encoding: gzip (compressed as it is streamed), against
//      the COPY of case 1;
//   5. eddy's peak memory growth during a first sync whose client streams the body away, against
//      the size of the body (a pull built in memory grows by about the body's size or more);
//   6. a client reading the first sync at 1/8 of the body per second: when the pull's snapshot is
//      released (the pull counter moves), against how long the client reads;
//   7. live nudges: NUDGED subscribers of /v1/watermelon/changes, 20 commits: commit -> every
//      subscriber's "changed" event, against commit -> the follower applied it.
// BENCH_STREAM_AFTER_KB and BENCH_PULL_WAIT_MS override watermelon.stream_after_kb and
// watermelon.pull_wait_ms.
// Each figure is the best of REPEAT runs (the first pull of each kind is untimed: it waits for the
// change stream to reach the writes); the answer's record count is checked.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <simdjson.h>
#include <sys/socket.h>
#include <unistd.h>

#include "adapters/watermelon/gzip.h"
#include "bench_util.h"
#include "server/service.h"

namespace {

using eddy::bench::Clock;
using eddy::bench::Die;
using eddy::bench::Exec;
using eddy::bench::Seconds;

[[noreturn]] void Fail(const std::string& what) {
  fmt::print(stderr, "watermelon_bench: {}\n", what);
  std::exit(1);
}

struct HttpReply {
  int status = 0;
  std::string headers;
  std::string body;      // de-chunked (when kept)
  size_t raw_bytes = 0;  // as received, head included
};

// The data of a chunked body; fails unless it ends with the last chunk.
std::string Dechunk(std::string_view raw) {
  std::string out;
  for (;;) {
    const size_t line_end = raw.find("\r\n");
    if (line_end == std::string_view::npos) Fail("chunked body cut short");
    const size_t size = std::stoul(std::string(raw.substr(0, line_end)), nullptr, 16);
    raw.remove_prefix(line_end + 2);
    if (size == 0) return out;
    if (raw.size() < size + 2) Fail("chunked body cut short");
    out.append(raw.substr(0, size));
    raw.remove_prefix(size + 2);
  }
}

struct FetchOptions {
  std::string extra_headers;   // "Name: value\r\n" lines
  bool keep_body = true;       // false: count the bytes only (a client that streams them away)
  double max_bytes_per_s = 0;  // > 0: read no faster (a slow client)
};

// One HTTP/1.1 request with Connection: close, read to the end.
HttpReply Http(uint16_t port, const std::string& method, const std::string& target,
               const std::string& body = "", const FetchOptions& options = {}) {
  HttpReply reply;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (options.max_bytes_per_s > 0) {
    const int small = 64 << 10;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    Fail("connect to eddy");
  }
  const std::string request = method + " " + target +
                              " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                              "Content-Type: application/json\r\nX-Client-Id: bench\r\n" +
                              options.extra_headers +
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, 0);
    if (n <= 0) Fail("send to eddy");
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  std::vector<char> buffer(options.max_bytes_per_s > 0 ? (16 << 10) : (1 << 20));
  const Clock::time_point start = Clock::now();
  while (true) {
    ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
    if (n <= 0) break;
    reply.raw_bytes += static_cast<size_t>(n);
    if (options.keep_body || raw.size() < 4096) raw.append(buffer.data(), static_cast<size_t>(n));
    if (options.max_bytes_per_s > 0) {
      const auto due =
          start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                      static_cast<double>(reply.raw_bytes) / options.max_bytes_per_s));
      std::this_thread::sleep_until(due);
    }
  }
  close(fd);
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.size() < 12) Fail("no HTTP answer");
  reply.status = std::stoi(raw.substr(9, 3));
  reply.headers = raw.substr(0, head_end);
  if (options.keep_body) {
    reply.body = raw.substr(head_end + 4);
    if (reply.headers.find("Transfer-Encoding: chunked") != std::string::npos) {
      reply.body = Dechunk(reply.body);
    }
  }
  return reply;
}

// A "Vm...:" line of /proc/self/status, in bytes.
size_t ProcStatusBytes(std::string_view key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(key)) return std::stoul(line.substr(key.size())) * 1024;
  }
  return 0;
}
// Peak resident memory since the last ResetPeakRss(), and resident memory now.
size_t PeakRss() { return ProcStatusBytes("VmHWM:"); }
size_t CurrentRss() { return ProcStatusBytes("VmRSS:"); }
void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

// A counter of eddy's /metrics; -1 when absent.
int64_t Metric(uint16_t port, const std::string& name) {
  const std::string text = Http(port, "GET", "/metrics").body;
  const size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + name.size() + 2));
}

struct Pulled {
  double seconds = 0;
  int64_t timestamp = 0;
  size_t records = 0;
  size_t bytes = 0;
};

Pulled Pull(uint16_t port, const std::string& last) {
  const Clock::time_point start = Clock::now();
  HttpReply r =
      Http(port, "GET",
           "/v1/watermelon/pull?last_pulled_at=" + last + "&schema_version=1&migration=null");
  Pulled p;
  p.seconds = Seconds(Clock::now() - start);
  if (r.status != 200) Fail(fmt::format("pull: {} {}", r.status, r.body.substr(0, 300)));
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r.body).get(doc) != simdjson::SUCCESS) Fail("pull: not JSON");
  p.timestamp = doc["timestamp"].get_int64();
  simdjson::dom::element items = doc["changes"]["items"];
  p.records = items["created"].get_array().size() + items["updated"].get_array().size();
  p.bytes = r.body.size();
  return p;
}

// COPY (query) TO STDOUT read to the end; returns seconds, counts rows.
double CopyOut(PGconn* conn, const std::string& query, size_t* rows) {
  const Clock::time_point start = Clock::now();
  PGresult* res = PQexec(conn, ("COPY (" + query + ") TO STDOUT").c_str());
  if (PQresultStatus(res) != PGRES_COPY_OUT) Fail(PQerrorMessage(conn));
  PQclear(res);
  *rows = 0;
  char* line = nullptr;
  int n = 0;
  while ((n = PQgetCopyData(conn, &line, 0)) > 0) {
    ++*rows;
    PQfreemem(line);
  }
  res = PQgetResult(conn);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) Fail(PQerrorMessage(conn));
  PQclear(res);
  return Seconds(Clock::now() - start);
}

double CopyIn(PGconn* conn, const std::string& table, const std::string& data) {
  const Clock::time_point start = Clock::now();
  PGresult* res = PQexec(conn, ("COPY " + table + " FROM STDIN").c_str());
  if (PQresultStatus(res) != PGRES_COPY_IN) Fail(PQerrorMessage(conn));
  PQclear(res);
  if (PQputCopyData(conn, data.data(), static_cast<int>(data.size())) != 1) {
    Fail(PQerrorMessage(conn));
  }
  if (PQputCopyEnd(conn, nullptr) != 1) Fail(PQerrorMessage(conn));
  res = PQgetResult(conn);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) Fail(PQerrorMessage(conn));
  PQclear(res);
  return Seconds(Clock::now() - start);
}

void Row(const char* what, size_t records, double eddy_s, double copy_s) {
  fmt::print(
      "{:<34} {:>8} records  eddy {:7.3f} s ({:>9.0f} rec/s)  COPY {:7.3f} s ({:>9.0f} "
      "rec/s)  eddy/COPY time {:5.1f}x\n",
      what, records, eddy_s, static_cast<double>(records) / eddy_s, copy_s,
      static_cast<double>(records) / copy_s, eddy_s / copy_s);
}

}  // namespace

int main(int argc, char** argv) {
  // A fixed mmap threshold: large buffers are mapped and unmapped, not kept in the heap, so the
  // peak-memory figure (case 5) sees what a pull allocates rather than what earlier pulls left.
  mallopt(M_MMAP_THRESHOLD, 128 << 10);
  int64_t rows = 100000;
  int64_t changed = 10000;
  int64_t pushed = 10000;
  int repeat = 3;
  int nudged = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int64_t value = std::stoll(argv[i + 1]);
    if (flag == "--rows") {
      rows = value;
    } else if (flag == "--changed") {
      changed = value;
    } else if (flag == "--pushed") {
      pushed = value;
    } else if (flag == "--repeat") {
      repeat = static_cast<int>(value);
    } else if (flag == "--nudged") {
      nudged = static_cast<int>(value);
    } else {
      Fail("unknown flag " + flag + " (--rows N --changed N --pushed N --repeat N --nudged N)");
    }
  }
  changed = std::min(changed, rows);

  auto cluster = eddy::bench::StartBenchCluster();
  const std::string db = cluster->ConnInfo("bench");
  auto admin = eddy::bench::Connect(db);
  const char* kColumns =
      "(id text PRIMARY KEY, title text NOT NULL DEFAULT '', plays int NOT NULL DEFAULT 0, meta "
      "jsonb, added_at timestamptz, n int)";
  Exec(*admin, fmt::format("CREATE TABLE items {}", kColumns));
  Exec(*admin, fmt::format("CREATE TABLE items_copy {}", kColumns));
  Exec(*admin, fmt::format("INSERT INTO items SELECT 'r' || g, 'title ' || g, g % 1000, "
                           "jsonb_build_object('k', g, 'tags', jsonb_build_array('a', 'b')), "
                           "'2024-01-02 03:04:05.678+00'::timestamptz + g * interval '1 s', g "
                           "FROM generate_series(0, {}) g",
                           rows - 1));
  Exec(*admin, "VACUUM ANALYZE items");

  const std::string data_dir = fmt::format("/tmp/eddy-wmdb-bench-{}", getpid());
  eddy::server::Config config;
  config.watcher.database_url = db;
  config.watcher.data_dir = data_dir;
  config.watcher.slot = "eddy";
  config.http.port = 0;
  config.auth.mode = "open";
  config.shapes.enabled = false;
  eddy::watermelon::WatermelonTableConfig items;
  items.table = "items";
  items.columns = {"title", "plays", "meta", "added_at", "n"};
  items.rename = {{"added_at", "created_at"}};
  config.watermelon.tables.push_back(items);
  config.watermelon.pull_wait_ms = 30000;
  if (const char* ms = std::getenv("BENCH_PULL_WAIT_MS")) {
    config.watermelon.pull_wait_ms = std::stoll(ms);
  }
  if (const char* kb = std::getenv("BENCH_STREAM_AFTER_KB")) {
    config.watermelon.stream_after_kb = std::stoll(kb);
  }
  config.watermelon.barrier_timeout_ms = 30000;
  auto service = eddy::server::Service::Create(config);
  Die(service.status(), "create eddy");
  Die((*service)->Start(), "start eddy");
  if (!(*service)->engine().WaitUntilStreaming(30000)) Fail("eddy is not streaming");
  const uint16_t port = (*service)->http_port();

  PGconn* copy_conn = PQconnectdb(db.c_str());
  if (PQstatus(copy_conn) != CONNECTION_OK) Fail(PQerrorMessage(copy_conn));
  const std::string select = "SELECT id, title, plays, meta, added_at, n FROM items";
  fmt::print("== WatermelonDB face vs COPY ({} rows, best of {})\n", rows, repeat);

  // 1. First sync.
  Pulled warm = Pull(port, "null");
  if (warm.records != static_cast<size_t>(rows)) {
    Fail(fmt::format("first sync sent {} records, want {}", warm.records, rows));
  }
  double best_pull = 1e9;
  double best_copy = 1e9;
  for (int i = 0; i < repeat; ++i) {
    Pulled p = Pull(port, "null");
    best_pull = std::min(best_pull, p.seconds);
    size_t copied = 0;
    best_copy = std::min(best_copy, CopyOut(copy_conn, select, &copied));
    if (copied != static_cast<size_t>(rows)) Fail("COPY row count");
  }
  Row("pull, first sync", static_cast<size_t>(rows), best_pull, best_copy);
  fmt::print("  (answer {:.1f} MB)\n", static_cast<double>(warm.bytes) / 1e6);

  // 2. Incremental pull of rows changed by SQL.
  Exec(*admin, fmt::format("UPDATE items SET plays = plays + 1 WHERE n < {}", changed));
  const std::string since = std::to_string(warm.timestamp);
  Pulled changed_warm = Pull(port, since);
  if (changed_warm.records != static_cast<size_t>(changed)) {
    Fail(fmt::format("incremental pull sent {} records, want {}", changed_warm.records, changed));
  }
  best_pull = best_copy = 1e9;
  for (int i = 0; i < repeat; ++i) {
    Pulled p = Pull(port, since);
    best_pull = std::min(best_pull, p.seconds);
    size_t copied = 0;
    best_copy = std::min(
        best_copy, CopyOut(copy_conn, fmt::format("{} WHERE n < {}", select, changed), &copied));
  }
  Row("pull, changed rows", static_cast<size_t>(changed), best_pull, best_copy);

  // 3. Push of new records (each run pushes fresh ids; COPY FROM writes the same rows into the
  // empty twin table, truncated between runs).
  best_pull = best_copy = 1e9;
  int64_t last = changed_warm.timestamp;
  for (int run = 0; run < repeat; ++run) {
    std::string body = R"({"items":{"created":[)";
    std::string copy_data;
    for (int64_t i = 0; i < pushed; ++i) {
      const std::string id = fmt::format("p{}-{}", run, i);
      if (i > 0) body += ",";
      body += fmt::format(
          R"({{"id":"{}","title":"pushed {}","plays":{},"meta":"{{\"k\":{}}}","created_at":{},"n":{},"_status":"created","_changed":""}})",
          id, i, i % 1000, i, 1704164645678 + i * 1000, rows + i);
      copy_data += fmt::format("{}\tpushed {}\t{}\t{{\"k\": {}}}\t{}\t{}\n", id, i, i % 1000, i,
                               "2024-01-02 03:04:05.678+00", rows + i);
    }
    body += R"(],"updated":[],"deleted":[]}})";
    const Clock::time_point start = Clock::now();
    HttpReply r =
        Http(port, "POST", "/v1/watermelon/push?last_pulled_at=" + std::to_string(last), body);
    const double push_s = Seconds(Clock::now() - start);
    if (r.status != 200 || r.body != "{}") {
      Fail(fmt::format("push: {} {}", r.status, r.body.substr(0, 300)));
    }
    best_pull = std::min(best_pull, push_s);
    Exec(*admin, "TRUNCATE items_copy");
    best_copy = std::min(best_copy, CopyIn(copy_conn, "items_copy", copy_data));
    last = Pull(port, std::to_string(last)).timestamp;
  }
  Row("push, created records", static_cast<size_t>(pushed), best_pull, best_copy);
  const std::string count = std::string(
      admin->Exec(fmt::format("SELECT count(*) FROM items WHERE n >= {}", rows)).value().Get(0, 0));
  if (std::stoll(count) != pushed * repeat) Fail("pushed rows missing: " + count);

  // 4. First sync again, gzip-compressed on the fly (Accept-Encoding: gzip, as fetch sends).
  best_pull = 1e9;
  size_t zipped_bytes = 0;
  for (int i = 0; i < repeat; ++i) {
    const Clock::time_point start = Clock::now();
    HttpReply r = Http(port, "GET", "/v1/watermelon/pull?last_pulled_at=null", "",
                       {.extra_headers = "Accept-Encoding: gzip\r\n"});
    best_pull = std::min(best_pull, Seconds(Clock::now() - start));
    if (r.status != 200 || r.headers.find("Content-Encoding: gzip") == std::string::npos) {
      Fail("gzip pull: " + r.headers);
    }
    zipped_bytes = r.body.size();
    auto json = eddy::watermelon::Gunzip(r.body);
    if (!json.ok()) Fail("gzip pull: " + json.status().ToString());
  }
  const size_t all_rows = static_cast<size_t>(rows + pushed * repeat);
  double copy_all = 1e9;
  for (int i = 0; i < repeat; ++i) {
    size_t copied = 0;
    copy_all = std::min(copy_all, CopyOut(copy_conn, select, &copied));
    if (copied != all_rows) Fail("COPY row count");
  }
  Row("pull, first sync, gzip", all_rows, best_pull, copy_all);
  fmt::print("  (answer {:.1f} MB gzip-compressed)\n", static_cast<double>(zipped_bytes) / 1e6);

  // 5. Memory: a client that streams the body away; eddy's peak memory growth during the pull
  // against the size of the body it sent.
  ResetPeakRss();
  const size_t rss_before = CurrentRss();
  HttpReply counted =
      Http(port, "GET", "/v1/watermelon/pull?last_pulled_at=null", "", {.keep_body = false});
  if (counted.status != 200) Fail("counted pull");
  const size_t growth = PeakRss() > rss_before ? PeakRss() - rss_before : 0;
  fmt::print(
      "{:<34} {:>8} records  body {:.1f} MB  eddy peak memory growth {:.1f} MB  "
      "growth/body {:.2f}x\n",
      "pull, first sync, memory", all_rows, static_cast<double>(counted.raw_bytes) / 1e6,
      static_cast<double>(growth) / 1e6,
      static_cast<double>(growth) / static_cast<double>(counted.raw_bytes));

  // 6. A slow client (the whole body in about 8 s): how long the pull's snapshot stays open.
  const int64_t pulls_before = Metric(port, "eddy_watermelon_pulls_total");
  const double rate = static_cast<double>(counted.raw_bytes) / 8.0;
  double download_s = 0;
  std::thread slow([&] {
    const Clock::time_point start = Clock::now();
    HttpReply r = Http(port, "GET", "/v1/watermelon/pull?last_pulled_at=null", "",
                       {.keep_body = false, .max_bytes_per_s = rate});
    download_s = Seconds(Clock::now() - start);
    if (r.status != 200) Fail("slow pull");
  });
  const Clock::time_point slow_start = Clock::now();
  double snapshot_s = 0;
  while (Metric(port, "eddy_watermelon_pulls_total") <= pulls_before) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  snapshot_s = Seconds(Clock::now() - slow_start);
  slow.join();
  fmt::print(
      "{:<34} {:>8} records  client read for {:.2f} s  pull done (snapshot released) "
      "after {:.2f} s  snapshot/client {:.2f}x  spooled pulls {}\n",
      "pull, first sync, slow client", all_rows, download_s, snapshot_s, snapshot_s / download_s,
      Metric(port, "eddy_watermelon_spooled_pulls_total"));

  // 7. Live nudges: NUDGED clients subscribe to /v1/watermelon/changes; 20 single-row commits
  // 400 ms apart (past the 250 ms debounce). Commit -> every subscriber has its "changed" event,
  // against commit -> the follower has applied it (the earliest a pull can see the change).
  {
    std::vector<int> fds;
    for (int i = 0; i < nudged; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(port);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) Fail("connect");
      const std::string get = "GET /v1/watermelon/changes HTTP/1.1\r\nHost: localhost\r\n\r\n";
      if (send(fd, get.data(), get.size(), 0) <= 0) Fail("send");
      fds.push_back(fd);
    }
    std::vector<std::string> received(fds.size());
    std::vector<int> counted(fds.size(), 0);
    // Each subscriber's arrival time of its k-th "changed" event.
    std::vector<std::vector<Clock::time_point>> arrivals(fds.size());
    std::atomic<bool> reading{true};
    std::thread reader([&] {
      std::vector<pollfd> polls;
      for (int fd : fds) polls.push_back({fd, POLLIN, 0});
      char buffer[4096];
      while (reading.load()) {
        if (poll(polls.data(), polls.size(), 20) <= 0) continue;
        const Clock::time_point now = Clock::now();
        for (size_t i = 0; i < polls.size(); ++i) {
          if (!(polls[i].revents & POLLIN)) continue;
          const ssize_t n = recv(fds[i], buffer, sizeof(buffer), 0);
          if (n <= 0) continue;
          received[i].append(buffer, static_cast<size_t>(n));
          for (size_t at = received[i].find("event: changed"); at != std::string::npos;
               at = received[i].find("event: changed", at + 1)) {
            arrivals[i].push_back(now);
          }
          // Keep only an unfinished event.
          const size_t cut = received[i].rfind("\n\n");
          if (cut != std::string::npos) received[i].erase(0, cut + 2);
        }
      }
    });
    const auto nudger_ready = Clock::now() + std::chrono::seconds(30);
    while (Metric(port, "eddy_watermelon_nudge_subscribers") < nudged) {
      if (Clock::now() > nudger_ready) Fail("subscribers did not connect");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    eddy::watermelon::MetaFollower* follower = (*service)->watermelon()->follower();
    std::vector<double> nudge_ms, applied_ms;
    constexpr int kCommits = 20;
    for (int k = 0; k < kCommits; ++k) {
      const uint64_t before = follower->last_change_lsn();
      const Clock::time_point committed = Clock::now();
      Exec(*admin, fmt::format("UPDATE items SET plays = plays + 1 WHERE n = {}", k));
      while (follower->last_change_lsn() == before) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
      applied_ms.push_back(Seconds(Clock::now() - committed) * 1000);
      const auto deadline = Clock::now() + std::chrono::seconds(10);
      for (size_t i = 0; i < fds.size(); ++i) {
        while (arrivals[i].size() < static_cast<size_t>(k + 1) && Clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        if (arrivals[i].size() < static_cast<size_t>(k + 1)) Fail("a subscriber missed a nudge");
        nudge_ms.push_back(Seconds(arrivals[i][k] - committed) * 1000);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
    }
    reading = false;
    reader.join();
    for (int fd : fds) close(fd);
    auto percentile = [](std::vector<double> v, double q) {
      std::sort(v.begin(), v.end());
      return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
    };
    fmt::print(
        "{:<34} {:>8} clients  commit -> nudge p50 {:.1f} ms p99 {:.1f} ms  commit -> applied "
        "p50 {:.1f} ms  nudge/applied p50 {:.2f}x\n",
        "live nudges, 20 commits", nudged, percentile(nudge_ms, 0.5), percentile(nudge_ms, 0.99),
        percentile(applied_ms, 0.5), percentile(nudge_ms, 0.5) / percentile(applied_ms, 0.5));
  }

  PQfinish(copy_conn);
  (*service)->Stop();
  std::filesystem::remove_all(data_dir);
  return 0;
}
