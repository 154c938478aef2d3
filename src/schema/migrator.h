#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "eddy/result.h"

#include "pg/connection.h"
#include "schema/migration_file.h"

namespace eddy::schema {

struct MigratorOptions {
  // Schema of the history table `<history_schema>.schema_migrations` (created if missing).
  std::string history_schema = "eddy";
  // How long Apply waits for another `eddy migrate` holding the migration lock.
  std::chrono::seconds lock_wait{300};
};

// Where one migration stands, comparing the directory with the history table.
enum class MigrationState {
  kApplied,      // in the history with the file's checksum
  kPending,      // a file not in the history yet
  kChanged,      // in the history, but the file's checksum differs: an error
  kMissingFile,  // in the history, no file with that version: a warning
};
const char* MigrationStateName(MigrationState state);

struct MigrationEntry {
  int64_t version = 0;
  std::string name;
  MigrationState state = MigrationState::kPending;
  std::string file_name;         // empty for kMissingFile
  std::string file_checksum;     // empty for kMissingFile
  std::string applied_checksum;  // empty for kPending
  std::string applied_at;        // PostgreSQL's text form; empty for kPending
  bool out_of_order = false;     // kPending and older than the newest applied version
};

// The directory and the history side by side, in version order.
struct MigrationStatus {
  std::string history_table;  // "eddy.schema_migrations"
  bool history_exists = false;
  std::vector<MigrationEntry> entries;

  int Count(MigrationState state) const;
  // The first kChanged entry's error (names the file and says what to do), or Ok.
  Status ChangedError() const;
};

// What Apply did (or, with dry_run, would do).
struct MigrateResult {
  MigrationStatus before;               // the status Apply acted on
  std::vector<MigrationEntry> applied;  // files applied now (dry run: would be applied)
  bool dry_run = false;
};

// Applies migration files to a database and records them in a history table:
//   CREATE TABLE <schema>.schema_migrations (version bigint PRIMARY KEY, name text NOT NULL,
//     checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
// Each pending file runs in its own transaction together with its history row, in version order,
// under a session advisory lock, so concurrent runs apply each file once.
//
// Thread-safety: none; one Migrator uses its borrowed connection from one thread.
class Migrator {
 public:
  // Called before each file is applied and after it committed (`done`), for progress output.
  using Progress =
      std::function<void(const MigrationEntry& entry, bool done, std::chrono::milliseconds took)>;

  // `connection` is borrowed and must outlive the Migrator.
  Migrator(pg::Connection& connection, MigratorOptions options);

  // Compares `files` (in version order, from LoadMigrationDir) with the history. Read-only: a
  // missing history table means nothing was applied.
  Result<MigrationStatus> Inspect(const std::vector<MigrationFile>& files);

  // Applies the pending files. Errors:
  //   kFailedPrecondition: an applied file was edited (nothing runs), or the lock wait ran out
  //   a file's SQL failed: that file is rolled back, later files do not run, earlier ones stay
  //     applied; the message names the file, the line (when PostgreSQL gave a position) and
  //     PostgreSQL's message, and keeps its SQLSTATE (pg::SqlState works on it)
  // With `dry_run` nothing is written (not even the history table); the result lists what would
  // run.
  Result<MigrateResult> Apply(const std::vector<MigrationFile>& files, bool dry_run,
                              const Progress& progress = nullptr);

  // "eddy"."schema_migrations", quoted for SQL.
  std::string QuotedHistoryTable() const;

 private:
  Status CreateHistoryTable();
  Status Lock();
  void Unlock();
  Status ApplyOne(const MigrationFile& file);

  pg::Connection& connection_;
  const MigratorOptions options_;
};

}  // namespace eddy::schema
