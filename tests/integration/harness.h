#pragma once

// Shared pieces of the integration tests: one real PostgreSQL 15 per test binary (started on a
// free loopback port, as the postgres user when run as root), a fresh database per test, and a
// collector of delivered changes.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "eddy/watcher.h"

#include "pg/connection.h"
#include "pg/throwaway_cluster.h"

namespace eddy::testing {

// The binary's PostgreSQL (logical_decoding_work_mem = 64kB, so big transactions stream).
pg::ThrowawayCluster& Cluster();
// Creates a database named after the current test and returns its conninfo.
std::string NewDatabase();
// Runs SQL, failing the test on error.
void Sql(const std::string& conninfo, const std::string& sql);
// Runs a query and returns the first column of the first row.
std::string Query(const std::string& conninfo, const std::string& sql);
// Drops the database's replication slots once no one uses them (a suite with many tests would
// otherwise run out of max_replication_slots). Waits up to 5 s for the senders to leave.
void DropSlots(const std::string& conninfo);
// A fresh directory under /tmp, removed at exit.
std::string TempDir();

// Records what a subscription delivers. The handlers share the recorded state, so a Collector
// may go out of scope before the watcher that calls them.
class Collector {
 public:
  WatchHandlers Handlers();
  // Waits until at least `n` changes arrived; false on timeout.
  bool WaitFor(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  std::vector<std::string> Json();
  std::vector<std::string> Events();  // "begin", "change", "commit" in order
  size_t size();
  std::vector<Position> Positions();

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<std::string> json;
    std::vector<std::string> events;
    std::vector<Position> positions;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// A child process whose stdout and stderr go to a file; killed (SIGKILL) when destroyed.
class Subprocess {
 public:
  // argv[0] is looked up in PATH. `env` entries ("NAME=value") are added to the environment.
  Subprocess(std::vector<std::string> argv, std::vector<std::string> env = {},
             std::string cwd = "");
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  void Kill(int sig);
  // Waits for exit; the exit code, 128 + signal, or -1 on timeout (after killing it).
  int Wait(std::chrono::seconds timeout);
  std::string Output() const;
  bool WaitForOutput(const std::string& needle, std::chrono::seconds timeout) const;

 private:
  int pid_ = -1;
  std::string out_;
};

// Runs `node <script>` in `dir` (tests/node) with EDDY_URL=`url` and DATABASE_URL=`db` added to
// `env`; returns its exit code. On failure the script's output, and the last 20,000 bytes of
// `eddy`'s when given, go into the test's failure message.
int RunNodeScript(const std::string& dir, const std::string& script, const std::string& url,
                  const std::string& db, std::vector<std::string> env = {},
                  const Subprocess* eddy = nullptr,
                  std::chrono::seconds timeout = std::chrono::seconds(300));

// Waits until an `eddy serve` / `eddy dev` child prints "eddy serving http://127.0.0.1:<port>"
// and "capture: streaming"; returns that base URL, or "" after `timeout`.
std::string WaitUntilServing(const Subprocess& eddy,
                             std::chrono::seconds timeout = std::chrono::seconds(30));

// Waits until the replication slot `slot` exists and a walsender streams from it; false on timeout.
// Rows committed before that are not the slot's to capture.
bool WaitForActiveSlot(const std::string& conninfo, const std::string& slot,
                       std::chrono::seconds timeout = std::chrono::seconds(30));

// A TCP port on 127.0.0.1 that was free a moment ago (bound, read back and closed); 0 on failure.
int FreeLoopbackPort();

// The write load under which tests kill or restart things: a thread inserting ids 1, 2, 3, ...
// into `table` (first column), one single-row transaction each, until stopped.
class LoadWriter {
 public:
  struct Options {
    std::chrono::milliseconds pause{0};  // between inserts
    // Reconnect after an error (PostgreSQL restarting) and retry the same id with ON CONFLICT DO
    // NOTHING, since a commit whose answer was lost may have happened. Otherwise an error fails
    // the test and ends the writer.
    bool survive_restarts = false;
  };
  LoadWriter(std::string conninfo, std::string table, Options options);
  LoadWriter(std::string conninfo, std::string table)
      : LoadWriter(std::move(conninfo), std::move(table), Options{}) {}
  ~LoadWriter();
  LoadWriter(const LoadWriter&) = delete;
  LoadWriter& operator=(const LoadWriter&) = delete;
  // Stops and joins the thread; returns Committed().
  int Stop();
  // The highest id whose commit returned: ids 1..Committed() are in the table.
  int Committed() const { return committed_.load(); }

 private:
  void Run(const std::string& conninfo, const std::string& table, Options options);

  std::atomic<bool> stop_{false};
  std::atomic<int> committed_{0};
  std::thread thread_;
};

// Options for a Watcher on `conninfo` with its own data dir. Slots are cluster-wide, so the
// default slot is named after the test's database.
WatcherOptions OptionsFor(const std::string& conninfo, const std::string& slot = "");

// Opens and starts a watcher and waits until it streams.
std::unique_ptr<Watcher> StartWatcher(const WatcherOptions& options);

}  // namespace eddy::testing
