#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "eddy/watcher.h"

#include "deliver/change_feed.h"

namespace eddy::deliver {

// A ChangeFeed over the local log of a Watcher in the same process: one subscription with
// Detail::kFull (and the table / ops filter), resumed after the consumer's cursor. The
// subscription's delivery thread copies each change into a bounded queue and waits while it is
// full, so a slow consumer holds back only its own log reader, never capture.
//
// Threading: the subscription thread pushes; the consumer's dispatch thread pulls. mu_ guards the
// queue and the flags.
class WatcherFeed final : public ChangeFeed {
 public:
  static constexpr size_t kQueueLimit = 1024;

  // `watcher` must outlive the feed. `tables`: "songs" or "schema.songs"; empty means all.
  WatcherFeed(Watcher& watcher, std::vector<std::string> tables, std::vector<Op> ops);
  ~WatcherFeed() override;

  Result<Position> Start(std::optional<Position> after) override;
  Result<std::optional<FeedEntry>> Next(std::chrono::milliseconds wait) override;
  std::optional<FeedEntry> TryNext() override;
  void Acknowledge(const FeedEntry&) override {}
  void Cancel() override;

 private:
  bool Wanted(const Change& change) const;
  void Push(FeedEntry entry);

  Watcher& watcher_;
  const std::vector<std::string> tables_;
  const std::vector<Op> ops_;
  std::optional<SubscriptionId> subscription_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<FeedEntry> queue_;    // guarded by mu_
  Status error_;                   // guarded by mu_: the subscription ended
  bool cancelled_ = false;         // guarded by mu_
  bool producer_waiting_ = false;  // guarded by mu_: the queue was full
  bool consumer_waiting_ = false;  // guarded by mu_: Next is waiting
  // Taken from queue_ in one swap, so the dispatch thread locks once per burst, not per change.
  std::deque<FeedEntry> taken_;  // dispatch thread only
};

}  // namespace eddy::deliver
