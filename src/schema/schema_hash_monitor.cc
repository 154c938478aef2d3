#include "schema/schema_hash_monitor.h"

#include <spdlog/spdlog.h>

namespace eddy::schema {

SchemaHashMonitor::SchemaHashMonitor(std::string conninfo, SchemaHashOptions options,
                                     std::chrono::milliseconds interval, OnChange on_change)
    : conninfo_(std::move(conninfo)),
      options_(std::move(options)),
      interval_(interval),
      on_change_(std::move(on_change)) {}

SchemaHashMonitor::~SchemaHashMonitor() { Stop(); }

void SchemaHashMonitor::Start() {
  Check();
  thread_ = std::thread([this] { Run(); });
}

void SchemaHashMonitor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<SchemaDigest> SchemaHashMonitor::Current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

void SchemaHashMonitor::RecheckNow() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    recheck_ = true;
  }
  wake_.notify_all();
}

void SchemaHashMonitor::Run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, interval_, [this] { return stop_ || recheck_; });
    if (stop_) break;
    recheck_ = false;
    lock.unlock();
    Check();
    lock.lock();
  }
}

void SchemaHashMonitor::Check() {
  if (connection_ == nullptr || !connection_->IsOk()) {
    auto connected = pg::Connection::Connect(conninfo_);
    if (!connected.ok()) {
      if (!warned_) spdlog::warn("schema hash: {}", connected.status().message());
      warned_ = true;
      connection_.reset();
      return;
    }
    connection_ = std::move(connected).value();
  }
  auto digest = ComputeSchemaDigest(*connection_, options_);
  if (!digest.ok()) {
    if (!warned_) spdlog::warn("schema hash: {}", digest.status().message());
    warned_ = true;
    return;
  }
  warned_ = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (current_ && current_->hash == digest->hash) return;
    if (current_) {
      spdlog::info("schema hash: {} -> {} (a synced table's columns changed)", current_->hash,
                   digest->hash);
    }
    current_ = *digest;
  }
  if (on_change_) on_change_(*digest);
}

}  // namespace eddy::schema
