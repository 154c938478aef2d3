#pragma once

#include <string>
#include <vector>

#include "eddy/result.h"
#include "eddy/watcher.h"

#include "pg/connection.h"

namespace eddy::schema {

// Which tables the schema hash covers: the synced ones.
struct SchemaHashOptions {
  std::string capture_mode = "logical";  // "logical", "triggers" or "nats"
  // logical mode: every table in this publication (its column list, if it has one). When the
  // publication does not exist yet: `tables`, or every user table (what eddy will create).
  std::string publication = "eddy";
  // Configured tables ("schema.table" or "table" for public). Trigger mode: these, or every user
  // table when empty. Tables that do not exist are left out.
  std::vector<std::string> tables;
  // Trigger mode: the outbox schema, never synced itself.
  std::string triggers_schema = "eddy";
  // eddy's migration history table, left out of the hash: it is bookkeeping, not the app's data.
  std::string history_table = "eddy.schema_migrations";

  // The options that match how `watcher` captures.
  static SchemaHashOptions ForWatcher(const WatcherOptions& watcher,
                                      const std::string& history_schema = "eddy");
};

struct SyncedColumn {
  std::string name;
  std::string type;  // format_type(atttypid, atttypmod): "bigint", "character varying(40)"
  bool not_null = false;
};

struct SyncedTable {
  std::string schema;
  std::string name;
  std::vector<SyncedColumn> columns;     // in attnum order
  std::vector<std::string> primary_key;  // in key order; empty without a primary key
};

// The synced tables' definitions and their digest.
struct SchemaDigest {
  std::string hash;                 // 16 lower-case hex digits
  std::vector<SyncedTable> tables;  // sorted by "schema.table" (bytewise)

  // {"hash":"...","tables":[{"schema":..,"name":..,"columns":[{"name":..,"type":..,
  // "not_null":..}],"primary_key":[..]}]}
  std::string Json() const;
};

// The first 16 hex digits of the SHA-256 of a canonical text of `tables` (sorted first): each
// table's qualified name, its columns in order (name, type, not null) and its primary key. Data
// never enters it; any column added, dropped, renamed, retyped or made (not) null changes it.
std::string HashTables(std::vector<SyncedTable> tables);

// Reads the synced tables' definitions from the catalog (two queries) and hashes them.
Result<SchemaDigest> ComputeSchemaDigest(pg::Connection& connection,
                                         const SchemaHashOptions& options);

}  // namespace eddy::schema
