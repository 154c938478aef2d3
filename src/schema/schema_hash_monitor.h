#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "eddy/result.h"

#include "pg/connection.h"
#include "schema/schema_hash.h"

namespace eddy::schema {

// Keeps the schema hash of a running server current: computes it at Start, then re-reads the
// catalog every `interval` (one connection, two small catalog queries) and calls `on_change`
// when the hash differs. A timer rather than the change stream's Relation messages, because a
// column added to a table nobody writes to sends no Relation message but changes the hash.
//
// Thread-safety: Start/Stop from one owner thread; Current() and RecheckNow() from any thread.
// `on_change` runs on the monitor's thread (and once inside Start).
class SchemaHashMonitor {
 public:
  using OnChange = std::function<void(const SchemaDigest& digest)>;

  SchemaHashMonitor(std::string conninfo, SchemaHashOptions options,
                    std::chrono::milliseconds interval, OnChange on_change);
  ~SchemaHashMonitor();
  SchemaHashMonitor(const SchemaHashMonitor&) = delete;
  SchemaHashMonitor& operator=(const SchemaHashMonitor&) = delete;

  // Computes the first digest (a failure is logged, not returned: the server runs without a
  // hash until the database answers) and starts the thread.
  void Start();
  // Stops and joins the thread. Idempotent.
  void Stop();
  // The latest digest, or nullopt before the first success.
  std::optional<SchemaDigest> Current() const;
  // Wakes the thread to re-read the catalog now (e.g. after a Relation message).
  void RecheckNow();

 private:
  void Run();
  void Check();  // on the monitor thread (or in Start before it exists)

  const std::string conninfo_;
  const SchemaHashOptions options_;
  const std::chrono::milliseconds interval_;
  const OnChange on_change_;
  std::unique_ptr<pg::Connection> connection_;  // only touched by Check()
  bool warned_ = false;                         // only touched by Check()

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<SchemaDigest> current_;  // guarded by mutex_
  bool stop_ = false;                    // guarded by mutex_
  bool recheck_ = false;                 // guarded by mutex_
  std::thread thread_;
};

}  // namespace eddy::schema
