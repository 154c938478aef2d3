#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "eddy/change.h"
#include "eddy/clock.h"
#include "eddy/watcher.h"

#include "capture/change_sink.h"
#include "capture/source.h"
#include "outbox/batch_journal.h"

namespace eddy::pg {
class Connection;
}

namespace eddy::outbox {

struct OutboxOptions {
  std::string conninfo;
  TriggerOptions triggers;
  std::vector<std::string> tables;  // empty: every table (see TriggerInstaller)
  std::string journal_path;         // BatchJournal files, under the data dir
  bool fsync = true;                // fdatasync the journal
  int reconnect_min_ms = 100;
  int reconnect_max_ms = 5000;
  int leader_poll_ms = 500;
  int max_transactions_per_read = 1000;
  int rescan_ms = 5000;  // with `tables` empty: how often to look for new tables
  // Called on the capture thread with each new table version, before its first change.
  std::function<void(const std::shared_ptr<const Table>&)> on_table_version;
};

// Trigger mode's source: reads the outbox that eddy's triggers fill and appends its transactions
// to the log in the order they committed (as far as conflicting transactions can tell; see
// docs/triggers.md), each under a synthetic commit LSN continuing from the log's last commit
// (end_lsn = commit_lsn + 1). Outbox rows are deleted once their transaction is durable
// (NotifyDurable). Run() is the one place where failures become state: leader lock, install,
// LISTEN, read loop; on errors it reconnects with backoff and reads the outbox again.
// Thread: Run() owns a thread; Stop(), NotifyDurable() and State() may be called from any.
class OutboxCapture final : public capture::Source {
 public:
  // `last_commit`: the log's last durable commit (nullopt for an empty log).
  OutboxCapture(OutboxOptions options, capture::ChangeSink& sink, std::optional<Commit> last_commit,
                Clock& clock);
  ~OutboxCapture() override;

  void SeedTables(const std::vector<std::shared_ptr<const Table>>& tables) override;
  Status Run() override;
  void Stop() override;
  void NotifyDurable(Lsn end_lsn) override;
  capture::CaptureState State() const override;

 private:
  struct Session;
  // An appended transaction whose outbox rows are not yet deleted.
  struct Pending {
    Lsn commit_lsn;
    std::string xid;                 // xid8 text
    std::vector<std::string> ctids;  // empty: recovered from the journal (delete by xid)
    std::vector<std::string> ids;
  };
  Status RunSession(Session& session);
  Status DeleteDurable(pg::Connection& connection);
  // Reads up to max_transactions_per_read whole transactions and appends them. Returns how many.
  Result<int> ReadAndAppend(Session& session, pg::Connection& connection);
  // Waits for a NOTIFY on `connection`, a Wake(), or `ms`. Returns whether a NOTIFY came.
  Result<bool> WaitForDoorbell(pg::Connection& connection, int ms);
  bool DrainNotifies(pg::Connection& connection);
  // Of `xids` (xid8 text), those still in progress.
  Result<std::vector<std::string>> StillInProgress(pg::Connection& connection,
                                                   const std::vector<std::string>& xids);
  void Wake();
  bool Sleep(int ms);  // false when stopped

  OutboxOptions options_;
  capture::ChangeSink& sink_;
  Clock& clock_;
  std::vector<std::shared_ptr<const Table>> seed_tables_;
  std::optional<Commit> last_commit_;
  BatchJournal journal_;
  bool recovered_ = false;       // the journal was read (capture thread only)
  Lsn next_lsn_;                 // the next synthetic commit LSN (capture thread only)
  std::deque<Pending> pending_;  // capture thread only
  bool warned_width_ = false;    // capture thread only
  bool warned_reprint_ = false;  // capture thread only

  int wake_fd_ = -1;  // eventfd: Stop() and NotifyDurable() interrupt the wait
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> durable_end_{0};
  mutable std::mutex mutex_;
  capture::CaptureState state_;  // guarded by mutex_
};

}  // namespace eddy::outbox
