#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/change.h"
#include "eddy/position.h"
#include "eddy/result.h"
#include "eddy/watcher.h"

namespace eddy {

// One column value of a row, typed by the column's TypeKind (docs/consumers.md is the table from
// PostgreSQL types to these accessors). A Field owns a copy of its text, so it may outlive the
// row it came from. The accessors never crash on odd input: a value that does not fit the asked
// type is kInvalidArgument naming the column, NULL is kNotFound ("is NULL"), an unchanged TOASTed
// value is kFailedPrecondition, and a column the row does not have is kNotFound.
class Field {
 public:
  Field() = default;  // a missing column
  Field(std::string name, TypeKind kind, TypeKind element_kind, Value value);
  // A column the row does not have (exists() false); the name is kept for error messages.
  static Field Missing(std::string name);

  bool exists() const { return exists_; }
  const std::string& name() const { return name_; }
  TypeKind kind() const { return kind_; }
  bool IsNull() const { return !exists_ || value_.kind == Value::Kind::kNull; }
  // An unchanged TOASTed value PostgreSQL did not send (updates): not NULL, just unknown.
  bool IsUnchanged() const { return exists_ && value_.kind == Value::Kind::kUnchanged; }
  // PostgreSQL's text output of the value ("" for NULL and unchanged).
  const std::string& text() const { return value_.text; }

  Result<bool> AsBool() const;            // bool
  Result<int64_t> AsInt64() const;        // int2, int4, int8 (and numerics that are whole and fit)
  Result<double> AsDouble() const;        // float4, float8, ints, numeric (rounded), NaN/Infinity
  Result<std::string> AsString() const;   // any non-NULL value: its text form (text, enum, ...)
  Result<std::string> AsNumeric() const;  // numeric, ints, money: the exact digits as text
  Result<std::string> AsJson() const;     // json, jsonb: the raw JSON text
  // date, timestamp, timestamptz: microseconds since the Unix epoch (timestamp without time zone
  // and date are read as UTC). "infinity", "-infinity" and BC values are kInvalidArgument.
  Result<int64_t> AsUnixMicros() const;
  // Arrays: the elements of a one-dimensional array, each a Field of the element type (a
  // multi-dimensional array gives Fields of kind kArray, one per sub-array).
  Result<std::vector<Field>> AsArray() const;
  // eddy's JSON form of the value (docs/types.md); "null" for NULL, "" when unchanged.
  std::string ToJson() const;

 private:
  Status Check(const char* want) const;

  bool exists_ = false;
  std::string name_;
  TypeKind kind_ = TypeKind::kText;
  TypeKind element_kind_ = TypeKind::kText;
  Value value_;
};

// The new or old row of a change, by column name. A Row points into the Change it was made
// from: it is valid during the handler call that received it (copy Fields to keep them).
class Row {
 public:
  Row() = default;
  Row(const Change* change, const std::vector<Value>* values) : change_(change), values_(values) {}

  // The column called `column`; a missing Field (exists() false) if the table has none or the
  // row does not carry it (old rows with REPLICA IDENTITY DEFAULT carry only the key).
  Field operator[](std::string_view column) const;
  Field At(size_t index) const;
  size_t size() const;
  bool empty() const { return size() == 0; }
  // The change this row belongs to: table, op, position, commit time.
  const Change& change() const { return *change_; }
  const Table& table() const { return *change_->table; }

 private:
  const Change* change_ = nullptr;
  const std::vector<Value>* values_ = nullptr;
};

// DawdleDB-style handlers. Each returns Status::Ok() to acknowledge the change; any other Status
// is a failure: the change is retried with backoff and, after ConsumerOptions::max_attempts,
// parked. A missing handler acknowledges its changes. Handlers of one key run one at a time in
// commit order; handlers of different keys may run concurrently on different lanes (threads).
struct ConsumerHandlers {
  std::function<Status(const Row& new_row)> on_insert;
  std::function<Status(const Row& new_row, const Row& old_row)> on_update;
  std::function<Status(const Row& old_row)> on_delete;
  std::function<Status(const Change& change)> on_truncate;
  // When set, called for every change instead of the handlers above (eddy consume uses it).
  std::function<Status(const Change& change)> on_change;
};

struct ConsumerOptions {
  std::string name;  // letters, digits, '_' and '-', at most 64: <data_dir>/consumers/<name>
  // Where the cursor and the parked changes live: the Watcher's data_dir.
  std::string data_dir = ".eddy";
  std::vector<std::string> tables;  // "songs" or "media.songs"; empty: every table
  std::vector<Op> ops;              // empty: insert, update, delete and truncate
  int lanes = 4;                    // threads; changes go to lanes by hash of (table, key)
  int max_attempts = 5;             // tries before a change is parked (>= 1)
  int backoff_min_ms = 100;         // first retry delay; doubles per try
  int backoff_max_ms = 10000;       // cap of the retry delay
  int max_in_flight = 10000;        // changes read but not yet finished (backpressure)
  // A consumer without a stored cursor starts after the log's durable position (false) or at
  // the start of the retained log (true).
  bool from_start = false;
};

// A change that failed max_attempts times (or sits behind one of its key that did).
struct ParkedChange {
  uint64_t id = 0;  // increasing in the order changes were parked
  Change change;
  std::string error;  // the last failure; "behind parked change #N" for followers
  int attempts = 0;
};

struct ConsumerStats {
  uint64_t acknowledged = 0;  // changes handlers acknowledged (including replays)
  uint64_t failures = 0;      // failed handler calls
  uint64_t parked = 0;        // changes parked now
  uint64_t in_flight = 0;     // read, not yet acknowledged or parked
  Position cursor;            // everything at or before it is finished (stored within 50 ms)
};

// A durable consumer of one Watcher's changes: at least once, in commit order per key, with
// retries, parking and replay (docs/consumers.md). Its cursor and parked changes live under
// <data_dir>/consumers/<name>/, so a restarted consumer resumes where it stopped.
// Thread-safe.
class Consumer {
 public:
  // Attaches to `watcher`, which must outlive the Consumer, and starts delivering.
  static Result<std::unique_ptr<Consumer>> Open(Watcher& watcher, const ConsumerOptions& options,
                                                ConsumerHandlers handlers);
  virtual ~Consumer() = default;

  // Stops reading; a handler that is running finishes, changes not yet finished are delivered
  // again by the next Open. Idempotent.
  virtual void Stop() = 0;
  // Parked changes, oldest first.
  virtual Result<std::vector<ParkedChange>> ListParked() = 0;
  // Runs the handler again for the parked changes of `id`'s key, oldest first, through `id`;
  // each success removes the change, and the key's later changes flow again once it has none
  // parked. Stops at the first failure (kept parked, error and attempts updated).
  virtual Status Replay(uint64_t id) = 0;
  virtual Status ReplayAll() = 0;
  // Drops one parked change without handling it.
  virtual Status Discard(uint64_t id) = 0;
  virtual ConsumerStats Stats() const = 0;
  // Ok while running; the reason when the feed ended (e.g. the cursor fell out of retention).
  virtual Status Health() const = 0;
};

}  // namespace eddy
