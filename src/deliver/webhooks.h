#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "deliver/webhook.h"
#include "log/change_log.h"

namespace eddy::deliver {

// The webhooks of one eddy process and their metrics: eddy_webhook_delivered_changes_total,
// eddy_webhook_delivered_batches_total, eddy_webhook_failures_total, eddy_webhook_lost_total and
// the gauge eddy_webhook_backlog_changes, each labelled webhook="<name>".
// Threading: Start/Stop from the owner's thread; MetricsText and Stats from any thread.
class Webhooks {
 public:
  // `log` must outlive this object.
  Webhooks(std::vector<WebhookOptions> options, log::ChangeLog& log, std::string data_dir);
  ~Webhooks();
  Status Start();
  void Stop();
  // Prometheus text of the webhooks' metrics ("" when there are none).
  std::string MetricsText() const;
  const std::vector<std::unique_ptr<Webhook>>& webhooks() const { return webhooks_; }

 private:
  MetricsRegistry metrics_;
  std::vector<std::unique_ptr<Webhook>> webhooks_;
};

}  // namespace eddy::deliver
