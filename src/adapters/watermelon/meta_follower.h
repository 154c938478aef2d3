#pragma once

// The WatermelonDB face's log follower (spec 1.3, option A). It reads eddy's change log in
// commit order and keeps, in PostgreSQL, one metadata row per synced row:
//   <schema>.meta (tbl, id, version, created_version, deleted, origin_client, changed_by, scope,
//                  scope_since, deleted_at)
// where version is the commit LSN of the row's last change, plus scope tombstones and
// <schema>.state.processed_lsn, all written in ONE transaction per batch of eddy transactions.
// A pull reads processed_lsn and the metadata in one snapshot, so its watermark never runs ahead
// of what it can see.
//
// Which client pushed a transaction: the push inserts (xid, client_id) into
// <schema>.push_origin first; the follower sees that insert in the same transaction.
//
// Threads: one follower thread (log -> PostgreSQL). applied_lsn() and WaitApplied() are
// thread-safe; requests use them as the push barrier.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "eddy/result.h"

#include "adapters/watermelon/sync_table.h"
#include "log/change_log.h"
#include "pg/connection.h"

namespace eddy::watermelon {

// A synced table that changed in an applied batch, and a scope the change touched (the row's
// scope now, or the one it left): nullopt when the table has no scope column, or for a TRUNCATE.
struct TouchedTable {
  std::string tbl;  // SyncTable::qualified
  std::optional<std::string> scope;
  bool operator<(const TouchedTable& o) const {
    return std::tie(tbl, scope) < std::tie(o.tbl, o.scope);
  }
};

struct MetaFollowerOptions {
  // Called on the follower thread after a commit that changed synced rows is applied (pulls can
  // see it): the new applied LSN and what changed. Must not block (live nudges queue it).
  std::function<void(uint64_t applied_lsn, const std::set<TouchedTable>& touched)> on_applied;
  std::string conninfo;
  std::string schema = "eddy_sync";
  std::string publication;  // logical capture: eddy's own tables are added when it lists tables
  int64_t tombstone_retention_hours = 720;
};

// The SQL that creates eddy's metadata schema (idempotent).
std::string MetaSchemaSql(const std::string& schema);

class MetaFollower {
 public:
  static constexpr size_t kMaxBatchRows = 20000;  // a batch is written once it holds this many

  MetaFollower(MetaFollowerOptions options, log::ChangeLog& log,
               std::vector<std::shared_ptr<const SyncTable>> tables);
  ~MetaFollower();

  // Creates the schema, backfills tables seen for the first time and starts the thread.
  Status Start();
  void Stop();

  // The commit LSN up to which every transaction's metadata is committed in PostgreSQL.
  uint64_t applied_lsn() const { return applied_lsn_.load(); }
  // Waits until applied_lsn() >= lsn; false on timeout or stop.
  bool WaitApplied(uint64_t lsn, std::chrono::milliseconds timeout);
  // The follower's last error ("" when fine), for /metrics and logs.
  std::string last_error() const;
  uint64_t rows_applied() const { return rows_applied_.load(); }
  // The applied LSN of the last commit that changed synced rows (0: none since start).
  uint64_t last_change_lsn() const { return last_change_lsn_.load(); }

 private:
  struct Pending {
    std::string tbl;
    std::string id;
    uint64_t version = 0;
    uint64_t created_version = 0;
    bool is_create = false;
    bool deleted = false;
    std::string origin;  // "" when not a push
    std::optional<std::string> scope;
  };

  void Run();
  Status Setup(pg::Connection& c);
  // Backfills every row of `table` at `version` (first sight, or after the log lost history).
  Status Backfill(pg::Connection& c, const SyncTable& table, uint64_t version, bool overwrite);
  void OnChange(const Change& change);
  Status Flush(bool at_commit);
  Status WaitUntilVisible(pg::Connection& c);
  Status ApplyTruncate(const SyncTable& table, uint64_t version);
  Status CollectGarbage();
  void SetError(const std::string& error);

  const MetaFollowerOptions options_;
  log::ChangeLog& log_;
  const std::vector<std::shared_ptr<const SyncTable>> tables_;
  std::map<std::string, const SyncTable*> by_qualified_;

  // Follower thread only.
  std::unique_ptr<pg::Connection> conn_;
  std::unique_ptr<log::LogReader> reader_;
  std::unordered_map<std::string, size_t> pending_index_;  // tbl + '\0' + id -> pending_
  std::vector<Pending> pending_;
  std::string txn_origin_;
  std::vector<uint32_t> batch_xids_;  // transactions in the unwritten batch (Run thread)
  uint64_t last_commit_ = 0;          // the last commit read
  uint64_t flushed_commit_ = 0;       // the last commit whose metadata is written
  std::chrono::steady_clock::time_point last_gc_;

  std::atomic<uint64_t> applied_lsn_{0};
  std::atomic<uint64_t> rows_applied_{0};
  std::atomic<uint64_t> last_change_lsn_{0};
  std::set<TouchedTable> touched_;  // follower thread: changed since the last applied commit
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable applied_cv_;
  std::string last_error_;  // guarded by mu_
  std::thread thread_;
};

}  // namespace eddy::watermelon
