#pragma once

// JetStreamFeed: reads the changes an eddy published to a JetStream stream (the NATS sink, see
// docs/nats.md) through a durable pull consumer with explicit acknowledgement, and yields them
// one at a time as decoded eddy::Change values. Next(timeout) returns the next FeedItem, nullopt
// when nothing arrived within the timeout, or an error (kUnavailable: the server went away and
// the feed is reconnecting; kCorruption: a message that is not eddy's binary change body, which
// the feed terminates so it is not redelivered forever). Every item must be settled: Ack() once
// its effect is durable on the consumer's side (the server then never sends it again), or Nak()
// to have it redelivered after a delay. Items not settled within ack_wait are redelivered, so a
// consumer sees every change at least once and should skip positions it already applied
// (FeedItem::change.position is unique and ordered). The durable consumer lives on the server:
// reopening a feed with the same durable name resumes where the last one acknowledged. This
// header is free of libnats types; src/deliver (eddy::Consumer) is its main caller.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "eddy/change.h"
#include "eddy/position.h"
#include "eddy/result.h"

namespace eddy::nats {

struct FeedOptions {
  std::string url;                    // "nats://127.0.0.1:4222"; comma-separated for a cluster
  std::string stream = "EDDY";        // the stream the sink publishes to (must exist)
  std::string durable = "eddy-feed";  // the durable consumer's name (created if missing)
  std::string filter_subject;         // e.g. "eddy.public.songs.>"; empty: the whole stream
  int ack_wait_ms = 30000;            // unsettled items come back after this long
  int max_ack_pending = 1000;         // the server sends at most this many unsettled items
  int fetch_batch = 256;              // messages asked for per pull request
};

namespace internal {
struct FeedAck;  // the message's reply subject and the connection to answer on
}

// One change from the stream. Movable, not copyable. Ack()/Nak() may be called from any thread,
// at most once between them; dropping an item unsettled leaves it to be redelivered.
class FeedItem {
 public:
  FeedItem(FeedItem&&) noexcept;
  FeedItem& operator=(FeedItem&&) noexcept;
  ~FeedItem();

  Change change;                 // rebuilt exactly: table description, NULL vs unchanged TOAST
  uint32_t tx_change_count = 0;  // changes in the change's transaction (Eddy-Tx-Count)
  Lsn end_lsn;                   // the transaction's end LSN (Eddy-End-Lsn)
  uint64_t stream_sequence = 0;
  uint64_t delivery_count = 1;  // 2 and up: a redelivery

  // Tells the server the item is done. Waits for the server's confirmation (so a consumer may
  // store its own progress afterwards). kUnavailable if the connection is gone.
  Status Ack();
  // Asks for redelivery after `delay` (0: at once).
  Status Nak(std::chrono::milliseconds delay = std::chrono::milliseconds(0));

 private:
  friend class JetStreamFeed;
  FeedItem();
  std::unique_ptr<internal::FeedAck> ack_;
};

// Threading: Next() from one thread at a time; items may be settled from any thread. Close() may
// be called from any thread and makes a waiting Next() return kAborted.
class JetStreamFeed {
 public:
  // Connects and creates (or binds to) the durable consumer. kUnavailable when the server cannot
  // be reached, kNotFound when the stream does not exist, kInvalidArgument for bad options.
  static Result<std::unique_ptr<JetStreamFeed>> Open(const FeedOptions& options);
  ~JetStreamFeed();
  JetStreamFeed(const JetStreamFeed&) = delete;
  JetStreamFeed& operator=(const JetStreamFeed&) = delete;

  Result<std::optional<FeedItem>> Next(std::chrono::milliseconds timeout);
  void Close();

 private:
  struct Impl;
  explicit JetStreamFeed(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace eddy::nats
