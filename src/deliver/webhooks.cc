#include "deliver/webhooks.h"

namespace eddy::deliver {

Webhooks::Webhooks(std::vector<WebhookOptions> options, log::ChangeLog& log, std::string data_dir) {
  for (WebhookOptions& o : options) {
    webhooks_.push_back(std::make_unique<Webhook>(std::move(o), log, data_dir, metrics_));
  }
  if (webhooks_.empty()) return;
  metrics_.AddCallback(
      "eddy_webhook_backlog_changes",
      "Durable changes a webhook has not delivered yet (bounded by the log's retention).", "gauge",
      [this] {
        std::vector<std::pair<MetricLabels, double>> out;
        for (const auto& w : webhooks_) {
          out.push_back(
              {{{"webhook", w->options().name}}, static_cast<double>(w->Stats().backlog)});
        }
        return out;
      });
}

Webhooks::~Webhooks() { Stop(); }

Status Webhooks::Start() {
  for (const auto& w : webhooks_) EDDY_RETURN_IF_ERROR(w->Start());
  return Status::Ok();
}

void Webhooks::Stop() {
  for (const auto& w : webhooks_) w->Stop();
}

std::string Webhooks::MetricsText() const { return metrics_.RenderText(); }

}  // namespace eddy::deliver
