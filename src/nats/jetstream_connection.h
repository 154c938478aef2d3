#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nats/nats.h>

#include "eddy/result.h"
#include "eddy/watcher.h"

namespace eddy::nats {

// Status from a libnats call: the library's last error text for the calling thread, prefixed by
// `what` (the step). Connection trouble maps to kUnavailable, a missing stream or consumer to
// kNotFound, anything else to kInternal.
Status NatsError(const std::string& what, natsStatus status, jsErrCode js_error = jsErrCode(0));

// One connection to a NATS server (or cluster: a comma-separated url lists seed servers) with a
// JetStream context. The client reconnects on its own, without limit; calls made while it is
// disconnected fail with kUnavailable. Owns its libnats objects; destroyed in reverse order.
// Thread-safe as libnats is (publish, fetch and ack may come from different threads).
class JetStreamConnection {
 public:
  struct Options {
    std::string url;
    std::string name = "eddy";   // shown by the server (connz)
    int64_t max_pending = 4096;  // asynchronous publishes in flight
    // Called for every asynchronous publish's outcome (see js_PublishMsgAsync); may be null.
    jsPubAckHandler ack_handler = nullptr;
    void* ack_handler_closure = nullptr;
  };

  // kInvalidArgument for an empty url, kUnavailable if no server answers within 2 s.
  static Result<std::unique_ptr<JetStreamConnection>> Connect(const Options& options);
  ~JetStreamConnection();
  JetStreamConnection(const JetStreamConnection&) = delete;
  JetStreamConnection& operator=(const JetStreamConnection&) = delete;

  // Creates the stream `options.stream` over "<subject_prefix>.>" (file storage, `replicas`,
  // a `duplicate_window_s` dedup window) or, if it exists, checks that it covers the prefix and
  // brings its dedup window to the configured one.
  Status EnsureStream(const NatsOptions& options);
  // kNotFound if the stream does not exist.
  Status CheckStreamExists(const std::string& stream);
  // The largest message (headers + body) the server accepts.
  int64_t MaxPayload() const;
  bool IsConnected() const;

  natsConnection* connection() const { return nc_; }
  jsCtx* jetstream() const { return js_; }

 private:
  JetStreamConnection() = default;
  natsOptions* opts_ = nullptr;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

}  // namespace eddy::nats
