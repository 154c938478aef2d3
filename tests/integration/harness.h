#pragma once

// Shared pieces of the integration tests: one real PostgreSQL 15 per test binary (started on a
// free loopback port, as the postgres user when run as root), a fresh database per test, and a
// collector of delivered changes.

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

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
// A fresh directory under /tmp, removed at exit.
std::string TempDir();

// Records what a subscription delivers.
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
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> json_;
  std::vector<std::string> events_;
  std::vector<Position> positions_;
};

// Options for a Watcher on `conninfo` with its own data dir and slot.
WatcherOptions OptionsFor(const std::string& conninfo, const std::string& slot = "eddy");

// Opens and starts a watcher and waits until it streams.
std::unique_ptr<Watcher> StartWatcher(const WatcherOptions& options);

}  // namespace eddy::testing
