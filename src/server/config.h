#pragma once

#include <string>
#include <vector>

#include "eddy/result.h"
#include "eddy/watcher.h"

#include "adapters/watch/watch_config.h"
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

struct Config {
  WatcherOptions watcher;
  HttpConfig http;
  watch::WatchConfig watch;
  AuthConfig auth;
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
