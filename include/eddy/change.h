#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "eddy/position.h"

namespace eddy {

// How eddy renders a column's values, resolved once per column from its PostgreSQL type.
// docs/types.md is the table from PostgreSQL types to these kinds and to JSON.
enum class TypeKind : uint8_t {
  kText = 0,  // text, varchar, bpchar, name, citext, xml, inet, ... and anything unknown
  kBool = 1,
  kInt16 = 2,
  kInt32 = 3,
  kInt64 = 4,  // int8 (and oid-like 64-bit); JSON string past +-2^53 (see docs/types.md)
  kFloat32 = 5,
  kFloat64 = 6,
  kNumeric = 7,  // exact: always a JSON string
  kJson = 8,     // json, jsonb: embedded as JSON
  kBytea = 9,    // "\x..." hex string
  kUuid = 10,
  kDate = 11,
  kTime = 12,
  kTimeTz = 13,
  kTimestamp = 14,
  kTimestampTz = 15,
  kInterval = 16,  // ISO 8601 duration
  kEnum = 17,      // JSON string
  kArray = 18,     // JSON array of element_kind values
  kMoney = 19,     // JSON string, as PostgreSQL prints it
};

// One column of a table as the replication stream describes it.
struct Column {
  std::string name;
  uint32_t type_oid = 0;
  int32_t type_modifier = -1;
  std::string type_name;  // "int4", "_text", or a user type's name such as "mood"
  TypeKind kind = TypeKind::kText;
  TypeKind element_kind = TypeKind::kText;  // when kind == kArray
  bool is_key = false;  // part of the replica identity (the primary key by default)

  bool operator==(const Column&) const = default;
};

// An immutable description of a table at one schema version. Shared by every change that was
// written under it; a Relation message with different columns makes a new Table with
// schema_version + 1.
struct Table {
  RelationId relation_id;
  std::string schema;
  std::string name;
  char replica_identity = 'd';  // 'd' default (primary key), 'n' nothing, 'f' full, 'i' index
  uint32_t schema_version = 1;
  std::vector<Column> columns;

  std::string QualifiedName() const { return schema + "." + name; }
  bool HasKey() const {
    for (const Column& c : columns) {
      if (c.is_key) return true;
    }
    return false;
  }
};

// One column value as PostgreSQL sent it. The text is PostgreSQL's output form for the column's
// type; the encoders in src/change render it by the column's TypeKind.
struct Value {
  enum class Kind : uint8_t {
    kNull = 0,
    kUnchanged = 1,  // an unchanged TOASTed value that PostgreSQL did not send: not NULL
    kText = 2,
  };
  Kind kind = Kind::kNull;
  std::string text;

  static Value Null() { return {}; }
  static Value Unchanged() { return {Kind::kUnchanged, {}}; }
  static Value Text(std::string t) { return {Kind::kText, std::move(t)}; }
  bool operator==(const Value&) const = default;
};

enum class Op : uint8_t {
  kInsert = 'I',
  kUpdate = 'U',
  kDelete = 'D',
  kTruncate = 'T',
};

const char* OpName(Op op);  // "insert", "update", "delete", "truncate"

// What the old row holds, as the table's replica identity allows.
enum class OldRow : uint8_t {
  kNone = 0,  // not sent (insert; update that did not change the key under DEFAULT)
  kKey = 1,   // key columns only; other positions are NULL
  kFull = 2,  // the whole old row (REPLICA IDENTITY FULL)
};

// One row change of a committed transaction.
struct Change {
  Position position;
  Xid xid;
  int64_t commit_time_us = 0;  // microseconds since the Unix epoch
  Op op = Op::kInsert;
  std::shared_ptr<const Table> table;
  std::vector<Value> new_row;  // insert, update: one value per table->columns
  std::vector<Value> old_row;  // update, delete: per old_kind; empty when kNone
  OldRow old_kind = OldRow::kNone;
  uint8_t truncate_flags = 0;  // truncate: 1 = CASCADE, 2 = RESTART IDENTITY

  // The values of the key columns: from old_row for deletes, from new_row otherwise (an update
  // that changes the key is keyed by its new key; old_row holds the old one). For a table without a
  // key: every column of the row.
  std::vector<const Value*> KeyValues() const;
};

// The end of a committed transaction in the log.
struct Commit {
  Xid xid;
  Lsn commit_lsn;
  Lsn end_lsn;  // what eddy confirms to PostgreSQL once durable
  int64_t commit_time_us = 0;
  uint32_t change_count = 0;
};

}  // namespace eddy
