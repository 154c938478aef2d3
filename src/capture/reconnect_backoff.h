#pragma once

#include <algorithm>
#include <cstdint>

namespace eddy::capture {

// The retry delay of a source's reconnect loop (logical capture, the trigger outbox, the JetStream
// edge source): doubling from `min_ms` to `max_ms` while attempts keep failing, and back to
// `min_ms` once a session ran long enough to count as healthy, so one failure after hours of
// streaming is retried quickly. Pure: the caller measures time and sleeps.
class ReconnectBackoff {
 public:
  static constexpr int64_t kHealthySessionUs = 10'000'000;

  ReconnectBackoff(int min_ms, int max_ms) : min_ms_(min_ms), max_ms_(std::max(min_ms, max_ms)) {}

  // The delay to wait before the next attempt.
  int delay_ms() const { return delay_ms_; }
  // A session that had connected ended after `ran_us`: a long one starts the doubling over.
  void SessionEnded(int64_t ran_us) {
    if (ran_us > kHealthySessionUs) delay_ms_ = min_ms_;
  }
  // After waiting delay_ms(): the next failure waits twice as long, up to max_ms.
  void Waited() { delay_ms_ = std::min(delay_ms_ * 2, max_ms_); }

 private:
  int min_ms_;
  int max_ms_;
  int delay_ms_ = min_ms_;
};

}  // namespace eddy::capture
