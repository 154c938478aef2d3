// Shape API benchmark: `eddy serve` answering Electric's HTTP Shape API, each figure beside a
// reference measured in the same run.
//
//   build/release/bench/shape_bench [--quick] [--rows N] [--shapes N] [--seconds S]
//                                   [--rates R1,R2,...] [--release-after S] [--data-dir DIR]
//                                   [--wrap "heaptrack -o FILE"]
//
// Part 1, initial sync: a ROWS-row table (bigint id, text, int, jsonb, timestamptz) synced
// through GET /v1/shape from offset=-1, following electric-offset through every chunk (10 MiB
// default chunks) until electric-up-to-date, by a plain HTTP/1.1 client in this process that
// counts the rows; reference: `COPY (SELECT ...) TO STDOUT` of the same rows read to the end
// with libpq. Then a second client syncs the same shape (served from the shape's log).
//
// Part 2, live shapes: SHAPES shapes `where id = $1`, one per row of a table, each with a
// long-polling client (bench/shape_clients.mjs, one Node process), while writers update random
// rows at each RATE for SECONDS, storing clock_timestamp() in the row. Commit-to-client latency
// p50/p99, changes/s delivered, eddy's CPU and RSS before the shapes, with them live, and once
// they are idle (polls stopped and shapes.release_after_s passed); reference: a bare libpq
// logical replication reader on its own slot timing the same commits (the floor). A rate after
// one that was not kept up with is skipped. SHAPES is capped to what the open-file limit allows
// (eddy holds a socket and a log file per live shape). With gdb installed, eddy's heap in use
// (malloc_stats) is printed beside RSS, which keeps what malloc does not give back.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eddy/clock.h"

#include "bare_reader.h"
#include "bench_util.h"

namespace {

using eddy::bench::Clock;
using eddy::bench::Seconds;

// What a failed run leaves behind is ended at exit: the children here, PostgreSQL by its
// destructor (a static, so std::exit runs it).
std::vector<pid_t> g_children;
std::unique_ptr<eddy::pg::ThrowawayCluster> g_cluster;

void KillChildren() {
  for (pid_t pid : g_children) {
    if (kill(pid, SIGKILL) == 0) waitpid(pid, nullptr, 0);
  }
  g_children.clear();
}

// Stops the children and PostgreSQL before static destructors run (the cluster's destructor
// needs statics that a later exit would already have destroyed).
void Cleanup() {
  KillChildren();
  g_cluster.reset();
}

[[noreturn]] void Fail(const std::string& what) {
  fmt::print(stderr, "shape_bench: {}\n", what);
  std::fflush(stderr);
  Cleanup();
  std::_Exit(1);
}

// ---- child processes ----

struct Child {
  pid_t pid = -1;
  std::string out;
};

Child Spawn(const std::string& tag, std::vector<std::string> argv, std::vector<std::string> env) {
  Child c;
  c.out = fmt::format("/tmp/eddy-shape-bench-{}-{}.out", getpid(), tag);
  c.pid = fork();
  if (c.pid == 0) {
    int fd = ::open(c.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    int null_fd = ::open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    for (const auto& e : env) putenv(strdup(e.c_str()));
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  g_children.push_back(c.pid);
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
    int status = 0;
    if (waitpid(c.pid, &status, WNOHANG) == c.pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// CPU seconds (user + system) and RSS in KiB of a process.
std::pair<double, int64_t> Usage(pid_t pid) {
  std::string stat = Slurp(fmt::format("/proc/{}/stat", pid));
  size_t rp = stat.rfind(')');
  if (rp == std::string::npos) return {0, 0};
  std::istringstream in(stat.substr(rp + 2));
  std::string field;
  std::vector<std::string> f;
  while (in >> field) f.push_back(field);
  // After "pid (comm) ": state is f[0]; utime f[11], stime f[12].
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double cpu = f.size() > 12 ? (std::stod(f[11]) + std::stod(f[12])) / ticks : 0;
  int64_t rss_kb = 0;
  std::istringstream status(Slurp(fmt::format("/proc/{}/status", pid)));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) rss_kb = std::stoll(line.substr(6));
  }
  return {cpu, rss_kb};
}

// Heap bytes in use in eddy (glibc's malloc_stats(), called through gdb; the output goes to
// eddy's stderr), or -1 without gdb. RSS keeps what malloc does not return to the system; this
// is what is allocated. Stops eddy for a second or two.
int64_t HeapInUse(const Child& eddy) {
  const size_t before = Slurp(eddy.out).size();
  const std::string cmd =
      fmt::format("gdb -p {} -batch -ex 'call (void)malloc_stats()' >/dev/null 2>&1", eddy.pid);
  if (std::system(cmd.c_str()) != 0) return -1;
  const std::string out = Slurp(eddy.out);
  if (out.size() <= before) return -1;
  const std::string added = out.substr(before);
  std::smatch m;
  if (std::regex_search(
          added, m,
          std::regex(
              R"(Total \(incl\. mmap\):\s*system bytes\s*=\s*\d+\s*in use bytes\s*=\s*(\d+))"))) {
    return std::stoll(m[1]);
  }
  return -1;
}

// ---- a minimal blocking HTTP/1.1 client (keep-alive, Content-Length or chunked bodies) ----

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  bool Has(const std::string& name) const { return headers.count(name) > 0; }
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  explicit HttpClient(const std::string& base_url) {
    std::smatch m;
    if (!std::regex_match(base_url, m, std::regex(R"(http://([0-9.]+):([0-9]+))"))) {
      Fail("unexpected eddy URL " + base_url);
    }
    host_ = m[1];
    port_ = std::stoi(m[2]);
  }
  ~HttpClient() {
    if (fd_ >= 0) close(fd_);
  }

  HttpResponse Get(const std::string& target) {
    if (fd_ < 0) Connect();
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: " + host_ +
                                "\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n";
    WriteAll(request);
    HttpResponse r;
    size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) ReadMore();
    std::istringstream head(buf_.substr(0, head_end));
    buf_.erase(0, head_end + 4);
    std::string line;
    std::getline(head, line);
    if (line.size() < 12) Fail("bad status line: " + line);
    r.status = std::stoi(line.substr(9, 3));
    while (std::getline(head, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
    }
    if (r.Has("content-length")) {
      const size_t n = std::stoull(r.Header("content-length"));
      while (buf_.size() < n) ReadMore();
      r.body = buf_.substr(0, n);
      buf_.erase(0, n);
    } else if (r.Header("transfer-encoding").find("chunked") != std::string::npos) {
      for (;;) {
        size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos) ReadMore();
        const size_t n = std::stoull(buf_.substr(0, eol), nullptr, 16);
        while (buf_.size() < eol + 2 + n + 2) ReadMore();
        r.body.append(buf_, eol + 2, n);
        buf_.erase(0, eol + 2 + n + 2);
        if (n == 0) break;
      }
    }
    if (r.Header("connection") == "close") {
      close(fd_);
      fd_ = -1;
      buf_.clear();
    }
    return r;
  }

 private:
  void Connect() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    inet_pton(AF_INET, host_.c_str(), &addr.sin_addr);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Fail(fmt::format("connect {}:{}: {}", host_, port_, strerror(errno)));
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  void WriteAll(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n <= 0) Fail(fmt::format("write: {}", strerror(errno)));
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  void ReadMore() {
    char chunk[1 << 16];
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n <= 0) Fail(fmt::format("read: connection ended ({})", n < 0 ? strerror(errno) : "EOF"));
    buf_.append(chunk, static_cast<size_t>(n));
  }

  std::string host_;
  int port_ = 0;
  int fd_ = -1;
  std::string buf_;
};

size_t CountOccurrences(std::string_view text, std::string_view needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

struct SyncResult {
  double seconds = 0;
  int64_t rows = 0;
  int64_t bytes = 0;
  int requests = 0;
};

// Follows the shape from offset=-1 until electric-up-to-date, counting insert messages.
SyncResult SyncShape(const std::string& url, const std::string& shape_query) {
  HttpClient http(url);
  SyncResult r;
  std::string offset = "-1";
  std::string handle;
  const auto start = Clock::now();
  for (;;) {
    std::string target = "/v1/shape?" + shape_query + "&offset=" + offset;
    if (!handle.empty()) target += "&handle=" + handle;
    HttpResponse res = http.Get(target);
    r.requests++;
    if (res.status != 200) {
      Fail(fmt::format("GET {}: HTTP {} {}", target, res.status, res.body.substr(0, 300)));
    }
    r.rows += static_cast<int64_t>(CountOccurrences(res.body, "\"operation\":\"insert\""));
    r.bytes += static_cast<int64_t>(res.body.size());
    handle = res.Header("electric-handle");
    offset = res.Header("electric-offset");
    if (res.Has("electric-up-to-date")) break;
  }
  r.seconds = Seconds(Clock::now() - start);
  return r;
}

// `COPY (query) TO STDOUT` read to the end with libpq; returns rows and bytes.
SyncResult CopyOut(const std::string& conninfo, const std::string& query) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (PQstatus(conn) != CONNECTION_OK) Fail(std::string("COPY connect: ") + PQerrorMessage(conn));
  SyncResult r;
  const auto start = Clock::now();
  PGresult* res = PQexec(conn, ("COPY (" + query + ") TO STDOUT").c_str());
  if (PQresultStatus(res) != PGRES_COPY_OUT) Fail(std::string("COPY: ") + PQerrorMessage(conn));
  PQclear(res);
  char* row = nullptr;
  int n;
  while ((n = PQgetCopyData(conn, &row, 0)) > 0) {
    r.rows++;
    r.bytes += n;
    PQfreemem(row);
  }
  if (n == -2) Fail(std::string("COPY: ") + PQerrorMessage(conn));
  res = PQgetResult(conn);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) Fail(std::string("COPY: ") + PQerrorMessage(conn));
  PQclear(res);
  r.seconds = Seconds(Clock::now() - start);
  PQfinish(conn);
  return r;
}

int64_t ScrapeMetric(const std::string& url, const std::string& name) {
  HttpClient http(url);
  HttpResponse res = http.Get("/metrics");
  std::smatch m;
  if (std::regex_search(res.body, m, std::regex("\n" + name + " ([0-9]+)"))) {
    return std::stoll(m[1]);
  }
  return -1;
}

// ---- part 2: the Node clients ----

struct ClientStats {
  int64_t received = 0, polls = 0, errors = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  int64_t first_receive_us = 0, last_receive_us = 0;
};

// Asks the clients for their counts (SIGUSR1) and parses the newest STATS line.
ClientStats AskClients(const Child& clients, bool terminate) {
  const size_t before = Slurp(clients.out).size();
  kill(clients.pid, terminate ? SIGTERM : SIGUSR1);
  ClientStats s;
  for (int i = 0; i < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    const std::string out = Slurp(clients.out);
    if (out.size() <= before) continue;
    const size_t at = out.rfind("STATS ");
    if (at == std::string::npos || at < before || out.find('\n', at) == std::string::npos) continue;
    const std::string line = out.substr(at, out.find('\n', at) - at);
    auto num = [&](const char* key) -> double {
      std::smatch m;
      if (std::regex_search(line, m, std::regex(std::string("\"") + key + "\":([0-9.e+-]+)"))) {
        return std::stod(m[1]);
      }
      return 0;
    };
    s.received = static_cast<int64_t>(num("received"));
    s.polls = static_cast<int64_t>(num("polls"));
    s.errors = static_cast<int64_t>(num("errors"));
    s.p50_ms = num("p50_us") / 1000.0;
    s.p99_ms = num("p99_us") / 1000.0;
    s.max_ms = num("max_us") / 1000.0;
    s.first_receive_us = static_cast<int64_t>(num("first_receive_us"));
    s.last_receive_us = static_cast<int64_t>(num("last_receive_us"));
    return s;
  }
  Fail("the Node clients did not answer: " + Slurp(clients.out).substr(0, 2000));
}

struct Percentiles {
  double p50_ms = 0, p99_ms = 0;
};
Percentiles Pick(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return {};
  return {static_cast<double>(v[v.size() / 2]) / 1000.0,
          static_cast<double>(v[v.size() * 99 / 100]) / 1000.0};
}

struct WriteResult {
  int64_t changes = 0;
  int64_t transactions = 0;
  double seconds = 0;
  int64_t start_us = 0, end_us = 0;  // wall clock
};

// Updates random rows of `live` (ids 1..rows) at `rate` changes/s for `seconds` from `writers`
// connections, `per_txn` distinct rows per transaction, storing clock_timestamp() in ts.
WriteResult Write(const std::string& db, int rows, int rate, double seconds, int per_txn) {
  const int kWriters = 4;
  const double txn_rate = static_cast<double>(rate) / per_txn;
  std::atomic<int64_t> changes{0}, transactions{0};
  std::vector<std::thread> writers;
  WriteResult r;
  r.start_us = eddy::SystemClock().NowUnixMicros();
  const auto start = Clock::now();
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      auto conn = eddy::bench::Connect(db);
      std::mt19937 rng(static_cast<unsigned>(w * 7919 + 1));
      std::uniform_int_distribution<int> pick(1, rows);
      const double interval = kWriters / txn_rate;
      const auto n = static_cast<int64_t>(seconds * txn_rate / kWriters);
      for (int64_t i = 0; i < n; ++i) {
        std::this_thread::sleep_until(
            start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                        interval * (static_cast<double>(i) + static_cast<double>(w) / kWriters))));
        std::vector<int> ids;
        while (static_cast<int>(ids.size()) < per_txn) {
          const int id = pick(rng);
          if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
        }
        eddy::bench::Exec(*conn,
                          fmt::format("UPDATE live SET n = n + 1, ts = (extract(epoch FROM "
                                      "clock_timestamp()) * 1000000)::bigint WHERE id IN ({})",
                                      fmt::join(ids, ",")));
        changes += per_txn;
        ++transactions;
      }
    });
  }
  for (auto& t : writers) t.join();
  r.seconds = Seconds(Clock::now() - start);
  r.end_us = eddy::SystemClock().NowUnixMicros();
  r.changes = changes.load();
  r.transactions = transactions.load();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 1'000'000;
  int shapes = 10'000;
  double seconds = 20;
  std::vector<int> rates = {5000, 50000};
  int release_after_s = 5;
  // e.g. "heaptrack -o /tmp/eddy.heaptrack": runs eddy under it (RSS is then the wrapper's).
  std::string wrap;
  std::string data_parent = "/tmp";  // where eddy's data dir goes (a tmpfs shows fsync's share)
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--quick") {
      rows = 100'000;
      shapes = 1000;
      seconds = 5;
      rates = {2000};
    } else if (arg == "--rows" && has_value) {
      rows = std::atoll(argv[++i]);
    } else if (arg == "--shapes" && has_value) {
      shapes = std::atoi(argv[++i]);
    } else if (arg == "--seconds" && has_value) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "--wrap" && has_value) {
      wrap = argv[++i];
    } else if (arg == "--data-dir" && has_value) {
      data_parent = argv[++i];
    } else if (arg == "--release-after" && has_value) {
      release_after_s = std::atoi(argv[++i]);
    } else if (arg == "--rates" && has_value) {
      rates.clear();
      std::stringstream list(argv[++i]);
      std::string item;
      while (std::getline(list, item, ',')) rates.push_back(std::atoi(item.c_str()));
    } else {
      Fail("unknown argument " + arg +
           " (use --quick, --rows N, --shapes N, --seconds S, --rates R1,R2, --release-after S, "
           "--data-dir DIR, --wrap COMMAND)");
    }
  }
  if (rows < 1 || shapes < 1 || seconds <= 0 || rates.empty() || release_after_s < 1) {
    Fail("--rows, --shapes, --seconds, --rates and --release-after must be positive");
  }
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  // eddy holds a socket and, while a shape is live, its log file per shape; try for room
  // (root may raise the hard limit), else take what there is.
  rlimit wanted{65536, std::max<rlim_t>(rl.rlim_max, 65536)};
  if (setrlimit(RLIMIT_NOFILE, &wanted) != 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  getrlimit(RLIMIT_NOFILE, &rl);
  // eddy needs a socket and an open log file per live shape (its log is closed only once the
  // shape is idle), plus some 100 others.
  if (const auto fit = static_cast<int>((rl.rlim_cur - 200) / 2); shapes > fit) {
    fmt::print(
        "open file limit {} (hard limit, not raisable here): eddy holds a socket and a log file "
        "per live shape, so {} shapes instead of {}\n",
        rl.rlim_cur, fit, shapes);
    shapes = fit;
  }
  const std::string self = std::filesystem::canonical("/proc/self/exe").parent_path().string();
  const std::string eddy_bin = self + "/../src/cli/eddy";
  const std::string clients_js = std::string(EDDY_BENCH_DIR) + "/shape_clients.mjs";

  std::atexit(Cleanup);  // for eddy::bench::Die
  g_cluster = eddy::bench::StartBenchCluster();
  const std::string db = g_cluster->Url("bench");
  auto admin = eddy::bench::Connect(db);
  auto exec = [&](const std::string& sql) { eddy::bench::Exec(*admin, sql); };

  fmt::print("loading {} rows and {} live rows...\n", rows, shapes);
  std::fflush(stdout);
  exec(
      "CREATE TABLE big (id bigint PRIMARY KEY, title text NOT NULL, n int, meta jsonb, "
      "at timestamptz)");
  exec(fmt::format(
      "INSERT INTO big SELECT g, 'title of item ' || g, g % 1000, jsonb_build_object('artist', "
      "'artist ' || (g % 100), 'year', 1950 + g % 70, 'tags', jsonb_build_array('a', 'b')), "
      "timestamptz '2024-01-01' + g * interval '1 second' FROM generate_series(1, {}) g",
      rows));
  exec("CREATE TABLE live (id bigint PRIMARY KEY, n int NOT NULL, ts bigint NOT NULL)");
  exec(fmt::format("INSERT INTO live SELECT g, 0, 0 FROM generate_series(1, {}) g", shapes));
  exec("VACUUM ANALYZE big");
  exec("VACUUM ANALYZE live");
  exec("CREATE PUBLICATION eddy FOR ALL TABLES");

  const std::string data_dir = fmt::format("{}/eddy-shape-bench-{}", data_parent, getpid());
  std::filesystem::create_directories(data_dir);
  std::ofstream(data_dir + "/eddy.toml") << fmt::format(
      "[shapes]\nrelease_after_s = {}\nlong_poll_timeout_ms = 20000\n", release_after_s);
  std::vector<std::string> eddy_argv;
  std::istringstream wrap_words(wrap);
  for (std::string word; wrap_words >> word;) eddy_argv.push_back(word);
  for (std::string arg : std::vector<std::string>{
           eddy_bin, "--config", data_dir + "/eddy.toml", "--database", db, "--data-dir",
           data_dir + "/data", "--http", "127.0.0.1:0", "--open", "--log-level", "warn", "serve"}) {
    eddy_argv.push_back(arg);
  }
  Child eddy = Spawn("eddy", eddy_argv, {});
  std::string url;
  for (int i = 0; i < 600 && url.empty(); ++i) {
    std::smatch m;
    const std::string out = Slurp(eddy.out);
    if (std::regex_search(out, m, std::regex("eddy serving (http://127\\.0\\.0\\.1:[0-9]+)"))) {
      url = m[1];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (url.empty()) Fail("eddy did not start: " + Slurp(eddy.out));
  std::this_thread::sleep_for(std::chrono::seconds(1));  // capture streaming

  // ---- part 1: initial sync ----
  const std::string query = "SELECT id, title, n, meta, at FROM big";
  SyncResult copy = CopyOut(db, query);  // also warms the buffer cache for both
  SyncResult copy2 = CopyOut(db, query);
  if (copy2.seconds < copy.seconds) copy = copy2;
  SyncResult first = SyncShape(url, "table=big");
  SyncResult second = SyncShape(url, "table=big");
  auto rate_of = [](const SyncResult& r) { return static_cast<double>(r.rows) / r.seconds; };
  fmt::print("\ninitial sync of {} rows (bigint, text, int, jsonb, timestamptz)\n", rows);
  fmt::print("  COPY (SELECT ...) TO STDOUT   {:7.2f} s  {:9.0f} rows/s  {:6.1f} MiB\n",
             copy.seconds, rate_of(copy), static_cast<double>(copy.bytes) / (1 << 20));
  fmt::print(
      "  eddy, first client            {:7.2f} s  {:9.0f} rows/s  {:6.1f} MiB in {} requests  "
      "(x{:.2f} COPY's time)\n",
      first.seconds, rate_of(first), static_cast<double>(first.bytes) / (1 << 20), first.requests,
      first.seconds / copy.seconds);
  fmt::print(
      "  eddy, second client (log)     {:7.2f} s  {:9.0f} rows/s  {:6.1f} MiB in {} requests  "
      "(x{:.2f} COPY's time)\n",
      second.seconds, rate_of(second), static_cast<double>(second.bytes) / (1 << 20),
      second.requests, second.seconds / copy.seconds);
  if (first.rows != rows || second.rows != rows || copy.rows != rows) {
    fmt::print("  ROW COUNTS DIFFER: COPY {}, first {}, second {}\n", copy.rows, first.rows,
               second.rows);
  }
  std::fflush(stdout);

  // ---- part 2: live shapes ----
  exec("SELECT pg_create_logical_replication_slot('floor', 'pgoutput')");
  eddy::bench::BareReader floor(db, "floor");
  floor.Start();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const int64_t heap_before = HeapInUse(eddy);
  auto [cpu_before, rss_before] = Usage(eddy.pid);
  (void)cpu_before;
  Child clients = Spawn("clients", {"node", clients_js},
                        {"EDDY_URL=" + url, "TABLE=live", fmt::format("SHAPES={}", shapes)});
  const auto sync_start = Clock::now();
  if (!WaitFor(clients, "READY", 1800)) {
    Fail("clients did not get ready: " + Slurp(clients.out).substr(0, 2000));
  }
  const double sync_seconds = Seconds(Clock::now() - sync_start);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto [cpu_idle0, rss_live] = Usage(eddy.pid);
  (void)cpu_idle0;
  const int64_t heap_live = HeapInUse(eddy);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  fmt::print("\n{} live shapes `where id = $1`, one long-polling client each\n", shapes);
  fmt::print("  created and synced in {:.1f} s ({:.0f} shapes/s)\n", sync_seconds,
             shapes / sync_seconds);
  std::fflush(stdout);

  int64_t rss_busy = 0;
  bool kept_up = true;
  for (int rate : rates) {
    if (!kept_up) {
      fmt::print("\n  writers at {} changes/s: skipped (the previous rate was not kept up with)\n",
                 rate);
      continue;
    }
    const int per_txn = rate <= 10000 ? 1 : rate / 5000;
    kill(clients.pid, SIGUSR2);  // new window
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    floor.Take();
    auto [cpu0, rss0] = Usage(eddy.pid);
    (void)rss0;
    WriteResult w = Write(db, shapes, rate, seconds, per_txn);
    // Wait for the clients to catch up (at most 20 s).
    ClientStats got;
    for (int i = 0; i < 80; ++i) {
      got = AskClients(clients, false);
      if (got.received >= w.changes) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    auto [cpu1, rss1] = Usage(eddy.pid);
    rss_busy = std::max(rss_busy, rss1);
    const Percentiles f = Pick(floor.Take());
    const double delivered_window =
        static_cast<double>(std::max(got.last_receive_us, w.end_us) - w.start_us) / 1e6;
    const double catch_up_ms =
        static_cast<double>(std::max<int64_t>(0, got.last_receive_us - w.end_us)) / 1000.0;
    fmt::print("\n  writers at {} changes/s ({} row{} per transaction) for {:.0f} s\n", rate,
               per_txn, per_txn == 1 ? "" : "s", seconds);
    fmt::print("    written                     {} changes in {} transactions, {:.0f} changes/s\n",
               w.changes, w.transactions, static_cast<double>(w.changes) / w.seconds);
    fmt::print(
        "    delivered / written         {} / {}{}, {:.0f} changes/s (last one {:.0f} ms after "
        "the writers stopped)\n",
        got.received, w.changes, got.received == w.changes ? " (all)" : " (MISSING)",
        static_cast<double>(got.received) / delivered_window, catch_up_ms);
    fmt::print("    bare libpq reader (floor)   p50 {:7.2f} ms  p99 {:7.2f} ms  ({} commits)\n",
               f.p50_ms, f.p99_ms, w.transactions);
    fmt::print(
        "    eddy -> long-poll client    p50 {:7.2f} ms  p99 {:7.2f} ms  max {:.1f} ms  "
        "(p50 x{:.1f}, p99 x{:.1f} the floor's)\n",
        got.p50_ms, got.p99_ms, got.max_ms, f.p50_ms > 0 ? got.p50_ms / f.p50_ms : 0,
        f.p99_ms > 0 ? got.p99_ms / f.p99_ms : 0);
    fmt::print("    eddy CPU                    {:.0f}% of a core; client errors {}\n",
               100.0 * (cpu1 - cpu0) / delivered_window, got.errors);
    std::fflush(stdout);
    kept_up = got.received >= w.changes * 95 / 100;
  }

  if (const std::string out = Slurp(clients.out); out.find("shape ") != std::string::npos) {
    fmt::print("  client errors said:\n");
    std::istringstream lines(out);
    std::string line;
    for (int shown = 0; std::getline(lines, line) && shown < 5;) {
      if (line.rfind("shape ", 0) == 0) {
        fmt::print("    {}\n", line.substr(0, 300));
        ++shown;
      }
    }
  }
  // Stop polling; the shapes go idle and are released after shapes.release_after_s.
  AskClients(clients, true);
  int status = 0;
  waitpid(clients.pid, &status, 0);
  std::erase(g_children, clients.pid);
  // Long-polls cut by the client stay parked in eddy until their timeout (20 s) fires; the
  // shapes are released at the next housekeeping (every 5 s) after release_after_s.
  const int64_t released_wait_s = std::max(release_after_s, 20) + 5 + 3;
  std::this_thread::sleep_for(std::chrono::seconds(released_wait_s));
  int64_t released = ScrapeMetric(url, "eddy_shapes_released");
  for (int i = 0; i < 10 && released < shapes; ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    released = ScrapeMetric(url, "eddy_shapes_released");
  }
  auto [cpu_end, rss_idle] = Usage(eddy.pid);
  (void)cpu_end;
  const int64_t heap_idle = HeapInUse(eddy);
  fmt::print(
      "\n  eddy RSS: {:.1f} MiB before the shapes, {:.1f} MiB with {} live shapes and their "
      "long-polls ({:.1f} KiB each), {:.1f} MiB at most under load\n",
      rss_before / 1024.0, rss_live / 1024.0, shapes,
      static_cast<double>(rss_live - rss_before) / shapes, rss_busy / 1024.0);
  fmt::print(
      "  eddy RSS idle ({} shapes released, polls stopped): {:.1f} MiB, {:.1f} KiB per idle "
      "shape\n",
      released, rss_idle / 1024.0, static_cast<double>(rss_idle - rss_before) / shapes);
  if (heap_before >= 0 && heap_live >= 0 && heap_idle >= 0) {
    fmt::print(
        "  eddy heap in use (malloc_stats): {:.1f} MiB before, {:.1f} MiB live ({:.1f} KiB per "
        "shape with its long-poll), {:.1f} MiB idle ({:.1f} KiB per idle shape)\n",
        heap_before / 1048576.0, heap_live / 1048576.0,
        static_cast<double>(heap_live - heap_before) / 1024.0 / shapes, heap_idle / 1048576.0,
        static_cast<double>(heap_idle - heap_before) / 1024.0 / shapes);
  }
  fmt::print("  eddy_shapes_disk_bytes {:.1f} MiB\n",
             static_cast<double>(ScrapeMetric(url, "eddy_shapes_disk_bytes")) / (1 << 20));
  std::fflush(stdout);

  floor.Stop();
  kill(eddy.pid, SIGTERM);
  waitpid(eddy.pid, &status, 0);
  g_children.clear();
  admin.reset();
  g_cluster.reset();
  std::filesystem::remove_all(data_dir);
  std::filesystem::remove(eddy.out);
  std::filesystem::remove(clients.out);
  return 0;
}
