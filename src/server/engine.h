#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "eddy/watcher.h"

#include "capture/capture.h"
#include "capture/source.h"
#include "common/metrics.h"
#include "log/change_log.h"
#include "server/table_registry.h"

namespace eddy::nats {
class JetStreamSink;
}

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

  capture::CaptureState CaptureStatus() const { return source_->State(); }
  // The capture's final status once it stopped on an error retrying cannot fix.
  Status CaptureFailure() const;
  log::ChangeLog& change_log() { return *log_; }
  // The engine's own series (eddy_nats_* of the JetStream sink and edge source) as Prometheus
  // text; "" when none is registered.
  std::string MetricsText() const { return metrics_.RenderText(); }
  const WatcherOptions& options() const { return options_; }

  // A required sink (e.g. JetStream with nats.required) holds back what the source may let go
  // of: the source is told only the lowest end LSN that the log made durable and every gate
  // acknowledged. The sink stores its acknowledged end LSN in the returned gate and then calls
  // ConfirmGatesMoved(). Gates start at 0 (nothing acknowledged).
  std::shared_ptr<std::atomic<uint64_t>> AddConfirmGate();
  void ConfirmGatesMoved();

 private:
  struct Delivery;
  Engine() = default;
  Result<std::unique_ptr<capture::Source>> MakeSource();
  void RunDelivery(Delivery* delivery);
  // Tells the source the lowest of the log's durable end LSN and every gate.
  void NotifySource();

  WatcherOptions options_;
  std::unique_ptr<log::ChangeLog> log_;
  std::unique_ptr<TableRegistry> tables_;
  std::unique_ptr<capture::ChangeSink> sink_;
  std::unique_ptr<capture::Source> source_;
  std::unique_ptr<nats::JetStreamSink> nats_sink_;  // with options_.nats.publish
  std::thread capture_thread_;
  std::atomic<bool> stopped_{false};

  mutable std::mutex mutex_;
  Status capture_failure_;                                          // guarded by mutex_
  std::map<SubscriptionId, std::unique_ptr<Delivery>> deliveries_;  // guarded by mutex_
  SubscriptionId next_id_ = 1;                                      // guarded by mutex_
  std::vector<std::shared_ptr<std::atomic<uint64_t>>> gates_;       // guarded by mutex_
  std::atomic<uint64_t> durable_end_{0};  // the log's newest durable Commit::end_lsn
  // Last member: destroyed first, so no scrape reaches a destroyed sink or source.
  MetricsRegistry metrics_;
};

}  // namespace eddy::server
