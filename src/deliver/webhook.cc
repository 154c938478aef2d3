#include "deliver/webhook.h"

#include <algorithm>
#include <chrono>
#include <regex>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "eddy/clock.h"

#include "change/change_json.h"
#include "deliver/table_filter.h"
#include "deliver/webhook_signature.h"

namespace eddy::deliver {
namespace {

constexpr auto kIdleWait = std::chrono::milliseconds(200);
constexpr auto kBatchLinger = std::chrono::milliseconds(5);
constexpr int64_t kCursorIntervalUs = 200'000;  // cursor stores while skipping unwanted changes

}  // namespace

Status ValidateWebhook(const WebhookOptions& o, const std::string& where) {
  static const std::regex kName("^[A-Za-z0-9_-]{1,64}$");
  if (!std::regex_match(o.name, kName)) {
    return InvalidArgument(fmt::format(
        "{}.name: \"{}\" is not a webhook name (letters, digits, '_' and '-', at most 64)", where,
        o.name));
  }
  EDDY_ASSIGN_OR_RETURN(HttpUrl url, ParseHttpUrl(o.url, where + ".url"));
  if (!o.ca_file.empty()) {
    if (!url.tls) {
      return InvalidArgument(
          fmt::format("{}.ca_file: only for https:// URLs (remove it, or use https:// in {}.url)",
                      where, where));
    }
    EDDY_RETURN_IF_ERROR(LoadTlsTrust(o.ca_file, where + ".ca_file").status());
  }
  if (o.secret.size() < 16) {
    return InvalidArgument(fmt::format(
        "{}.secret: must be at least 16 bytes (receivers verify the Eddy-Signature HMAC with it)",
        where));
  }
  if (o.batch_max < 1 || o.batch_max > 10000) {
    return InvalidArgument(fmt::format("{}.batch_max: must be 1 to 10000", where));
  }
  if (o.timeout_ms < 1) return InvalidArgument(fmt::format("{}.timeout_ms: must be > 0", where));
  if (o.backoff_min_ms < 1 || o.backoff_max_ms < o.backoff_min_ms) {
    return InvalidArgument(
        fmt::format("{}.backoff_min_ms/backoff_max_ms: need 1 <= min <= max", where));
  }
  return Status::Ok();
}

Webhook::Webhook(WebhookOptions options, log::ChangeLog& log, std::string data_dir,
                 MetricsRegistry& metrics)
    : options_(std::move(options)),
      log_(log),
      cursor_file_(data_dir + "/webhooks/" + options_.name + ".cursor"),
      delivered_changes_(metrics.NewCounter("eddy_webhook_delivered_changes_total",
                                            "Changes a webhook endpoint acknowledged (2xx).",
                                            {{"webhook", options_.name}})),
      delivered_batches_(metrics.NewCounter("eddy_webhook_delivered_batches_total",
                                            "Batches a webhook endpoint acknowledged (2xx).",
                                            {{"webhook", options_.name}})),
      failures_(metrics.NewCounter("eddy_webhook_failures_total",
                                   "Webhook POSTs that failed (network error or non-2xx).",
                                   {{"webhook", options_.name}})),
      lost_(metrics.NewCounter("eddy_webhook_lost_total",
                               "Times log retention passed a webhook's cursor (changes skipped).",
                               {{"webhook", options_.name}})) {}

Webhook::~Webhook() { Stop(); }

Status Webhook::Start() {
  EDDY_RETURN_IF_ERROR(ValidateWebhook(options_, "webhooks." + options_.name));
  EDDY_ASSIGN_OR_RETURN(url_, ParseHttpUrl(options_.url, "webhooks." + options_.name + ".url"));
  if (url_.tls) {
    EDDY_ASSIGN_OR_RETURN(tls_,
                          LoadTlsTrust(options_.ca_file, "webhooks." + options_.name + ".ca_file"));
  }
  EDDY_ASSIGN_OR_RETURN(std::optional<log::Cursor> stored, cursor_file_.Load());
  if (stored) {
    start_ = *stored;
  } else {
    std::optional<Commit> last = log_.LastDurableCommit();
    if (last) start_ = log::Cursor{Position{last->commit_lsn, last->change_count}, last->end_lsn};
    EDDY_RETURN_IF_ERROR(cursor_file_.Store(start_));
  }
  Result<std::unique_ptr<log::LogReader>> reader = log_.NewReader(start_.position);
  if (!reader.ok() && reader.status().code() == StatusCode::kDataLoss) {
    spdlog::error("webhook {}: {}; continuing from the oldest retained change", options_.name,
                  reader.status().message());
    lost_.Increment();
    reader = log_.NewReader(Position{});
  }
  if (!reader.ok()) return reader.status();
  EDDY_ASSIGN_OR_RETURN(scout_, log_.NewReader(start_.position));
  reader_ = std::move(reader).value();
  cursor_ = start_.position;
  delivery_ = std::thread([this] { DeliveryLoop(); });
  scout_thread_ = std::thread([this] { ScoutLoop(); });
  return Status::Ok();
}

void Webhook::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
    if (reader_) reader_->Cancel();
    if (scout_) scout_->Cancel();
  }
  cv_.notify_all();
  if (delivery_.joinable()) delivery_.join();
  if (scout_thread_.joinable()) scout_thread_.join();
}

WebhookStats Webhook::Stats() const {
  WebhookStats s;
  s.delivered_changes = delivered_changes_.Value();
  s.delivered_batches = delivered_batches_.Value();
  s.failures = failures_.Value();
  const uint64_t scouted = scouted_.load(std::memory_order_acquire);
  const uint64_t passed = passed_.load(std::memory_order_acquire);
  s.backlog = scouted > passed ? scouted - passed : 0;
  std::lock_guard<std::mutex> lock(mu_);
  s.cursor = cursor_;
  return s;
}

bool Webhook::Wanted(const Change& change) const {
  return !change.table || TableWanted(options_.tables, *change.table);
}

bool Webhook::Sleep(int64_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stop_; });
}

void Webhook::ScoutLoop() {
  while (true) {
    auto entry = scout_->Next(kIdleWait);
    if (!entry.ok()) return;  // stopped, or retention: the delivery thread reports it
    if (!entry->has_value()) continue;
    const log::LogEntry& e = **entry;
    if (e.kind == log::LogEntry::Kind::kChange && Wanted(e.change)) {
      scouted_.fetch_add(1, std::memory_order_release);
    }
  }
}

bool Webhook::Deliver(const std::string& body, size_t changes, const std::string& batch_id) {
  int64_t backoff = options_.backoff_min_ms;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return false;
    }
    const int64_t now_s = SystemClock().NowUnixMicros() / 1'000'000;
    std::vector<std::pair<std::string, std::string>> headers = {
        {std::string(kSignatureHeader), SignWebhook(options_.secret, now_s, body)},
        {"Eddy-Webhook", options_.name},
        {"Eddy-Batch", batch_id},
    };
    Result<HttpPostResponse> response =
        HttpPost(url_, tls_.get(), headers, body, options_.timeout_ms);
    if (response.ok() && response->status >= 200 && response->status < 300) {
      delivered_changes_.Add(changes);
      delivered_batches_.Increment();
      return true;
    }
    failures_.Increment();
    spdlog::warn("webhook {}: {}; retrying in {} ms", options_.name,
                 response.ok() ? fmt::format("{} answered {}", options_.url, response->status)
                               : response.status().message(),
                 backoff);
    if (!Sleep(backoff)) return false;
    backoff = std::min<int64_t>(backoff * 2, options_.backoff_max_ms);
  }
}

void Webhook::DeliveryLoop() {
  change::JsonProjection full;
  full.rows = change::JsonProjection::Rows::kFull;
  log::Cursor read = start_;  // the last entry read
  log::Cursor stored = start_;
  int64_t last_store_us = SystemClock().NowSteadyMicros();
  std::string body;
  auto store = [&](const log::Cursor& c) {
    Status s = cursor_file_.Store(c);
    if (!s.ok()) spdlog::error("webhook {}: storing the cursor: {}", options_.name, s.ToString());
    stored = c;
    last_store_us = SystemClock().NowSteadyMicros();
    std::lock_guard<std::mutex> lock(mu_);
    cursor_ = c.position;
  };
  while (true) {
    body.clear();
    body.push_back('[');
    size_t changes = 0;
    Position first;
    while (changes < static_cast<size_t>(options_.batch_max)) {
      auto entry = reader_->Next(changes == 0 ? kIdleWait : kBatchLinger);
      if (!entry.ok()) {
        if (entry.status().code() == StatusCode::kAborted) return;
        spdlog::error("webhook {}: {}; continuing from the oldest retained change", options_.name,
                      entry.status().ToString());
        lost_.Increment();
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) return;
        auto reopened = log_.NewReader(Position{});
        if (!reopened.ok()) return;
        reader_ = std::move(reopened).value();
        break;
      }
      if (!entry->has_value()) break;
      const log::LogEntry& e = **entry;
      read.position = e.position();
      if (e.kind == log::LogEntry::Kind::kCommit) {
        read.end_lsn = e.commit.end_lsn;
        continue;
      }
      if (!Wanted(e.change)) continue;
      if (changes == 0) first = e.change.position;
      if (changes > 0) body.push_back(',');
      change::AppendChangeJson(e.change, full, &body);
      ++changes;
    }
    if (changes > 0) {
      body.push_back(']');
      const std::string batch_id = fmt::format("{}-{}", first.ToString(), read.position.ToString());
      if (!Deliver(body, changes, batch_id)) return;  // stopped: the batch is sent again later
      passed_.fetch_add(changes, std::memory_order_release);
      store(read);
    } else if (!(read == stored) &&
               SystemClock().NowSteadyMicros() - last_store_us > kCursorIntervalUs) {
      store(read);  // only unwanted changes or commits: move past them now and then
    }
  }
}

}  // namespace eddy::deliver
