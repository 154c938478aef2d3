#pragma once

#include <string>
#include <vector>

#include "eddy/result.h"
#include "eddy/watcher.h"

#include "adapters/watch/watch_config.h"
#include "adapters/watermelon/watermelon_config.h"
#include "deliver/exec_consumer_options.h"
#include "deliver/webhook_options.h"

namespace eddy::server {

// Everything eddy's commands can be told. Sources, later ones winning: built-in defaults, the
// TOML file (--config or EDDY_CONFIG), environment (DATABASE_URL, EDDY_*), command-line flags.
// docs/config.md is the reference.
struct HttpConfig {
  std::string address = "127.0.0.1";
  int port = 8080;
};

// One [[auth.rules]] entry: which roles may watch which operations of a table, and an optional
// row rule binding a claim to a column.
struct AuthRuleConfig {
  std::string table;               // "public.songs" or "*"
  std::vector<std::string> roles;  // empty: any role
  std::vector<std::string> ops;    // empty: all
  std::string row_claim;
  std::string row_column;
};

struct AuthConfig {
  std::string mode = "jwt";  // "jwt" or "open" (no checks: local development only)
  std::string hs256_secret;
  std::string rs256_public_key_file;
  std::vector<AuthRuleConfig> rules;
};

// [shapes]: the Shape API (docs/shapes.md).
struct ShapesConfig {
  bool enabled = true;
  std::string dir;               // default: <log.data_dir>/shapes
  int64_t chunk_kb = 10 * 1024;  // response chunks are cut at about this size
  int64_t long_poll_timeout_ms = 20'000;
  int64_t sse_timeout_ms = 60'000;
  int64_t max_age_s = 60;
  int64_t stale_age_s = 300;
  std::string secret;                 // Electric's shared secret (?secret=)
  bool allow_delete = false;          // DELETE /v1/shape
  bool replica_identity_full = true;  // set REPLICA IDENTITY FULL on shape tables
  int64_t workers = 2;
  int64_t release_after_s = 60;
  int64_t remove_after_s = 7 * 24 * 3600;
  int64_t max_shapes = 0;
  int64_t max_disk_mb = 0;
};

// [schema]: migrations (`eddy migrate`) and the schema hash (docs/schema.md).
struct SchemaConfig {
  std::string dir = "schema";           // migration files <digits>_<name>.sql
  std::string history_schema = "eddy";  // <history_schema>.schema_migrations
  int64_t hash_check_ms = 5000;         // how often `serve` re-reads the synced tables' columns
};

struct Config {
  WatcherOptions watcher;
  HttpConfig http;
  watch::WatchConfig watch;
  AuthConfig auth;
  ShapesConfig shapes;
  SchemaConfig schema;
  watermelon::WatermelonConfig watermelon;              // [watermelon] (docs/watermelon.md)
  std::vector<deliver::WebhookOptions> webhooks;        // [[webhooks]] (docs/webhooks.md)
  std::vector<deliver::ExecConsumerOptions> consumers;  // [[consumers]] (docs/consumers.md)
  std::string config_file;
};

// Applies the TOML file at `path`. Errors name the key and say what is expected.
Status ApplyConfigFile(const std::string& path, Config* config);
// Applies DATABASE_URL, EDDY_DATA_DIR, EDDY_SLOT, EDDY_PUBLICATION, EDDY_TABLES (comma list),
// EDDY_RECREATE_SLOT, EDDY_SEGMENT_MB, EDDY_FSYNC. `getenv` is injectable for tests.
Status ApplyEnvironment(Config* config, const char* (*getenv_fn)(const char*) = nullptr);
// Checks names and ranges once everything is applied.
Status Validate(const Config& config);

}  // namespace eddy::server
