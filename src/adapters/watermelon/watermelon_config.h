#pragma once

// [watermelon] and [[watermelon.tables]]: which tables the WatermelonDB face syncs and how their
// columns look to the client (docs/watermelon.md).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "eddy/result.h"

namespace eddy::watermelon {

struct WatermelonTableConfig {
  std::string schema = "public";
  std::string table;                          // required
  std::string client_table;                   // default: `table`
  std::string id_column;                      // default: the single-column primary key
  std::vector<std::string> columns;           // default: every column but the id
  std::map<std::string, std::string> rename;  // server column -> client column
  std::vector<std::string> server_owned;      // push never writes these
  std::string scope_column;                   // optional row scope
  std::string scope_claim = "sub";            // the JWT claim compared with scope_column
  std::map<std::string, int64_t> added_in;    // column -> client schema version (migrations)
  int64_t table_added_in = 0;                 // client schema version that added the table
};

struct WatermelonConfig {
  bool enabled = true;
  std::string schema = "eddy_sync";  // eddy's metadata tables
  int64_t tombstone_retention_hours = 720;
  int64_t max_push_mb = 16;           // larger push bodies get 413
  int64_t barrier_timeout_ms = 5000;  // push waits this long for the change stream, then 503
  int64_t pull_wait_ms = 2000;  // pull waits up to this for the change stream (read your writes)
  int64_t workers = 4;          // threads (and PostgreSQL connections) serving requests
  // A pull whose body grows past this is streamed (chunked) as it is read, not sent whole.
  int64_t stream_after_kb = 1024;
  // Where the part of a streamed pull that a slow client has not read yet waits ("": the
  // system's temporary directory), so the pull's snapshot never waits on the client.
  std::string spool_dir;
  // The spool files of all pulls together; past it a pull waits for its client (keeping its
  // snapshot) instead of spooling more.
  int64_t max_spool_mb = 1024;
  // Live nudges (GET /v1/watermelon/changes): at most one per subscriber per this period.
  int64_t nudge_debounce_ms = 250;
  std::vector<WatermelonTableConfig> tables;

  bool active() const { return enabled && !tables.empty(); }
};

// Reads [watermelon] from a parsed config file into `config`. Errors name the key and the fix.
Status ReadWatermelonConfig(const toml::table& root, WatermelonConfig* config);
// Checks names and ranges (also for configs built in code).
Status ValidateWatermelonConfig(const WatermelonConfig& config);

// The keys [watermelon] accepts, for the config file's unknown-key check.
const std::vector<std::string>& WatermelonConfigKeys();

}  // namespace eddy::watermelon
