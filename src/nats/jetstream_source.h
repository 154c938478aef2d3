#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eddy/change.h"
#include "eddy/watcher.h"

#include "capture/change_sink.h"
#include "capture/source.h"
#include "common/metrics.h"
#include "nats/jetstream_connection.h"

namespace eddy::nats {

// Edge mode (capture_mode = "nats"): the engine's source is another eddy's JetStream stream
// instead of PostgreSQL. A durable pull consumer (NatsOptions::durable, explicit acks) reads the
// stream in order; each message is rebuilt into its Change (binary body) and appended to the
// ChangeSink (the local log); the last change of a transaction (Eddy-Tx-Count) is followed by
// its Commit. Messages are acknowledged to JetStream only once NotifyDurable says the log holds
// their transaction, so a crash redelivers whatever the log had not made durable.
//
// Redeliveries and republished duplicates are skipped: a transaction whose commit LSN is at or
// before the last one appended is dropped (its message acknowledged once durable), and a message
// that is not the next one of the open transaction is asked back later (Nak with delay), which
// also puts a stream reordered by a publisher's retry back in order.
//
// Gaps: a stream's limits (max_age, max_bytes, max_msgs) remove its oldest messages whether an
// edge read them or not. The source notices when messages it never received were removed (the
// consumer's delivered stream sequence jumps past the stream's first sequence, or the start of a
// transaction lies before it) and stops with kDataLoss naming the fix, instead of waiting for
// them forever. An edge with an empty log starts at the first transaction the stream holds whole.
//
// Threading: Run() owns a thread and the consumer; NotifyDurable(), Stop() and State() from any.
class JetStreamSource final : public capture::Source {
 public:
  static constexpr int kFetchBatch = 256;
  static constexpr int64_t kAckWaitMs = 30'000;

  // `last` is the log's last durable commit (nothing at or before it is appended again).
  // `metrics`: where the eddy_nats_edge_* series go (docs/nats.md); null: nowhere. It must
  // outlive the source's last scrape.
  JetStreamSource(const NatsOptions& options, capture::ChangeSink& sink, std::optional<Commit> last,
                  std::function<void(const std::shared_ptr<const Table>&)> on_table_version,
                  MetricsRegistry* metrics = nullptr);
  ~JetStreamSource() override;

  void SeedTables(const std::vector<std::shared_ptr<const Table>>& tables) override;
  Status Run() override;
  void Stop() override;
  void NotifyDurable(Lsn end_lsn) override;
  capture::CaptureState State() const override;

 private:
  struct PendingAck {
    Lsn end_lsn;
    std::string reply;  // the message's ack subject
  };
  Status RunConnected();
  // Appends, skips or defers one message; REQUIRES: called on the Run thread.
  Status Handle(JetStreamConnection& c, natsMsg* msg);
  void AckDurable(JetStreamConnection& c);
  // The stream's first sequence, asked at most once a second (it only grows).
  Result<uint64_t> FirstSequence(JetStreamConnection& c);
  Status GapError(const std::string& what, uint64_t first_sequence) const;
  std::shared_ptr<const Table> Intern(std::shared_ptr<const Table> table);
  void SetState(const std::function<void(capture::CaptureState&)>& update) const;

  const NatsOptions options_;
  capture::ChangeSink& sink_;
  const std::function<void(const std::shared_ptr<const Table>&)> on_table_version_;
  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  std::atomic<uint64_t> durable_end_{0};

  // Run thread only.
  Lsn last_commit_lsn_;             // the newest transaction appended
  std::optional<Lsn> open_lsn_;     // the transaction being appended
  uint32_t next_index_ = 0;         // of the open transaction
  std::deque<PendingAck> pending_;  // in arrival order
  std::map<std::pair<uint32_t, uint32_t>, std::shared_ptr<const Table>> tables_;
  Lsn acked_end_;
  uint64_t last_delivered_seq_ = 0;  // highest stream sequence first delivered to the consumer
  uint64_t first_seq_ = 0;           // cached FirstSequence()
  int64_t first_seq_at_us_ = 0;

  MetricsRegistry own_metrics_;  // when the owner gives none
  Counter& received_;            // messages fetched (redeliveries too)
  Counter& skipped_;             // duplicates of what the log holds
  Counter& deferred_;            // out of order, asked back later
  Counter& malformed_;           // not eddy's, terminated
  Gauge& acked_end_lsn_;

  mutable std::mutex mu_;
  mutable capture::CaptureState state_;  // guarded by mu_
};

}  // namespace eddy::nats
