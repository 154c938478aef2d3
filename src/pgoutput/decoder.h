#pragma once

#include <string_view>

#include "eddy/position.h"
#include "eddy/result.h"

#include "pgoutput/messages.h"

namespace eddy::pgoutput {

// Decodes pgoutput messages (protocol versions 1 and 2 of PostgreSQL 15, including streamed
// in-progress transactions), one message per call: the payload of one XLogData ('w') message of
// the replication stream, or one row of pg_logical_slot_get_binary_changes(). No I/O.
//
// Input is untrusted: every malformed message (truncated, trailing bytes, unknown type or tuple
// kind, negative or oversized counts, a message not allowed in the current stream state) yields
// a kCorruption Status whose message names the message type and the problem, for example
// "pgoutput Insert: tuple column 3 has unknown kind 'x'". Decode never reads outside `bytes` and
// never allocates more than a small multiple of bytes.size().
//
// The only state is whether a stream block is open: between StreamStart and StreamStop the
// change messages (Relation, Type, Insert, Update, Delete, Truncate, Message) carry an extra
// xid. A failed Decode leaves the state as it was.
//
// Not thread-safe; use one Decoder per replication connection.
class Decoder {
 public:
  Decoder() = default;

  Result<Message> Decode(std::string_view bytes);

  // True between a StreamStart and its StreamStop.
  bool in_stream() const { return in_stream_; }

  // Forgets any open stream block. Call when the replication connection is re-established:
  // PostgreSQL restarts the stream from a transaction boundary.
  void Reset() { in_stream_ = false; }

 private:
  bool in_stream_ = false;
  Xid stream_xid_;  // of the open stream block, for error messages
};

}  // namespace eddy::pgoutput
