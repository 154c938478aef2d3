#pragma once

#include <string>

#include "eddy/result.h"

#include "server/config.h"

namespace eddy::server {

// The flags of `eddy migrate` (README.md, docs/schema.md).
struct MigrateFlags {
  std::string dir;       // empty: schema.dir from the config ("schema")
  bool dry_run = false;  // list what would run, change nothing
  bool status = false;   // `eddy migrate status`
};

// Runs `eddy migrate` / `eddy migrate status`, printing progress to stdout and warnings to
// stderr. Returns the exit code (status: 1 when an applied file was edited, else 0); errors (no
// database, a bad file name, a failed migration, an edited applied file) are a Status whose
// message says what to fix.
Result<int> RunMigrate(const Config& config, const MigrateFlags& flags);

// Applies the migrations in `dir` to `conninfo` quietly (for `eddy dev`'s throwaway database).
Status ApplyMigrations(const std::string& conninfo, const std::string& dir,
                       const std::string& history_schema = "eddy");

}  // namespace eddy::server
