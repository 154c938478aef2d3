#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "eddy/change.h"
#include "eddy/result.h"
#include "eddy/watcher.h"

#include "common/metrics.h"
#include "log/change_log.h"
#include "log/cursor_file.h"
#include "nats/jetstream_connection.h"
#include "nats/message_codec.h"

namespace eddy::nats {

// Publishes every durable change of the log to JetStream (docs/nats.md). A follower of the log:
// it reads from its cursor (a CursorFile, normally <data_dir>/sinks/nats.cursor) and publishes
// each change asynchronously with Nats-Msg-Id = its position, without waiting: up to
// kMaxInFlight messages may await their PubAck at once (a pipeline, so the round trip to the
// stream leader is not paid per batch). PubAcks may arrive in any order; the sink keeps what is
// in flight in log order and moves its cursor (and its confirm gate, when the sink is required)
// only to a commit whose every change, and every change before it, was acknowledged. A negative
// PubAck, one missing for kAckTimeoutMs, or a lost connection makes it publish again from the
// cursor; JetStream's dedup window drops what it already stored.
//
// Every message carries its transaction's size and end LSN, so a transaction is buffered (up to
// kMaxBufferedChanges; a bigger one is scanned ahead once with a second reader) before it is
// published.
//
// Threading: one publishing thread started by Start(); Stop() and GetState() from any thread.
// The ack handler runs on a libnats thread: it marks the acknowledged change and moves the
// cursor and gate under mu_ (the gate's callback runs outside mu_).
class JetStreamSink {
 public:
  static constexpr size_t kMaxInFlight = 8192;         // messages awaiting their PubAck
  static constexpr size_t kMaxBufferedChanges = 4096;  // of one transaction, before scanning ahead
  static constexpr int64_t kAckTimeoutMs = 10'000;     // a PubAck later than this is a failure

  struct Options {
    NatsOptions nats;
    std::string cursor_path;
    // Required sinks: the acknowledged Commit::end_lsn is stored here, then on_gate_moved runs.
    std::shared_ptr<std::atomic<uint64_t>> gate;
    std::function<void()> on_gate_moved;
    // eddy_nats_* series (docs/nats.md) are registered here when set; must outlive the sink's
    // last scrape (the owner unregisters nothing: keep the registry's lifetime within the sink's).
    MetricsRegistry* metrics = nullptr;
  };

  struct State {
    bool connected = false;
    bool failed = false;  // stopped on an error retrying cannot fix (last_error says which)
    log::Cursor acknowledged;
    uint64_t published = 0;   // messages acknowledged as new
    uint64_t duplicates = 0;  // acknowledged as duplicates (republished after a restart)
    uint64_t retries = 0;     // failures that restarted publishing from the cursor
    uint64_t in_flight = 0;   // published, PubAck outstanding
    std::string last_error;
  };

  JetStreamSink(Options options, log::ChangeLog& log);
  ~JetStreamSink();  // Stop()
  JetStreamSink(const JetStreamSink&) = delete;
  JetStreamSink& operator=(const JetStreamSink&) = delete;

  // Checks the options (kInvalidArgument naming the field), loads the cursor and starts the thread.
  Status Start();
  // Stops publishing, waits (up to kAckTimeoutMs) for the PubAcks in flight and stores the cursor.
  void Stop();
  State GetState() const;

 private:
  // One published change, or the commit that follows a transaction's changes, in log order.
  struct InFlight {
    Position position;  // the change's; a commit's is {commit_lsn, change_count}
    bool acked = false;
    bool is_commit = false;
    Lsn end_lsn;             // commits
    int64_t sent_at_us = 0;  // changes: steady time of the publish
  };

  static void OnPubAck(jsCtx* js, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* closure);
  void HandlePubAck(natsMsg* msg, jsPubAck* ack, jsPubAckErr* error);
  void Run();
  // One connection's life: publishes until Stop() (Ok) or an error.
  Status RunConnected();
  Status Publish(JetStreamConnection& c, const Change& change, const Commit& commit);
  // Queues the commit after its transaction's changes (moves the cursor at once when they are
  // all acknowledged already).
  void PublishedCommit(const Commit& commit);
  // Waits while kMaxInFlight messages are in flight; an error once a publish failed or timed out.
  Status WaitForWindow();
  Status CheckAcks();
  // REQUIRES mu_. Drops the acknowledged head of in_flight_; the newest commit passed, if any.
  std::optional<log::Cursor> PopAcknowledgedLocked();
  // Outside mu_: stores the gate (never backwards) and tells the engine.
  void MoveGate(const log::Cursor& acknowledged);
  // Reads ahead with a second reader to the commit of the transaction holding `after`.
  Result<Commit> ScanForCommit(const Position& after);
  void StoreCursor(bool force);
  void SetError(const Status& s, bool fatal);
  void RegisterMetrics(MetricsRegistry& metrics);

  const Options options_;
  log::ChangeLog& log_;
  log::CursorFile cursor_file_;
  BodyFormat format_ = BodyFormat::kBinary;
  int64_t max_payload_ = 0;  // publishing thread

  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;

  // Publishing thread only.
  log::Cursor stored_;                // what the cursor file holds
  int64_t stored_at_us_ = 0;          // steady time of the last store
  std::vector<Change> txn_;           // buffered changes of the transaction being read
  std::optional<Commit> txn_commit_;  // known ahead for a big transaction
  std::string body_;

  std::atomic<int> handlers_running_{0};  // OnPubAck calls under way

  mutable std::mutex mu_;
  std::condition_variable window_cv_;  // in_flight_ shrank or a publish failed
  State state_;                        // guarded by mu_
  log::Cursor acked_;                  // guarded by mu_: the newest acknowledged transaction
  std::deque<InFlight> in_flight_;     // guarded by mu_: in log order
  size_t in_flight_messages_ = 0;      // guarded by mu_: changes in in_flight_ not yet acked
  bool accepting_acks_ = false;        // guarded by mu_: PubAcks of the current connection count
  bool ack_failed_ = false;            // guarded by mu_: a negative PubAck since connecting
};

}  // namespace eddy::nats
