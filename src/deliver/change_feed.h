#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "eddy/change.h"
#include "eddy/position.h"
#include "eddy/result.h"

namespace eddy::deliver {

// One item of a feed: a change (full detail: new and old rows) or the commit that ends the
// transaction of the changes before it. `token` identifies the item to the feed's Acknowledge
// (a JetStream stream sequence, or 0 for feeds that keep no per-item state).
struct FeedEntry {
  enum class Kind { kChange, kCommit };
  Kind kind = Kind::kChange;
  Change change;  // kind == kChange
  Commit commit;  // kind == kCommit
  uint64_t token = 0;

  Position position() const {
    return kind == Kind::kChange ? change.position
                                 : Position{commit.commit_lsn, commit.change_count};
  }
};

// Where a consumer's changes come from, in commit order: the local log of a Watcher in the same
// process (WatcherFeed) or, later, a JetStream durable pull consumer. Pull-based so the consumer
// applies backpressure by not asking.
//
// Threading: Start and Next are called by the consumer's dispatch thread; Acknowledge by its lane
// threads (any thread); Cancel from any thread.
class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;
  // Begins reading strictly after `after` (nullopt: from the feed's own idea of "now") and
  // returns the position it starts after. Feeds that keep their own durable position
  // (JetStream) may ignore `after`.
  virtual Result<Position> Start(std::optional<Position> after) = 0;
  // The next entry, waiting up to `wait`; nullopt on timeout. kAborted after Cancel(); other
  // errors end the feed (e.g. kDataLoss: the position fell out of the log's retention).
  virtual Result<std::optional<FeedEntry>> Next(std::chrono::milliseconds wait) = 0;
  // The next entry if one is at hand without waiting or I/O; nullopt otherwise. Lets the
  // consumer take a burst under one lock. Feeds without a local buffer keep the default.
  virtual std::optional<FeedEntry> TryNext() { return std::nullopt; }
  // The consumer finished the change (handled or durably parked). Any order.
  virtual void Acknowledge(const FeedEntry& entry) = 0;
  // Wakes Next() for good.
  virtual void Cancel() = 0;
};

}  // namespace eddy::deliver
