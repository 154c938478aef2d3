#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "eddy/change.h"
#include "eddy/clock.h"
#include "eddy/result.h"

#include "capture/capture_state.h"
#include "capture/change_sink.h"
#include "capture/slot_manager.h"
#include "capture/source.h"

namespace eddy::capture {

struct CaptureOptions {
  std::string conninfo;  // libpq string or URI of the source database
  std::string slot = "eddy";
  std::string publication = "eddy";
  std::vector<std::string> tables;  // empty: all tables
  std::string spool_dir;            // where streamed transactions wait for their commit
  int status_interval_ms = 1000;    // standby status at least this often
  int reconnect_min_ms = 100;
  int reconnect_max_ms = 5000;
  int leader_poll_ms = 500;  // how often a standby tries to take the leader lock
  // A stream that sends nothing (no data, no keepalive) for this long is reconnected; after a
  // third of it eddy asks the server for a reply.
  int stall_timeout_ms = 30000;
  bool recreate_slot = false;  // a missing or lost slot is recreated instead of an error
  // Called on the capture thread with each new table version, before its first change.
  std::function<void(const std::shared_ptr<const Table>&)> on_table_version;
};

// The replication source: leader election, publication and slot, START_REPLICATION, decoding,
// assembly into transactions, standby status, reconnect with backoff. Run() is the one place
// where capture failures become state (retry, or stop with a Status that says what to do).
// Thread: Run() owns a thread; Stop(), NotifyDurable() and State() may be called from any.
class Capture final : public Source {
 public:
  // `sink` receives committed transactions in order. `skip_through` is the commit LSN of the
  // last transaction already in the log and `resume_from` its end LSN (zero for a new log).
  Capture(CaptureOptions options, ChangeSink& sink, Lsn skip_through, Lsn resume_from,
          Clock& clock);
  ~Capture() override;

  // Seeds table descriptions from the log so schema versions continue after a restart.
  void SeedTables(const std::vector<std::shared_ptr<const Table>>& tables) override;
  // Blocks until Stop() or an error that retrying cannot fix (missing slot, wal_level).
  Status Run() override;
  void Stop() override;
  // The log made every transaction up to `end_lsn` durable: it may be confirmed.
  void NotifyDurable(Lsn end_lsn) override;
  CaptureState State() const override;

 private:
  struct Session;
  Status RunSession();
  bool WaitFor(int ms);  // false when stopped
  void SetError(const Status& status);

  CaptureOptions options_;
  ChangeSink& sink_;
  Clock& clock_;
  std::vector<std::shared_ptr<const Table>> seed_tables_;
  Lsn skip_through_;
  Lsn resume_from_;

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> durable_end_{0};
  uint32_t timeline_ = 0;         // capture thread only
  bool streamed_before_ = false;  // capture thread only
  Session* session_ = nullptr;    // valid while Run() runs; capture thread only
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  CaptureState state_;  // guarded by mutex_
};

}  // namespace eddy::capture
