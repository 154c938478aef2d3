#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eddy/result.h"
#include "eddy/watcher.h"

namespace eddy::pg {
class Connection;
}

namespace eddy::outbox {

// A table eddy captures in trigger mode.
struct CapturedTable {
  uint32_t oid = 0;
  std::string schema;
  std::string name;
  std::string QualifiedName() const { return schema + "." + name; }
};

// One eddy trigger found in the database (a partition's inherited clone is not listed: it goes
// with its parent's).
struct InstalledTrigger {
  std::string name;
  std::string schema;  // of the table
  std::string table;
  uint32_t table_oid = 0;
  std::string function;  // capture_insert, ...
  bool stale = false;    // on a table eddy is not configured to capture
};

// Installs and inspects trigger mode's objects in the source database: the outbox, the doorbell,
// the trigger functions, and one trigger per captured table and operation.
// Thread: use from one thread at a time (it borrows a pg::Connection).
class TriggerInstaller {
 public:
  // `connection` must outlive this object. `tables`: "schema.table" or "table" (public); empty
  // means every ordinary and partitioned table outside system schemas and eddy's own (partitions
  // are covered by their parent's trigger).
  TriggerInstaller(pg::Connection& connection, TriggerOptions options,
                   std::vector<std::string> tables);

  // The tables to capture. kNotFound names a configured table that does not exist.
  Result<std::vector<CapturedTable>> ConfiguredTables();
  // Every eddy trigger in the database, each marked stale or not.
  Result<std::vector<InstalledTrigger>> ListTriggers();
  // Creates the outbox, doorbell and functions (idempotent) and any missing or outdated trigger
  // on the configured tables. Logs a warning per stale trigger. Returns the number of triggers
  // created or replaced.
  Result<int> Install();
  // Creates missing triggers only (for tables created since Install); cheap when none are.
  Result<int> InstallMissing();
  // Whether the outbox table exists (install = false needs it).
  Result<bool> OutboxExists();
  // Drops every stale trigger; returns how many.
  Result<int> DropStale();

 private:
  Result<int> CreateTriggers(bool warn_stale);

  pg::Connection& connection_;
  TriggerOptions options_;
  std::vector<std::string> tables_;
};

}  // namespace eddy::outbox
