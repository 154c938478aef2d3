#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "eddy/consumer.h"

#include "deliver/change_feed.h"
#include "deliver/parked_store.h"
#include "log/cursor_file.h"
#include "log/file.h"

namespace eddy::deliver {

// The delivery logic of a consumer, independent of where changes come from (a ChangeFeed).
//
// Data flow: a dispatch thread pulls entries from the feed in commit order, records each in the
// in-flight window and hands changes to one of `lanes` threads by hash of KeyOf(change), so the
// changes of one key are handled one at a time in commit order. A lane calls the handler, retries
// a failure with exponential backoff and, after max_attempts, parks the change in the
// ParkedStore; later changes of a parked key are parked behind it (without calling the handler)
// until a replay or discard clears the key, while other keys go on. A change is *finished* once
// acknowledged or durably parked; the cursor (CursorFile) is the position of the last entry of
// the finished prefix of the window, stored every kCursorIntervalMs and at Stop, so a restart
// delivers again at most what was unfinished or not yet recorded (at least once).
// Truncates are barriers: they wait for every earlier change and run alone.
//
// Threading: mu_ guards the window, the parked store, the stats and the state below it; the
// handlers run without it. replay_mu_ serializes Replay/ReplayAll/Discard calls.
class ConsumerCore final : public Consumer {
 public:
  static constexpr int kCursorIntervalMs = 50;
  static constexpr size_t kDispatchBurst = 256;  // entries put into the lanes under one lock
  static constexpr size_t kFinishGroup = 64;     // acknowledged changes finished under one lock

  // Checks the options, takes <data_dir>/consumers/<name>/LOCK and loads the parked changes.
  // `feed` may be null for offline use (list, replay and discard of parked changes).
  static Result<std::unique_ptr<ConsumerCore>> Open(const ConsumerOptions& options,
                                                    ConsumerHandlers handlers,
                                                    std::unique_ptr<ChangeFeed> feed);
  ~ConsumerCore() override;

  // Starts the feed after the stored cursor and the threads. REQUIRES: a feed.
  Status Start();

  void Stop() override;
  Result<std::vector<ParkedChange>> ListParked() override;
  Status Replay(uint64_t id) override;
  Status ReplayAll() override;
  Status Discard(uint64_t id) override;
  ConsumerStats Stats() const override;
  Status Health() const override;

  // Checks a ConsumerOptions; errors name the field.
  static Status Validate(const ConsumerOptions& options);
  static std::string DirOf(const ConsumerOptions& options);

 private:
  struct Slot {
    Position position;
    bool is_commit = false;
    Lsn end_lsn;
    bool done = false;
  };
  struct Item {
    uint64_t seq = 0;
    FeedEntry entry;
  };
  struct Lane {
    std::deque<Item> queue;  // guarded by mu_
    bool idle = false;       // guarded by mu_: waiting for work (notified only then)
    std::condition_variable cv;
    std::thread thread;
  };

  ConsumerCore() = default;
  void DispatchLoop();
  void LaneLoop(Lane* lane);
  // Handles one change on a lane: parked-behind or park (finished here, under mu_), or the
  // handler with retries. True when the handler acknowledged it: the caller finishes it (lanes
  // finish a burst of acknowledged changes under one lock).
  bool Process(Lane* lane, Item& item, std::vector<Item>* acknowledged);
  // Puts `batch` (in feed order) into the window and the lanes under one lock.
  void DispatchBatch(std::vector<FeedEntry>& batch);
  // Finishes acknowledged items and tells the feed.
  void FinishAcknowledged(std::vector<Item>& items);
  Status CallHandler(const Change& change);
  // Under mu_: marks `seq` finished and advances the finished prefix.
  void FinishLocked(uint64_t seq);
  Status StoreCursorIfMoved();
  Status ReplayKey(const std::string& key, uint64_t through_id);

  ConsumerOptions options_;
  ConsumerHandlers handlers_;
  std::unique_ptr<ChangeFeed> feed_;
  std::unique_ptr<log::DirLock> lock_;
  std::unique_ptr<log::CursorFile> cursor_file_;

  mutable std::mutex mu_;
  std::condition_variable window_cv_;    // a slot finished or stopping
  std::deque<Slot> window_;              // guarded by mu_; seq of front is window_base_
  uint64_t window_base_ = 0;             // guarded by mu_
  uint64_t unfinished_changes_ = 0;      // guarded by mu_
  log::Cursor cursor_;                   // guarded by mu_: end of the finished prefix
  log::Cursor stored_cursor_;            // dispatch thread only
  std::unique_ptr<ParkedStore> parked_;  // guarded by mu_
  // parked_->size(), readable without mu_: a key can only become parked on its own lane, so a
  // lane that reads 0 knows its key is not parked.
  std::atomic<size_t> parked_count_{0};
  uint64_t acknowledged_ = 0;                // guarded by mu_
  uint64_t failures_ = 0;                    // guarded by mu_
  Status health_;                            // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::atomic<bool> stop_requested_{false};  // stopping_, readable without mu_
  bool dispatcher_waiting_ = false;          // guarded by mu_: waits on window_cv_
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::thread dispatcher_;
  std::mutex replay_mu_;
  bool started_ = false;
};

}  // namespace eddy::deliver
