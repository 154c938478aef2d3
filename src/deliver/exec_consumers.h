#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eddy/consumer.h"
#include "eddy/watcher.h"

#include "common/metrics.h"
#include "deliver/exec_consumer_options.h"

namespace eddy::deliver {

// The [[consumers]] of one eddy process: each an eddy::Consumer of the process's Watcher whose
// handler runs a shell command (ExecHandlers), with the same cursor, retries, parking and replay
// as `eddy consume --exec`: the serve HTTP routes /v1/consumers/... (server/consumer_admin.h)
// manage its parked changes while the process runs, `eddy consume --name N --parked ...` once it
// is stopped. Metrics, labelled consumer="<name>": eddy_consumer_acknowledged_
// total, eddy_consumer_failures_total, eddy_consumer_parked_changes, eddy_consumer_in_flight and
// eddy_consumer_up (0 once a consumer ended, e.g. its cursor fell out of the log's retention).
// Threading: Start/Stop from the owner's thread; MetricsText from any thread.
class ExecConsumers {
 public:
  ExecConsumers(std::vector<ExecConsumerOptions> options, std::string data_dir);
  ~ExecConsumers();
  ExecConsumers(const ExecConsumers&) = delete;
  ExecConsumers& operator=(const ExecConsumers&) = delete;

  // Opens every consumer on `watcher` (which must outlive Stop) and starts delivering.
  // kFailedPrecondition when a consumer is in use by another process (`eddy consume`).
  Status Start(Watcher& watcher);
  void Stop();
  // Prometheus text of the consumers' metrics ("" when there are none).
  std::string MetricsText() const;
  size_t size() const { return options_.size(); }
  // The started consumers by name, for the admin routes (thread-safe; Consumer is too). The
  // pointers stay valid until the ExecConsumers is destroyed.
  std::vector<std::pair<std::string, Consumer*>> Started() const;
  Consumer* Find(std::string_view name) const;

 private:
  std::vector<ExecConsumerOptions> options_;
  MetricsRegistry metrics_;
  // Filled by Start, read by the metrics callbacks: guarded by mu_.
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Consumer>> consumers_;
};

}  // namespace eddy::deliver
