#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "eddy/watcher.h"

#include "capture/capture.h"
#include "log/change_log.h"
#include "server/table_registry.h"

namespace eddy::server {

// The composition root of the capture core: the durable log, the replication capture feeding it
// and the subscriptions reading it. Implements the public eddy::Watcher.
// Threads: one capture thread, the log's flusher, and one delivery thread per subscription.
class Engine final : public Watcher {
 public:
  static Result<std::unique_ptr<Engine>> Create(const WatcherOptions& options);
  ~Engine() override;

  Status Start() override;
  Result<SubscriptionId> Subscribe(const Subscription& subscription,
                                   WatchHandlers handlers) override;
  Status Unsubscribe(SubscriptionId id) override;
  void Stop() override;
  Position DurablePosition() const override;
  std::string Health() const override;
  bool WaitUntilStreaming(int timeout_ms) override;

  capture::CaptureState CaptureStatus() const { return capture_->State(); }
  // The capture's final status once it stopped on an error retrying cannot fix.
  Status CaptureFailure() const;
  log::ChangeLog& change_log() { return *log_; }

 private:
  struct Delivery;
  Engine() = default;
  void RunDelivery(Delivery* delivery);

  WatcherOptions options_;
  std::unique_ptr<log::ChangeLog> log_;
  std::unique_ptr<TableRegistry> tables_;
  std::unique_ptr<capture::ChangeSink> sink_;
  std::unique_ptr<capture::Capture> capture_;
  std::thread capture_thread_;
  std::atomic<bool> stopped_{false};

  mutable std::mutex mutex_;
  Status capture_failure_;                                          // guarded by mutex_
  std::map<SubscriptionId, std::unique_ptr<Delivery>> deliveries_;  // guarded by mutex_
  SubscriptionId next_id_ = 1;                                      // guarded by mutex_
};

}  // namespace eddy::server
