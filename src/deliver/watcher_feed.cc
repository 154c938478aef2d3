#include "deliver/watcher_feed.h"

#include "deliver/table_filter.h"

namespace eddy::deliver {

WatcherFeed::WatcherFeed(Watcher& watcher, std::vector<std::string> tables, std::vector<Op> ops)
    : watcher_(watcher), tables_(std::move(tables)), ops_(std::move(ops)) {}

WatcherFeed::~WatcherFeed() { Cancel(); }

bool WatcherFeed::Wanted(const Change& change) const {
  // One table: the subscription filters already.
  return tables_.size() <= 1 || !change.table || TableWanted(tables_, *change.table);
}

void WatcherFeed::Push(FeedEntry entry) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cancelled_ && queue_.size() >= kQueueLimit) {
    producer_waiting_ = true;
    cv_.wait(lock);
  }
  if (cancelled_) return;
  queue_.push_back(std::move(entry));
  // Wake the dispatch thread only when it waits: a notify per change costs a futex call.
  if (consumer_waiting_) {
    consumer_waiting_ = false;
    cv_.notify_all();
  }
}

Result<Position> WatcherFeed::Start(std::optional<Position> after) {
  Subscription sub;
  if (tables_.size() == 1) sub.table = tables_[0];
  sub.ops = ops_;
  // WatchEvent::change is the whole change (new and old rows) whatever the Detail; Detail only
  // shapes WatchEvent::json, which the consumer does not use, so the cheapest rendering is asked.
  sub.detail = Detail::kIdOnly;
  const Position start = after ? *after : watcher_.DurablePosition();
  sub.after = start;
  WatchHandlers handlers;
  handlers.on_change = [this](const WatchEvent& e) {
    if (!Wanted(e.change)) return;
    FeedEntry entry;
    entry.kind = FeedEntry::Kind::kChange;
    entry.change = e.change;
    Push(std::move(entry));
  };
  handlers.on_commit = [this](const Commit& c) {
    FeedEntry entry;
    entry.kind = FeedEntry::Kind::kCommit;
    entry.commit = c;
    Push(std::move(entry));
  };
  handlers.on_error = [this](const Status& s) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = s;
    cv_.notify_all();
  };
  EDDY_ASSIGN_OR_RETURN(SubscriptionId id, watcher_.Subscribe(sub, std::move(handlers)));
  subscription_ = id;
  return start;
}

Result<std::optional<FeedEntry>> WatcherFeed::Next(std::chrono::milliseconds wait) {
  if (taken_.empty()) {
    std::unique_lock<std::mutex> lock(mu_);
    auto deadline = std::chrono::steady_clock::now() + wait;
    while (!cancelled_ && queue_.empty() && error_.ok()) {
      consumer_waiting_ = true;
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) break;
    }
    consumer_waiting_ = false;
    if (cancelled_) return Aborted("consumer feed cancelled");
    taken_.swap(queue_);
    if (producer_waiting_) {
      producer_waiting_ = false;
      cv_.notify_all();
    }
    if (taken_.empty()) {
      if (!error_.ok()) return error_;
      return std::optional<FeedEntry>();
    }
  }
  FeedEntry entry = std::move(taken_.front());
  taken_.pop_front();
  return std::optional<FeedEntry>(std::move(entry));
}

std::optional<FeedEntry> WatcherFeed::TryNext() {
  if (taken_.empty()) return std::nullopt;
  FeedEntry entry = std::move(taken_.front());
  taken_.pop_front();
  return entry;
}

void WatcherFeed::Cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return;
    cancelled_ = true;
    cv_.notify_all();
  }
  if (subscription_) {
    // NotFound when the Watcher stopped first: its subscriptions are gone already.
    (void)watcher_.Unsubscribe(*subscription_);
    subscription_.reset();
  }
}

}  // namespace eddy::deliver
