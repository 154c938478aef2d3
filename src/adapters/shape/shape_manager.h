#pragma once

// The shapes of one eddy: their definitions and handles, their logs on disk, the snapshots that
// start them, and the router that follows eddy's change log and appends each change, rendered
// once, to the logs of the shapes it matches. Shapes survive a restart: each records the log
// position it has consumed and the bytes of its log that are complete.
//
// Threads: the router thread (log -> shapes), a small pool for snapshots and catalog lookups,
// a timer thread for long-poll deadlines and housekeeping. Request threads call the public
// methods; they never block on PostgreSQL (work that needs it goes to the pool).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "eddy/result.h"

#include "adapters/shape/shape_request.h"
#include "adapters/shape/snapshot.h"
#include "adapters/shape/table_info.h"
#include "log/change_log.h"
#include "shape/render.h"
#include "shape/shape_log.h"
#include "where/where.h"

namespace eddy::shapes {

struct ShapeManagerOptions {
  std::string dir;       // shapes live in <dir>/<handle>/
  std::string conninfo;  // catalog lookups and snapshots
  // When set, a shape's table must be in this publication (logical capture), or it would never
  // see a live change: the request is refused with the statement that fixes it.
  std::string publication;
  uint64_t chunk_bytes = 10ull << 20;
  int workers = 2;                         // snapshot / subset / catalog threads
  int notifiers = 2;                       // threads that answer waiting requests after appends
  bool set_replica_identity_full = true;   // so updates and deletes carry the old row
  std::chrono::seconds release_after{60};  // an unread shape closes its file after this
  std::chrono::seconds remove_after{7 * 24 * 3600};  // and is removed after this (0: never)
  uint64_t max_disk_bytes = 0;  // 0: no limit; else least recently read shapes are removed
  size_t max_shapes = 0;        // 0: no limit; else least recently read shapes are removed
};

// What a request asks for, resolved against the catalog.
struct ShapeDefinition {
  std::shared_ptr<const TableInfo> table;
  std::optional<std::string> where;            // as sent
  std::map<std::string, std::string> params;   // $n values
  std::optional<std::string> row_rule_column;  // auth: forced `column = value`
  std::string row_rule_value;
  std::vector<int> selected;  // column indexes, ascending
  bool explicit_columns = false;
  bool replica_full = false;
  bool changes_only = false;
  // Compiled; not part of the identity.
  std::shared_ptr<const where::Filter> filter;    // the request's WHERE; null for none
  std::shared_ptr<const where::Filter> row_rule;  // null for none

  // Same identity, same handle: table oid and name, the normalised WHERE, columns, modes.
  std::string Identity() const;
  std::string WhereSql() const;  // "" when no filter
  bool Matches(where::RowValues row) const;
};

class Shape;

struct ManagerStats {
  uint64_t shapes = 0;
  uint64_t shapes_released = 0;  // files closed (idle)
  uint64_t disk_bytes = 0;
  uint64_t changes_routed = 0;  // changes appended to some shape
  uint64_t messages_appended = 0;
  uint64_t rotations = 0;
  uint64_t evictions = 0;
  uint64_t snapshots = 0;
  uint64_t snapshot_rows = 0;
  uint64_t waiters = 0;
};

class ShapeManager {
 public:
  static Result<std::unique_ptr<ShapeManager>> Create(ShapeManagerOptions options,
                                                      log::ChangeLog& log);
  ~ShapeManager();

  Status Start();  // loads the shapes on disk and starts the router
  void Stop();

  // Resolves the table of `name` (cached; the catalog is read on the pool) and calls `done`.
  void LookupTable(const RelationName& name,
                   std::function<void(Result<std::shared_ptr<const TableInfo>>)> done);
  // Forgets a cached table (after a schema change).
  void ForgetTable(const RelationName& name);

  // The shape with this identity, created (and snapshotted on the pool) when missing. `done`
  // runs once the shape's snapshot is complete, on the pool or the calling thread.
  std::shared_ptr<Shape> GetOrCreate(const ShapeDefinition& definition,
                                     std::function<void(Result<std::shared_ptr<Shape>>)> done);
  std::shared_ptr<Shape> Find(const std::string& handle);
  std::shared_ptr<Shape> FindByIdentity(const std::string& identity);
  // Rotates the shape: its handle answers 409 from now on and its files go. kNotFound if unknown.
  Status Delete(const std::string& handle);

  // A subset snapshot of `shape` ({"metadata":...,"data":[...]} body), on the pool.
  void RunSubset(std::shared_ptr<Shape> shape, const SubsetRequest& subset,
                 std::function<void(Result<std::string>, FieldErrors)> done);

  // Runs `callback` after `delay` on the timer thread; returns an id for Cancel.
  uint64_t After(std::chrono::milliseconds delay, std::function<void()> callback);
  void Cancel(uint64_t timer_id);

  // The commit LSN of the last transaction the router finished (for global_last_seen_lsn).
  uint64_t last_seen_lsn() const { return last_seen_lsn_.load(); }
  ManagerStats Stats() const;
  std::string MetricsText() const;
  const ShapeManagerOptions& options() const { return options_; }

 private:
  struct TableShapes;
  struct PendingChange;
  ShapeManager(ShapeManagerOptions options, log::ChangeLog& log);

  void RunRouter();
  void RunWorker();
  void RunTimers();
  void Post(std::function<void()> job);
  Status LoadShapes();
  void Snapshot(std::shared_ptr<Shape> shape);
  void AddToIndexLocked(const std::shared_ptr<Shape>& shape);
  void RemoveFromIndexLocked(const Shape* shape);
  void RotateLocked(const std::shared_ptr<Shape>& shape, std::string_view why);
  // Callbacks into request code (waiters, ready callbacks) never run under mu_: they may call
  // back into the manager. They are queued here and run by RunDeferred once mu_ is released.
  void DeferLocked(std::function<void()> job) { deferred_.push_back(std::move(job)); }
  void RunDeferred();
  void RouteChangeLocked(const log::LogEntry& entry);
  void FinishTransactionLocked(const Commit& commit);
  // Appends wake their shape's waiters (long polls, SSE pumps) on the notifier threads, so the
  // router goes on routing while answers are read from the shape logs and sent. One thread at a
  // time notifies a given shape; an append during its Notify queues it once more.
  void QueueNotify(std::shared_ptr<Shape> shape);
  void RunNotifier();
  // Once a second, on its own thread: writes new shapes' meta.json, syncs the file system once,
  // then <dir>/manifest.json with every shape's (position, complete bytes) and the router's
  // position. A restart resumes each shape from there.
  void Checkpoint();
  void RunCheckpoints();
  void HousekeepLocked();
  Result<std::shared_ptr<const TableInfo>> LoadTableNow(const RelationName& name);

  const ShapeManagerOptions options_;
  log::ChangeLog& log_;

  // Router state: guarded by mu_.
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Shape>> by_handle_;
  std::unordered_map<std::string, std::shared_ptr<Shape>> by_identity_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<TableShapes>> by_table_;
  std::vector<Change> txn_changes_;     // the current transaction's changes that touch shapes
  std::vector<PendingChange> pending_;  // (shape, change) pairs of the current transaction
  Position position_;                   // last commit the router finished
  Position checkpointed_;               // the router position of the last manifest
  std::chrono::steady_clock::time_point last_housekeeping_;
  ManagerStats stats_;
  std::vector<std::function<void()>> deferred_;

  std::mutex tables_mu_;
  std::set<uint32_t> identity_full_;  // guarded by tables_mu_: tables eddy set FULL on
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const TableInfo>> tables_;

  std::atomic<uint64_t> last_seen_lsn_{0};
  std::atomic<bool> stopping_{false};
  std::unique_ptr<log::LogReader> reader_;  // router thread
  std::thread router_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  std::thread checkpoint_thread_;

  std::mutex notify_mu_;
  std::condition_variable notify_cv_;
  std::deque<std::shared_ptr<Shape>> notify_queue_;  // guarded by notify_mu_
  std::vector<std::thread> notifiers_;

  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;

  std::mutex timers_mu_;
  std::condition_variable timers_cv_;
  std::multimap<std::chrono::steady_clock::time_point, std::pair<uint64_t, std::function<void()>>>
      timers_;
  // id -> its entry in timers_, so that Cancel (every answered long poll) is not a scan.
  std::unordered_map<uint64_t, std::multimap<std::chrono::steady_clock::time_point,
                                             std::pair<uint64_t, std::function<void()>>>::iterator>
      timer_index_;
  uint64_t next_timer_id_ = 1;
  std::thread timer_thread_;
};

// One shape. Thread-safe: readers call Read/Wait from request threads while the router appends.
class Shape {
 public:
  enum class State { kSnapshotting, kLive, kGone };

  const std::string& handle() const { return handle_; }
  const ShapeDefinition& definition() const { return definition_; }
  const std::string& identity() const { return identity_; }
  const std::string& schema_json() const { return schema_json_; }
  State state() const;
  // Why the shape failed or went (kGone): for logs and 409s.
  Status failure() const;

  // The messages after `after` (BeforeAll: from the start) up to the end of one chunk.
  Result<shape::ReadResult> Read(shape::Offset after);
  shape::Offset last_offset() const;
  // Calls `callback` once, when the shape gets messages after `after` or goes (any thread).
  // Returns false when there is something already (callback not kept).
  bool WaitAfter(shape::Offset after, std::function<void()> callback);
  // Adds a callback for every append and for the end (SSE); returns an id for Unlisten.
  uint64_t Listen(std::function<void()> callback);
  void Unlisten(uint64_t id);
  void Touch();

 private:
  friend class ShapeManager;
  struct Buffered {
    uint32_t xid = 0;
    uint64_t lsn = 0;
    std::vector<shape::LogMessage> messages;
  };
  void Notify();

  std::string handle_;
  std::string identity_;
  ShapeDefinition definition_;
  shape::Layout layout_;
  std::string schema_json_;
  std::string dir_;
  std::unique_ptr<shape::ShapeLog> log_;
  SnapshotVisibility visibility_;
  Position position_;  // the last log position whose changes this shape's log holds

  mutable std::mutex mu_;
  State state_ = State::kSnapshotting;                                         // guarded by mu_
  Status failure_;                                                             // guarded by mu_
  shape::Offset last_offset_ = shape::Offset::BeforeAll();                     // guarded by mu_
  std::vector<std::function<void()>> waiters_;                                 // guarded by mu_
  std::map<uint64_t, std::function<void()>> listeners_;                        // guarded by mu_
  uint64_t next_listener_ = 1;                                                 // guarded by mu_
  std::vector<std::function<void(Result<std::shared_ptr<Shape>>)>> on_ready_;  // guarded by mu_
  std::vector<Buffered> buffered_;  // router's mu_: live changes during the snapshot
  bool dirty_ = false;              // router's mu_: appended since the last checkpoint
  bool meta_written_ = false;       // router's mu_: meta.json (the definition) is on disk
  uint64_t checkpoint_bytes_ = 0;   // router's mu_: complete log bytes at position_
  bool released_ = false;           // router's mu_
  bool notify_pending_ = false;     // the manager's notify_mu_: queued for a notifier
  bool notify_running_ = false;     // the manager's notify_mu_: a notifier is in Notify()
  std::atomic<int64_t> last_used_s_{0};
};

}  // namespace eddy::shapes
