#pragma once

#include <cstdint>

#include "eddy/change.h"
#include "eddy/result.h"

#include "capture/change_sink.h"
#include "capture/relation_cache.h"
#include "capture/stream_spool.h"
#include "pgoutput/messages.h"

namespace eddy::capture {

// Counters the capture exposes (read by status and metrics).
struct AssemblerStats {
  uint64_t transactions = 0;
  uint64_t changes = 0;
  uint64_t streamed_transactions = 0;
  uint64_t aborted_streams = 0;
  uint64_t skipped_transactions = 0;  // already in the log (a replay after reconnect)
  uint64_t logical_messages = 0;
};

// Turns decoded pgoutput messages into committed transactions of Changes with positions
// (commit_lsn, index), and hands them to a ChangeSink in commit order. Non-streamed transactions
// go straight to the sink (their commit LSN is known from Begin); streamed ones wait in the
// StreamSpool until Stream Commit. Transactions whose commit LSN is at or before
// `skip_through` are already in the log and are dropped.
// Thread: owned by the capture thread.
class ChangeAssembler {
 public:
  ChangeAssembler(RelationCache& relations, ChangeSink& sink, StreamSpool& spool,
                  TypeResolver& types, Lsn skip_through);

  // Consumes one message. Errors are kCorruption (the stream broke a protocol rule) or the
  // sink's own errors; either way the caller reconnects.
  Status Handle(const pgoutput::Message& message);
  // The connection was lost: drops the open transaction and all spools.
  Status Reset();

  bool InTransaction() const { return in_transaction_; }
  // Commit end LSN of the last transaction handed to the sink (or skipped as known).
  Lsn last_commit_end() const { return last_commit_end_; }
  const AssemblerStats& stats() const { return stats_; }

 private:
  Status OnBegin(const pgoutput::Begin& m);
  Status OnCommit(const pgoutput::Commit& m);
  Status OnRow(std::optional<Xid> xid, Change change);
  Status OnTruncate(const pgoutput::Truncate& m);
  Status OnStreamCommit(const pgoutput::StreamCommit& m);
  Result<std::shared_ptr<const Table>> TableFor(RelationId id, size_t width, const char* what);

  RelationCache& relations_;
  ChangeSink& sink_;
  StreamSpool& spool_;
  TypeResolver& types_;
  Lsn skip_through_;

  bool in_transaction_ = false;
  bool skipping_ = false;
  Lsn commit_lsn_;
  Xid xid_;
  int64_t commit_time_us_ = 0;
  uint32_t next_index_ = 0;
  std::optional<Xid> stream_xid_;
  Lsn last_commit_end_;
  AssemblerStats stats_;
};

}  // namespace eddy::capture
