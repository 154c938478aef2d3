#pragma once

// The messages of PostgreSQL's logical replication protocol ("pgoutput", protocol versions 1 and
// 2, PostgreSQL 15), as plain values. The wire format is the PostgreSQL documentation's
// "Logical Replication Message Formats"; Decoder (decoder.h) turns bytes into these.
//
// Conventions for every struct:
// - Times are microseconds since the Unix epoch (the wire sends microseconds since 2000-01-01).
// - `xid` is set only for changes sent inside a stream of an in-progress transaction (between
//   StreamStart and StreamStop). It is the xid of the (sub)transaction that made the change,
//   which is not always the xid of the StreamStart: see README.md.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "eddy/change.h"
#include "eddy/position.h"

namespace eddy::pgoutput {

// 'B': a (non-streamed) transaction begins. Its changes follow, then Commit.
struct Begin {
  Lsn final_lsn;  // the LSN of the commit record
  int64_t commit_time_us = 0;
  Xid xid;

  bool operator==(const Begin&) const = default;
};

// 'C': the transaction opened by the last Begin committed.
struct Commit {
  uint8_t flags = 0;  // unused by PostgreSQL 15 (always 0); kept as sent
  Lsn commit_lsn;
  Lsn end_lsn;  // the LSN just past the commit record: what a consumer confirms
  int64_t commit_time_us = 0;

  bool operator==(const Commit&) const = default;
};

// 'O': the current transaction was replayed from another node (replication origin). Sent after
// Begin, or after the first StreamStart of a streamed transaction.
struct Origin {
  Lsn commit_lsn;  // the commit LSN on the origin node
  std::string name;

  bool operator==(const Origin&) const = default;
};

struct RelationColumn {
  uint8_t flags = 0;  // bit 1: the column is part of the replica identity (key)
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;

  bool IsKey() const { return (flags & 1) != 0; }
  bool operator==(const RelationColumn&) const = default;
};

// 'R': the schema of a table. Sent before the first change of a table in a session and again
// whenever the table's definition may have changed (for example after ALTER TABLE).
struct Relation {
  std::optional<Xid> xid;
  RelationId id;
  std::string schema;
  std::string name;
  char replica_identity = 'd';  // 'd' default, 'n' nothing, 'f' full, 'i' index
  std::vector<RelationColumn> columns;

  bool operator==(const Relation&) const = default;
};

// 'Y': a non-built-in type (enum, domain, ...) used by a column, sent before the Relation.
struct Type {
  std::optional<Xid> xid;
  uint32_t oid = 0;
  std::string schema;
  std::string name;

  bool operator==(const Type&) const = default;
};

// Tuples: one eddy::Value per column of the Relation. Text ('t') and binary ('b') columns both
// become Value::Text holding the bytes as sent; 'u' (an unchanged TOASTed value PostgreSQL did not
// send) is Value::Unchanged, never NULL.

// 'I'
struct Insert {
  std::optional<Xid> xid;
  RelationId relation;
  std::vector<Value> new_tuple;

  bool operator==(const Insert&) const = default;
};

// 'U'. old_kind is '\0' when no old tuple was sent (the key did not change under the default
// identity), 'K' when old_tuple holds the old key (other columns NULL), 'O' for the full old row
// (REPLICA IDENTITY FULL).
struct Update {
  std::optional<Xid> xid;
  RelationId relation;
  char old_kind = '\0';
  std::vector<Value> old_tuple;
  std::vector<Value> new_tuple;

  bool operator==(const Update&) const = default;
};

// 'D'. old_kind is 'K' (key columns, others NULL) or 'O' (full old row).
struct Delete {
  std::optional<Xid> xid;
  RelationId relation;
  char old_kind = 'K';
  std::vector<Value> old_tuple;

  bool operator==(const Delete&) const = default;
};

// 'T'
struct Truncate {
  static constexpr uint8_t kCascade = 1;
  static constexpr uint8_t kRestartIdentity = 2;

  std::optional<Xid> xid;
  uint8_t options = 0;  // kCascade | kRestartIdentity
  std::vector<RelationId> relations;

  bool operator==(const Truncate&) const = default;
};

// 'M': pg_logical_emit_message(). Only sent when the "messages" option is on. A
// non-transactional message arrives on its own, outside Begin/Commit.
struct LogicalMessage {
  std::optional<Xid> xid;
  bool transactional = false;
  Lsn lsn;
  std::string prefix;
  std::string content;  // arbitrary bytes

  bool operator==(const LogicalMessage&) const = default;
};

// 'S' (protocol 2): the following changes, up to StreamStop, belong to in-progress transaction
// `xid` and carry their own xid.
struct StreamStart {
  Xid xid;
  bool first_segment = false;  // the first block streamed for this transaction

  bool operator==(const StreamStart&) const = default;
};

// 'E' (protocol 2): the end of one streamed block.
struct StreamStop {
  bool operator==(const StreamStop&) const = default;
};

// 'c' (protocol 2): streamed transaction `xid` committed. Sent outside any stream block.
struct StreamCommit {
  Xid xid;
  uint8_t flags = 0;  // unused by PostgreSQL 15 (always 0)
  Lsn commit_lsn;
  Lsn end_lsn;
  int64_t commit_time_us = 0;

  bool operator==(const StreamCommit&) const = default;
};

// 'A' (protocol 2): a streamed (sub)transaction aborted; discard its streamed changes. When
// subxid == xid the whole transaction aborted, otherwise only the changes of subtransaction
// `subxid` (ROLLBACK TO SAVEPOINT). Sent outside any stream block.
struct StreamAbort {
  Xid xid;
  Xid subxid;

  bool operator==(const StreamAbort&) const = default;
};

using Message =
    std::variant<Begin, Commit, Origin, Relation, Type, Insert, Update, Delete, Truncate,
                 LogicalMessage, StreamStart, StreamStop, StreamCommit, StreamAbort>;

// The message's name as used in error texts and Describe(): "Begin", "Insert", "StreamAbort", ...
const char* MessageName(const Message& message);

// A deterministic one-line text form of `message`, for golden tests and debugging, e.g.
//   Insert xid=- rel=16384 new=[t:"1", n, u]
// Strings are double-quoted with C-style escapes: bytes outside printable ASCII are \xHH, so the
// output is always one line of ASCII. The format is stable: golden files depend on it.
std::string Describe(const Message& message);

}  // namespace eddy::pgoutput
