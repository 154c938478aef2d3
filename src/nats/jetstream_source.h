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
// Threading: Run() owns a thread and the consumer; NotifyDurable(), Stop() and State() from any.
class JetStreamSource final : public capture::Source {
 public:
  static constexpr int kFetchBatch = 256;
  static constexpr int64_t kAckWaitMs = 30'000;

  // `last` is the log's last durable commit (nothing at or before it is appended again).
  JetStreamSource(const NatsOptions& options, capture::ChangeSink& sink, std::optional<Commit> last,
                  std::function<void(const std::shared_ptr<const Table>&)> on_table_version);
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

  mutable std::mutex mu_;
  mutable capture::CaptureState state_;  // guarded by mu_
};

}  // namespace eddy::nats
