#include "harness.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace eddy::testing {
namespace {

// Removes the directories at exit.
struct TempDirList {
  std::vector<std::string> dirs;
  ~TempDirList() {
    for (const auto& d : dirs) std::filesystem::remove_all(d);
  }
};

std::vector<std::string>& TempDirs() {
  static TempDirList list;
  return list.dirs;
}

}  // namespace

pg::ThrowawayCluster& Cluster() {
  static std::unique_ptr<pg::ThrowawayCluster> cluster = [] {
    pg::ThrowawayClusterOptions options;
    options.settings = {{"logical_decoding_work_mem", "64kB"}, {"max_connections", "200"}};
    auto c = pg::ThrowawayCluster::Start(options);
    if (!c.ok()) {
      fmt::print(stderr, "cannot start PostgreSQL: {}\n", c.status().ToString());
      std::abort();
    }
    return std::move(c).value();
  }();
  return *cluster;
}

std::string NewDatabase() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = fmt::format("{}_{}", info->test_suite_name(), info->name());
  std::transform(name.begin(), name.end(), name.begin(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '_';
  });
  if (name.size() > 60) {
    // Long names differ at the end (parameterised tests: ".../Whole", ".../Streamed"): keep a
    // hash of the whole name so truncation cannot make two tests share a database.
    const size_t hash = std::hash<std::string>{}(name);
    name = fmt::format("{}_{:08x}", name.substr(0, 51), static_cast<uint32_t>(hash));
  }
  Status s = Cluster().CreateDatabase(name);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return Cluster().ConnInfo(name);
}

void Sql(const std::string& conninfo, const std::string& sql) {
  auto conn = pg::Connection::Connect(conninfo);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  auto res = (*conn)->Exec(sql);
  ASSERT_TRUE(res.ok()) << sql << ": " << res.status().ToString();
}

void DropSlots(const std::string& conninfo) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    const std::string active = Query(conninfo,
                                     "SELECT count(*) FROM pg_replication_slots WHERE database = "
                                     "current_database() AND active");
    if (active == "0") {
      Sql(conninfo,
          "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = "
          "current_database()");
      return;
    }
    if (std::chrono::steady_clock::now() > deadline) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int RunNodeScript(const std::string& dir, const std::string& script, const std::string& url,
                  const std::string& db, std::vector<std::string> env, const Subprocess* eddy,
                  std::chrono::seconds timeout) {
  env.push_back("EDDY_URL=" + url);
  env.push_back("DATABASE_URL=" + db);
  Subprocess node({"node", script}, env, dir);
  const int rc = node.Wait(timeout);
  if (rc != 0) {
    std::string out = eddy ? eddy->Output() : "";
    if (out.size() > 20000) out = out.substr(out.size() - 20000);
    ADD_FAILURE() << script << " exited " << rc << ":\n"
                  << node.Output()
                  << (eddy ? "\n--- eddy (last 20000 bytes) ---\n" + out : std::string());
  }
  return rc;
}

std::string Query(const std::string& conninfo, const std::string& sql) {
  auto conn = pg::Connection::Connect(conninfo);
  EXPECT_TRUE(conn.ok()) << conn.status().ToString();
  if (!conn.ok()) return "";
  auto res = (*conn)->Exec(sql);
  EXPECT_TRUE(res.ok()) << sql << ": " << res.status().ToString();
  if (!res.ok() || res->rows() == 0) return "";
  return std::string(res->Get(0, 0));
}

std::string TempDir() {
  std::string tmpl = "/tmp/eddy-test-XXXXXX";
  char* dir = mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  TempDirs().push_back(tmpl);
  return tmpl;
}

WatchHandlers Collector::Handlers() {
  WatchHandlers h;
  std::shared_ptr<State> st = state_;
  h.on_begin = [st](const TransactionBoundary&) {
    std::lock_guard<std::mutex> lock(st->mutex);
    st->events.push_back("begin");
  };
  h.on_change = [st](const WatchEvent& e) {
    std::lock_guard<std::mutex> lock(st->mutex);
    st->events.push_back("change");
    st->json.emplace_back(e.json);
    st->positions.push_back(e.change.position);
    st->cv.notify_all();
  };
  h.on_commit = [st](const Commit&) {
    std::lock_guard<std::mutex> lock(st->mutex);
    st->events.push_back("commit");
    st->cv.notify_all();
  };
  return h;
}

bool Collector::WaitFor(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(state_->mutex);
  return state_->cv.wait_for(lock, timeout, [&] { return state_->json.size() >= n; });
}

std::vector<std::string> Collector::Json() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->json;
}

std::vector<std::string> Collector::Events() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->events;
}

std::vector<Position> Collector::Positions() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->positions;
}

size_t Collector::size() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->json.size();
}

Subprocess::Subprocess(std::vector<std::string> argv, std::vector<std::string> env,
                       std::string cwd) {
  out_ = TempDir() + "/out";
  pid_ = fork();
  if (pid_ == 0) {
    int fd = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    putenv(const_cast<char*>("EDDY_SEGMENT_MB=8"));  // small zero-filled segments
    for (const auto& e : env) putenv(strdup(e.c_str()));
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
}

Subprocess::~Subprocess() { Kill(SIGKILL); }

void Subprocess::Kill(int sig) {
  if (pid_ <= 0) return;
  ::kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

int Subprocess::Wait(std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill(SIGKILL);
  return -1;
}

std::string Subprocess::Output() const {
  std::ifstream in(out_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string WaitUntilServing(const Subprocess& eddy, std::chrono::seconds timeout) {
  const std::regex serving("eddy serving (http://127\\.0\\.0\\.1:[0-9]+)");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch m;
    const std::string out = eddy.Output();
    if (std::regex_search(out, m, serving) && out.find("capture: streaming") != std::string::npos) {
      return m[1];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "";
}

bool Subprocess::WaitForOutput(const std::string& needle, std::chrono::seconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (Output().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

bool WaitForActiveSlot(const std::string& conninfo, const std::string& slot,
                       std::chrono::seconds timeout) {
  const std::string sql = fmt::format(
      "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{}' AND active", slot);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (Query(conninfo, sql) == "1") return true;
  }
  return false;
}

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    ADD_FAILURE() << "socket: " << std::strerror(errno);
    return 0;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "bind to 127.0.0.1:0: " << std::strerror(errno);
  } else {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

LoadWriter::LoadWriter(std::string conninfo, std::string table, Options options)
    : thread_([this, conninfo = std::move(conninfo), table = std::move(table), options] {
        Run(conninfo, table, options);
      }) {}

LoadWriter::~LoadWriter() { Stop(); }

int LoadWriter::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  return Committed();
}

void LoadWriter::Run(const std::string& conninfo, const std::string& table, Options options) {
  const char* on_conflict = options.survive_restarts ? " ON CONFLICT DO NOTHING" : "";
  std::unique_ptr<pg::Connection> conn;
  while (!stop_) {
    if (!conn) {
      auto c = pg::Connection::Connect(conninfo);
      if (!c.ok()) {
        if (!options.survive_restarts) {
          ADD_FAILURE() << "load writer: " << c.status().ToString();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      conn = std::move(c).value();
    }
    const int id = committed_.load() + 1;
    auto r = conn->Exec(fmt::format("INSERT INTO {} VALUES ({}){}", table, id, on_conflict));
    if (r.ok()) {
      committed_ = id;
    } else if (options.survive_restarts) {
      conn.reset();
    } else {
      ADD_FAILURE() << "load writer: " << r.status().ToString();
      return;
    }
    if (options.pause.count() > 0) std::this_thread::sleep_for(options.pause);
  }
}

WatcherOptions OptionsFor(const std::string& conninfo, const std::string& slot) {
  WatcherOptions o;
  o.database_url = conninfo;
  o.data_dir = TempDir();
  o.segment_bytes = 8ull << 20;  // segments are zero-filled ahead: keep the tests' disk use small
  if (slot.empty()) {
    size_t at = conninfo.find("dbname=");
    o.slot = at == std::string::npos ? "eddy" : conninfo.substr(at + 7);
    o.slot = o.slot.substr(0, o.slot.find(' '));
  } else {
    o.slot = slot;
  }
  return o;
}

std::unique_ptr<Watcher> StartWatcher(const WatcherOptions& options) {
  auto w = Watcher::Open(options);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return nullptr;
  Status s = (*w)->Start();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE((*w)->WaitUntilStreaming(30000)) << (*w)->Health();
  return std::move(w).value();
}

}  // namespace eddy::testing
