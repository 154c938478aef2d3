#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "eddy/result.h"

#include "common/metrics.h"
#include "deliver/http_post.h"
#include "deliver/webhook_options.h"
#include "log/change_log.h"
#include "log/cursor_file.h"

namespace eddy::deliver {

struct WebhookStats {
  uint64_t delivered_changes = 0;
  uint64_t delivered_batches = 0;
  uint64_t failures = 0;  // failed POSTs (network errors and non-2xx answers)
  uint64_t backlog = 0;   // durable changes for this webhook not yet delivered
  Position cursor;
};

// Delivers the log's changes to one URL: POSTs of up to batch_max changes as a JSON array of
// eddy's change JSON (full detail), signed with Eddy-Signature, one batch in flight, in log order,
// retried with exponential backoff until the endpoint answers 2xx (at least once). It follows
// the log with its own LogReader and cursor (<data_dir>/webhooks/<name>.cursor, stored after each
// delivered batch), so a dead endpoint never holds back capture: its backlog is bounded by the
// log's retention (if retention passes the cursor, the changes in between are lost for this
// webhook; that is logged and counted).
//
// Threads: a delivery thread (reads, POSTs, stores the cursor) and a scout thread that reads
// ahead to count the backlog. Stats() and Stop() from any thread.
class Webhook {
 public:
  Webhook(WebhookOptions options, log::ChangeLog& log, std::string data_dir,
          MetricsRegistry& metrics);
  ~Webhook();
  Webhook(const Webhook&) = delete;
  Webhook& operator=(const Webhook&) = delete;

  // Loads the cursor (a new webhook starts after the log's durable position) and starts the
  // threads.
  Status Start();
  void Stop();
  WebhookStats Stats() const;
  const WebhookOptions& options() const { return options_; }

 private:
  bool Wanted(const Change& change) const;
  void DeliveryLoop();
  void ScoutLoop();
  // POSTs `body` until a 2xx answer; false when stopped first.
  bool Deliver(const std::string& body, size_t changes, const std::string& batch_id);
  bool Sleep(int64_t ms);  // false when stopped

  const WebhookOptions options_;
  log::ChangeLog& log_;
  log::CursorFile cursor_file_;
  HttpUrl url_;
  std::shared_ptr<TlsTrust> tls_;  // https:// only; loaded by Start
  log::Cursor start_;              // where both threads begin

  Counter& delivered_changes_;
  Counter& delivered_batches_;
  Counter& failures_;
  Counter& lost_;
  std::atomic<uint64_t> scouted_{0};  // wanted changes the scout counted after start_
  std::atomic<uint64_t> passed_{0};   // wanted changes delivered after start_

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                       // guarded by mu_
  Position cursor_;                         // guarded by mu_
  std::unique_ptr<log::LogReader> reader_;  // delivery thread; Cancel from Stop
  std::unique_ptr<log::LogReader> scout_;   // scout thread; Cancel from Stop
  std::thread delivery_;
  std::thread scout_thread_;
};

}  // namespace eddy::deliver
