#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "eddy/change.h"
#include "eddy/position.h"
#include "eddy/result.h"

#include "log/change_log.h"
#include "match/subscription_filter.h"

namespace eddy::watch {

using SharedBytes = std::shared_ptr<const std::string>;

// One change as the hub hands it out: rendered once per projection and shared by every
// subscriber with that projection.
struct RenderedChange {
  const Change& change;
  SharedBytes json;  // eddy's JSON form of the change for the subscriber's projection
  SharedBytes sse;   // the same as an SSE frame: "id: <position>\nevent: change\ndata: ...\n\n"
};

struct RenderedCommit {
  const Commit& commit;
  SharedBytes json;  // {"lsn":"...","xid":...,"changes":n}
  SharedBytes sse;   // "id: <lsn>:<n>\nevent: commit\ndata: ...\n\n"
};

// A receiver of changes: an SSE stream or one subscription on a WebSocket. Called on the hub's
// thread (or a catch-up thread before it joins the hub), never concurrently for one subscriber.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  virtual match::SubscriptionFilter& filter() = 0;
  // Extra per-change check (e.g. an auth row rule); true to deliver.
  virtual bool Allowed(const Change& change) = 0;
  // The subscription is live: changes after `position` follow. Called once, first.
  virtual void OnReady(const Position& position) = 0;
  // Return false when the subscriber is gone (closed, overflowed): the hub drops it.
  virtual bool OnChange(const RenderedChange& change) = 0;
  // After the last change of a transaction that delivered something to this subscriber.
  virtual bool OnCommit(const RenderedCommit& commit) = 0;
  // The subscription ended on the hub's side (e.g. its position is older than retention).
  virtual void OnError(const Status& status) = 0;
};

struct HubStats {
  uint64_t subscribers = 0;
  uint64_t changes_dispatched = 0;
  uint64_t deliveries = 0;
  uint64_t renders = 0;  // JSON renderings: at most one per change and projection
};

// The fan-out: one reader of the durable log for all live subscribers. A change is matched
// against the subscribers of its table (indexed by table and, for key subscriptions, by key),
// rendered once per projection, and the same bytes are queued to each. A subscriber that resumes
// from an older position is caught up by a reader of its own, then joins the live set at exactly
// the hub's position: no gap, no duplicate.
// Threads: one dispatch thread; Add/Remove from any thread; `mutex_` guards the live set.
class Hub {
 public:
  explicit Hub(log::ChangeLog& log) : log_(log) {}
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  Status Start();
  void Stop();
  // Adds `subscriber`, live after `after` (nullopt: from now). OnReady is called before any
  // change. Errors (a position older than the log's retention) are returned here or, for
  // catch-up readers, through OnError.
  Status Add(std::shared_ptr<Subscriber> subscriber, std::optional<Position> after);
  void Remove(const Subscriber* subscriber);
  HubStats Stats() const;
  Position position() const;

 private:
  void Run();
  void Dispatch(const log::LogEntry& entry);  // REQUIRES: mutex_ held
  void AddLiveLocked(std::shared_ptr<Subscriber> s, bool in_tx);
  void RemoveLocked(const Subscriber* s);
  void CatchUp(std::shared_ptr<Subscriber> s, log::LogReader& reader);
  void DeliverDirect(Subscriber& s, const log::LogEntry& entry, bool* in_tx);

  log::ChangeLog& log_;
  std::unique_ptr<log::LogReader> reader_;
  std::thread thread_;
  std::atomic<bool> stop_{false};

  mutable std::mutex mutex_;
  Position dispatched_;  // guarded by mutex_: the last entry handed to the live set
  // Live subscribers by "schema.table" ("" for all tables), key subscriptions by their key;
  // guarded by mutex_.
  struct Bucket {
    std::vector<std::shared_ptr<Subscriber>> others;
    std::unordered_map<std::string, std::vector<std::shared_ptr<Subscriber>>> by_key;
  };
  std::unordered_map<std::string, Bucket> by_table_;
  // Every live subscriber and whether the current transaction delivered to it; guarded by mutex_.
  std::unordered_map<const Subscriber*, bool> in_tx_;
  std::vector<std::shared_ptr<Subscriber>> touched_;  // in_tx_ true, for the commit; mutex_
  // Catch-up threads are detached; Stop waits until none runs. Guarded by mutex_.
  int catch_ups_running_ = 0;
  std::condition_variable catch_ups_done_;
  HubStats stats_;  // guarded by mutex_
};

}  // namespace eddy::watch
