#include "deliver/exec_consumers.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "deliver/command_handlers.h"
#include "deliver/consumer_core.h"

namespace eddy::deliver {

Status ValidateExecConsumer(const ExecConsumerOptions& o, const std::string& where) {
  ConsumerOptions checked = o.consumer;
  if (checked.data_dir.empty()) checked.data_dir = ".";  // set by the Service later
  if (Status s = ConsumerCore::Validate(checked); !s.ok()) {
    // "consumer.lanes: ..." -> "consumers[0].lanes: ..."
    const std::string& m = s.message();
    return InvalidArgument(where + m.substr(m.find('.')));
  }
  if (o.exec.empty()) {
    return InvalidArgument(
        where + ".exec: required, the shell command run per change (e.g. \"./on-change.sh\")");
  }
  return Status::Ok();
}

ExecConsumers::ExecConsumers(std::vector<ExecConsumerOptions> options, std::string data_dir)
    : options_(std::move(options)) {
  for (ExecConsumerOptions& o : options_) o.consumer.data_dir = data_dir;
  if (options_.empty()) return;
  // One series per consumer from its Stats(); none before Start.
  auto series = [this](auto value) {
    return [this, value] {
      std::vector<std::pair<MetricLabels, double>> out;
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = 0; i < consumers_.size(); ++i) {
        out.push_back({{{"consumer", options_[i].consumer.name}}, value(*consumers_[i])});
      }
      return out;
    };
  };
  metrics_.AddCallback(
      "eddy_consumer_acknowledged_total", "Changes a consumer's command acknowledged.", "counter",
      series([](const Consumer& c) { return static_cast<double>(c.Stats().acknowledged); }));
  metrics_.AddCallback(
      "eddy_consumer_failures_total", "Failed runs of a consumer's command.", "counter",
      series([](const Consumer& c) { return static_cast<double>(c.Stats().failures); }));
  metrics_.AddCallback(
      "eddy_consumer_parked_changes", "Changes a consumer has parked now.", "gauge",
      series([](const Consumer& c) { return static_cast<double>(c.Stats().parked); }));
  metrics_.AddCallback(
      "eddy_consumer_in_flight", "Changes a consumer read but has not finished.", "gauge",
      series([](const Consumer& c) { return static_cast<double>(c.Stats().in_flight); }));
  metrics_.AddCallback("eddy_consumer_up", "1 while a consumer runs, 0 once it ended.", "gauge",
                       series([](const Consumer& c) { return c.Health().ok() ? 1.0 : 0.0; }));
}

ExecConsumers::~ExecConsumers() { Stop(); }

Status ExecConsumers::Start(Watcher& watcher) {
  for (const ExecConsumerOptions& o : options_) {
    EDDY_RETURN_IF_ERROR(ValidateExecConsumer(o, "consumers." + o.consumer.name));
    Result<std::unique_ptr<Consumer>> consumer =
        Consumer::Open(watcher, o.consumer, ExecHandlers(o.exec));
    if (!consumer.ok()) {
      return consumer.status().WithContext(fmt::format("consumers.{}", o.consumer.name));
    }
    spdlog::info("consumer {}: running `{}` per change", o.consumer.name, o.exec);
    std::lock_guard<std::mutex> lock(mu_);
    consumers_.push_back(std::move(consumer).value());
  }
  return Status::Ok();
}

void ExecConsumers::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& c : consumers_) c->Stop();
}

std::vector<std::pair<std::string, Consumer*>> ExecConsumers::Started() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, Consumer*>> out;
  for (size_t i = 0; i < consumers_.size(); ++i) {
    out.emplace_back(options_[i].consumer.name, consumers_[i].get());
  }
  return out;
}

Consumer* ExecConsumers::Find(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < consumers_.size(); ++i) {
    if (options_[i].consumer.name == name) return consumers_[i].get();
  }
  return nullptr;
}

std::string ExecConsumers::MetricsText() const { return metrics_.RenderText(); }

}  // namespace eddy::deliver
