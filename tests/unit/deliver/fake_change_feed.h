#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "deliver/change_feed.h"

namespace eddy::deliver::testing {

// An in-memory log of feed entries shared by successive FakeChangeFeeds (a restarted consumer
// reads the same log after its cursor). Thread-safe.
class FakeLog {
 public:
  void Append(FeedEntry entry) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.push_back(std::move(entry));
    cv_.notify_all();
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<FeedEntry> entries_;
};

// A ChangeFeed reading a FakeLog in order, strictly after the start position.
class FakeChangeFeed final : public ChangeFeed {
 public:
  explicit FakeChangeFeed(std::shared_ptr<FakeLog> log) : log_(std::move(log)) {}

  Result<Position> Start(std::optional<Position> after) override {
    std::lock_guard<std::mutex> lock(log_->mu_);
    after_ = after.value_or(log_->entries_.empty() ? Position{} : log_->entries_.back().position());
    return after_;
  }
  Result<std::optional<FeedEntry>> Next(std::chrono::milliseconds wait) override {
    std::unique_lock<std::mutex> lock(log_->mu_);
    auto ready = [&] {
      if (cancelled_) return true;
      while (next_ < log_->entries_.size() && !(log_->entries_[next_].position() > after_)) ++next_;
      return next_ < log_->entries_.size();
    };
    log_->cv_.wait_for(lock, wait, ready);
    if (cancelled_) return Aborted("cancelled");
    if (next_ >= log_->entries_.size()) return std::optional<FeedEntry>();
    return std::optional<FeedEntry>(log_->entries_[next_++]);
  }
  void Acknowledge(const FeedEntry&) override {}
  void Cancel() override {
    std::lock_guard<std::mutex> lock(log_->mu_);
    cancelled_ = true;
    log_->cv_.notify_all();
  }

 private:
  std::shared_ptr<FakeLog> log_;
  Position after_;
  size_t next_ = 0;
  bool cancelled_ = false;
};

}  // namespace eddy::deliver::testing
