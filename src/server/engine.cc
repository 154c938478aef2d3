#include "server/engine.h"

#include <chrono>
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "match/subscription_filter.h"
#include "nats/jetstream_sink.h"
#include "nats/jetstream_source.h"
#include "outbox/outbox_capture.h"

namespace eddy {

Result<std::unique_ptr<Watcher>> Watcher::Open(const WatcherOptions& options) {
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<server::Engine> engine, server::Engine::Create(options));
  return std::unique_ptr<Watcher>(std::move(engine));
}

namespace server {
namespace {

// Feeds the capture's transactions into the durable log.
class LogSink final : public capture::ChangeSink {
 public:
  explicit LogSink(log::ChangeLog& log) : log_(log) {}
  Status Append(const Change& change) override { return log_.Append(change); }
  Status AppendCommit(const Commit& commit) override { return log_.AppendCommit(commit); }
  Status DiscardUncommitted() override { return log_.DiscardUncommitted(); }

 private:
  log::ChangeLog& log_;
};

}  // namespace

struct Engine::Delivery {
  std::unique_ptr<match::SubscriptionFilter> filter;
  std::unique_ptr<log::LogReader> reader;
  WatchHandlers handlers;
  std::atomic<bool> stop{false};
  std::thread thread;
};

Result<std::unique_ptr<Engine>> Engine::Create(const WatcherOptions& options) {
  if (options.database_url.empty() && options.capture_mode != "nats") {
    return InvalidArgument(
        "database_url: required (a libpq URI such as "
        "postgresql://user@host:5432/db, or set DATABASE_URL)");
  }
  if (options.data_dir.empty()) return InvalidArgument("data_dir: required");
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return IoError(fmt::format("data_dir: cannot create {}: {}", options.data_dir, ec.message()));
  }
  std::unique_ptr<Engine> engine(new Engine());
  engine->options_ = options;
  log::ChangeLogOptions log_options;
  log_options.dir = options.data_dir + "/log";
  log_options.segment_bytes = options.segment_bytes;
  log_options.retention_bytes = options.retention_bytes;
  log_options.retention_age_us = options.retention_age_seconds * 1000000;
  log_options.fsync = options.fsync;
  EDDY_ASSIGN_OR_RETURN(engine->log_, log::ChangeLog::Open(log_options, SystemClock()));
  engine->sink_ = std::make_unique<LogSink>(*engine->log_);

  EDDY_ASSIGN_OR_RETURN(engine->tables_, TableRegistry::Open(options.data_dir + "/tables.bin"));
  EDDY_ASSIGN_OR_RETURN(engine->source_, engine->MakeSource());
  engine->source_->SeedTables(engine->tables_->Tables());
  Engine* raw = engine.get();
  engine->log_->SetDurableListener([raw](const Commit& commit) {
    raw->durable_end_.store(commit.end_lsn.value(), std::memory_order_release);
    raw->NotifySource();
  });
  return engine;
}

Result<std::unique_ptr<capture::Source>> Engine::MakeSource() {
  const WatcherOptions& options = options_;
  TableRegistry* registry = tables_.get();
  auto on_table_version = [registry](const std::shared_ptr<const Table>& table) {
    Status s = registry->Record(table);
    if (!s.ok()) spdlog::warn("table registry: {}", s.ToString());
  };
  std::optional<Commit> last = log_->LastDurableCommit();
  if (options.capture_mode == "logical") {
    capture::CaptureOptions capture_options;
    capture_options.on_table_version = on_table_version;
    capture_options.conninfo = options.database_url;
    capture_options.slot = options.slot;
    capture_options.publication = options.publication;
    capture_options.tables = options.tables;
    capture_options.spool_dir = options.data_dir + "/spool";
    capture_options.recreate_slot = options.recreate_slot;
    Lsn skip_through = last ? last->commit_lsn : Lsn();
    Lsn resume_from = last ? last->end_lsn : Lsn();
    return std::unique_ptr<capture::Source>(std::make_unique<capture::Capture>(
        capture_options, *sink_, skip_through, resume_from, SystemClock()));
  }
  if (options.capture_mode == "triggers") {
    outbox::OutboxOptions outbox_options;
    outbox_options.conninfo = options.database_url;
    outbox_options.triggers = options.triggers;
    outbox_options.tables = options.tables;
    outbox_options.journal_path = options.data_dir + "/outbox-journal";
    outbox_options.fsync = options.fsync;
    outbox_options.on_table_version = on_table_version;
    return std::unique_ptr<capture::Source>(
        std::make_unique<outbox::OutboxCapture>(outbox_options, *sink_, last, SystemClock()));
  }
  if (options.capture_mode == "nats") {
    return std::unique_ptr<capture::Source>(std::make_unique<nats::JetStreamSource>(
        options.nats, *sink_, last, on_table_version, &metrics_));
  }
  return InvalidArgument(
      fmt::format("capture_mode: \"{}\" is not a mode (use \"logical\", \"triggers\" or \"nats\")",
                  options.capture_mode));
}

std::shared_ptr<std::atomic<uint64_t>> Engine::AddConfirmGate() {
  auto gate = std::make_shared<std::atomic<uint64_t>>(0);
  std::lock_guard<std::mutex> lock(mutex_);
  gates_.push_back(gate);
  return gate;
}

void Engine::ConfirmGatesMoved() { NotifySource(); }

void Engine::NotifySource() {
  uint64_t end = durable_end_.load(std::memory_order_acquire);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& gate : gates_) end = std::min(end, gate->load(std::memory_order_acquire));
  }
  if (end != 0 && source_) source_->NotifyDurable(Lsn{end});
}

Engine::~Engine() { Stop(); }

Status Engine::Start() {
  if (capture_thread_.joinable()) return FailedPrecondition("the watcher is already started");
  if (options_.nats.publish) {
    nats::JetStreamSink::Options sink_options;
    sink_options.nats = options_.nats;
    sink_options.cursor_path = options_.data_dir + "/sinks/nats.cursor";
    sink_options.metrics = &metrics_;
    if (options_.nats.required) {
      sink_options.gate = AddConfirmGate();
      sink_options.on_gate_moved = [this] { ConfirmGatesMoved(); };
    }
    nats_sink_ = std::make_unique<nats::JetStreamSink>(std::move(sink_options), *log_);
    EDDY_RETURN_IF_ERROR(nats_sink_->Start());
  }
  capture_thread_ = std::thread([this] {
    Status s = source_->Run();
    std::lock_guard<std::mutex> lock(mutex_);
    capture_failure_ = s;
  });
  return Status::Ok();
}

Status Engine::CaptureFailure() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return capture_failure_;
}

void Engine::Stop() {
  if (stopped_.exchange(true)) return;
  if (!source_) return;  // Create failed part-way
  source_->Stop();
  if (capture_thread_.joinable()) capture_thread_.join();
  if (nats_sink_) nats_sink_->Stop();
  std::map<SubscriptionId, std::unique_ptr<Delivery>> deliveries;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    deliveries.swap(deliveries_);
  }
  for (auto& [id, d] : deliveries) d->stop = true;
  for (auto& [id, d] : deliveries) {
    if (d->thread.joinable()) d->thread.join();
  }
  Status s = log_->Sync();
  if (!s.ok()) spdlog::error("log sync at shutdown: {}", s.ToString());
}

Position Engine::DurablePosition() const {
  std::optional<Commit> last = log_->LastDurableCommit();
  if (!last) return Position{};
  // The log orders a commit after its changes, at index change_count.
  return Position{last->commit_lsn, last->change_count};
}

std::string Engine::Health() const {
  capture::CaptureState s = source_->State();
  std::string health = fmt::format(
      "role={} streaming={} received={} durable={} confirmed={}{}{}",
      capture::CaptureRoleName(s.role), s.streaming, s.received.ToString(), s.durable.ToString(),
      s.confirmed.ToString(), s.last_error.empty() ? "" : " error=", s.last_error);
  if (nats_sink_) {
    nats::JetStreamSink::State n = nats_sink_->GetState();
    health += fmt::format(" nats={} nats_acked={}{}{}",
                          n.failed ? "failed" : (n.connected ? "connected" : "disconnected"),
                          n.acknowledged.position.ToString(),
                          n.last_error.empty() ? "" : " nats_error=", n.last_error);
  }
  return health;
}

bool Engine::WaitUntilStreaming(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    capture::CaptureState s = source_->State();
    if (s.streaming) return true;
    if (s.role == capture::CaptureRole::kFailed) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

Result<SubscriptionId> Engine::Subscribe(const Subscription& subscription, WatchHandlers handlers) {
  if (stopped_) return FailedPrecondition("the watcher is stopped");
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<match::SubscriptionFilter> filter,
                        match::SubscriptionFilter::Compile(subscription));
  Position after = subscription.after ? *subscription.after : DurablePosition();
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<log::LogReader> reader, log_->NewReader(after));
  auto delivery = std::make_unique<Delivery>();
  delivery->filter = std::move(filter);
  delivery->reader = std::move(reader);
  delivery->handlers = std::move(handlers);
  Delivery* raw = delivery.get();
  std::lock_guard<std::mutex> lock(mutex_);
  SubscriptionId id = next_id_++;
  delivery->thread = std::thread([this, raw] { RunDelivery(raw); });
  deliveries_.emplace(id, std::move(delivery));
  return id;
}

Status Engine::Unsubscribe(SubscriptionId id) {
  std::unique_ptr<Delivery> delivery;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = deliveries_.find(id);
    if (it == deliveries_.end()) return NotFound(fmt::format("subscription {} does not exist", id));
    delivery = std::move(it->second);
    deliveries_.erase(it);
  }
  delivery->stop = true;
  if (delivery->thread.joinable()) delivery->thread.join();
  return Status::Ok();
}

void Engine::RunDelivery(Delivery* d) {
  bool in_transaction = false;
  std::string json;
  while (!d->stop) {
    auto entry = d->reader->Next(std::chrono::milliseconds(100));
    if (!entry.ok()) {
      if (d->handlers.on_error) d->handlers.on_error(entry.status());
      return;
    }
    if (!entry->has_value()) continue;
    const log::LogEntry& e = **entry;
    if (e.kind == log::LogEntry::Kind::kChange) {
      if (!d->filter->Matches(e.change)) continue;
      if (!in_transaction) {
        in_transaction = true;
        if (d->handlers.on_begin) {
          d->handlers.on_begin(TransactionBoundary{e.change.xid, e.change.position.commit_lsn,
                                                   e.change.commit_time_us});
        }
      }
      json.clear();
      d->filter->Render(e.change, &json);
      if (d->handlers.on_change) d->handlers.on_change(WatchEvent{e.change, json});
    } else if (in_transaction) {
      in_transaction = false;
      if (d->handlers.on_commit) d->handlers.on_commit(e.commit);
    }
  }
}

}  // namespace server
}  // namespace eddy
