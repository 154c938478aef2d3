#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "eddy/position.h"
#include "eddy/result.h"

typedef struct pg_conn PGconn;

namespace eddy::capture {

// One frame of the walsender's COPY BOTH stream.
struct StreamFrame {
  enum class Kind { kNone, kXLogData, kKeepalive };
  Kind kind = Kind::kNone;
  Lsn wal_start;  // XLogData: where the message starts (0/0 for some messages, see pitfall 11)
  Lsn wal_end;    // the server's current end of WAL
  bool reply_requested = false;  // keepalive asks for a status update now
  std::string_view payload;      // XLogData: one pgoutput message; valid until the next Next()
};

// What IDENTIFY_SYSTEM reports.
struct SystemIdentity {
  std::string system_id;
  uint32_t timeline = 0;
  Lsn wal_end;
};

// A logical replication connection (libpq, replication=database) that runs START_REPLICATION
// with pgoutput and reads its frames. Session settings make PostgreSQL print values in the forms
// eddy's encoders expect: ISO dates in UTC, ISO 8601 intervals, shortest exact floats.
// Thread: used by the capture thread only.
class ReplicationStream {
 public:
  // `conninfo` is a libpq connection string or URI.
  static Result<std::unique_ptr<ReplicationStream>> Connect(const std::string& conninfo);
  ~ReplicationStream();
  ReplicationStream(const ReplicationStream&) = delete;
  ReplicationStream& operator=(const ReplicationStream&) = delete;

  // IDENTIFY_SYSTEM: the cluster's identity, timeline and current WAL position.
  Result<SystemIdentity> IdentifySystem();
  // START_REPLICATION ... LOGICAL `start` with protocol 2 and streaming of large transactions.
  Status Start(const std::string& slot, const std::string& publication, Lsn start);
  // The next frame, waiting at most `timeout_ms` (kNone on timeout). An error means the stream
  // ended (server shutdown, slot dropped, network) and the caller reconnects.
  Result<StreamFrame> Next(int timeout_ms);
  // Standby status update: what eddy has received, and what is durable (flush = apply).
  Status SendStatus(Lsn received, Lsn durable, bool reply_requested);
  int socket() const;

 private:
  explicit ReplicationStream(PGconn* conn) : conn_(conn) {}
  Status ConnectionError(std::string_view what) const;

  PGconn* conn_;
  char* buffer_ = nullptr;  // owned by libpq, freed with PQfreemem
};

}  // namespace eddy::capture
