#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "eddy/change.h"
#include "eddy/result.h"
#include "eddy/watcher.h"

#include "log/change_log.h"
#include "log/cursor_file.h"
#include "nats/jetstream_connection.h"
#include "nats/message_codec.h"

namespace eddy::nats {

// Publishes every durable change of the log to JetStream (docs/nats.md). A follower of the log:
// it reads from its cursor (a CursorFile, normally <data_dir>/sinks/nats.cursor), publishes each
// change asynchronously with Nats-Msg-Id = its position, waits for the PubAcks of a batch, and
// only then moves its cursor (and its confirm gate, when the sink is required) to the last whole
// transaction in the batch. After a crash or a failed batch it publishes again from the cursor;
// JetStream's dedup window drops what it already stored.
//
// Every message carries its transaction's size and end LSN, so a transaction is buffered (up to
// kMaxBufferedChanges; a bigger one is scanned ahead once with a second reader) before it is
// published.
//
// Threading: one publishing thread started by Start(); Stop() and State() from any thread. The
// ack handler runs on a libnats thread and only counts outcomes (atomics + mutex_).
class JetStreamSink {
 public:
  static constexpr size_t kBatchMessages = 1024;       // PubAcks awaited together
  static constexpr size_t kMaxBufferedChanges = 4096;  // of one transaction, before scanning ahead

  struct Options {
    NatsOptions nats;
    std::string cursor_path;
    // Required sinks: the acknowledged Commit::end_lsn is stored here, then on_gate_moved runs.
    std::shared_ptr<std::atomic<uint64_t>> gate;
    std::function<void()> on_gate_moved;
  };

  struct State {
    bool connected = false;
    bool failed = false;  // stopped on an error retrying cannot fix (last_error says which)
    log::Cursor acknowledged;
    uint64_t published = 0;   // messages acknowledged as new
    uint64_t duplicates = 0;  // acknowledged as duplicates (republished after a restart)
    uint64_t retries = 0;
    std::string last_error;
  };

  JetStreamSink(Options options, log::ChangeLog& log);
  ~JetStreamSink();  // Stop()
  JetStreamSink(const JetStreamSink&) = delete;
  JetStreamSink& operator=(const JetStreamSink&) = delete;

  // Checks the options (kInvalidArgument naming the field), loads the cursor and starts the thread.
  Status Start();
  // Stops publishing, waits for the batch in flight and stores the cursor.
  void Stop();
  State GetState() const;

 private:
  static void OnPubAck(jsCtx* js, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* closure);
  void Run();
  // One connection's life: publishes until Stop() (Ok) or an error.
  Status RunConnected();
  Status Publish(JetStreamConnection& c, const Change& change, const Commit& commit);
  // Waits for every PubAck of the batch; Ok only if all were positive.
  Status CompleteBatch(JetStreamConnection& c);
  // Reads ahead with a second reader to the commit of the transaction holding `after`.
  Result<Commit> ScanForCommit(const Position& after);
  void Acknowledged(const Commit& commit);
  void StoreCursor(bool force);
  void SetError(const Status& s, bool fatal);

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
  log::Cursor acked_;                 // in memory: the newest acknowledged transaction
  log::Cursor stored_;                // what the cursor file holds
  int64_t stored_at_us_ = 0;          // steady time of the last store
  std::vector<Change> txn_;           // buffered changes of the transaction being read
  std::optional<Commit> txn_commit_;  // known ahead for a big transaction
  size_t batch_sent_ = 0;
  std::optional<Commit> batch_last_commit_;
  std::string body_;

  // Counted by OnPubAck for the batch in flight.
  std::atomic<uint64_t> batch_ok_{0};
  std::atomic<uint64_t> batch_dup_{0};
  std::atomic<uint64_t> batch_failed_{0};

  mutable std::mutex mu_;
  State state_;  // guarded by mu_
};

}  // namespace eddy::nats
