#pragma once

// The log of one shape on disk: pre-rendered JSON messages in offset order, cut into chunks of
// about `chunk_bytes`, served by offset. A chunk boundary, once cut, never moves, so every reader
// of the same range gets the same bytes (responses can be cached by URL).

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "eddy/result.h"

#include "shape/offset.h"

namespace eddy::shape {

struct ShapeLogOptions {
  std::string path;                    // the log file; created when missing
  uint64_t chunk_bytes = 10ull << 20;  // a chunk is closed once its messages reach this size
  // Recovery: the file is cut to this many bytes when opened (what the shape's metadata recorded
  // as complete); UINT64_MAX keeps every complete record.
  uint64_t valid_bytes = UINT64_MAX;
};

// One message: its offset and its JSON text (one object, no trailing comma).
struct LogMessage {
  Offset offset;
  std::string json;
};

struct ReadResult {
  std::string items;  // the messages' JSON joined by ',' (no brackets); empty when none
  size_t count = 0;
  Offset end;            // offset of the last message served; `after` when none
  bool at_head = false;  // nothing in the log after `end`
};

// Thread-safety: one appender and any number of concurrent readers.
class ShapeLog {
 public:
  static Result<std::unique_ptr<ShapeLog>> Open(const ShapeLogOptions& options);
  virtual ~ShapeLog() = default;

  // Appends messages whose offsets strictly increase past last_offset() (kInvalidArgument
  // otherwise). A chunk is cut after the message that makes it reach chunk_bytes.
  virtual Status Append(std::span<const LogMessage> messages) = 0;
  // The messages after `after` (Offset::BeforeAll() for all) up to the end of the chunk holding
  // the first of them. `after` need not be the offset of a message.
  virtual Result<ReadResult> Read(Offset after) const = 0;
  // Offset::BeforeAll() when empty.
  virtual Offset last_offset() const = 0;
  // Bytes of complete records in the file (what a shape's metadata records for recovery).
  virtual uint64_t size_bytes() const = 0;
  virtual uint64_t message_count() const = 0;
  virtual Status Sync() = 0;  // fdatasync
  // Closes the file and frees buffers (an idle shape); the next call reopens it.
  virtual void Release() = 0;
  // Removes the file (the shape was deleted); the object must not be used afterwards.
  virtual Status Remove() = 0;
};

}  // namespace eddy::shape
