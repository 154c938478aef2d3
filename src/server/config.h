#pragma once

#include <string>
#include <vector>

#include "eddy/result.h"
#include "eddy/watcher.h"

namespace eddy::server {

// Everything eddy's commands can be told. Sources, later ones winning: built-in defaults, the
// TOML file (--config or EDDY_CONFIG), environment (DATABASE_URL, EDDY_*), command-line flags.
// docs/config.md is the reference.
struct Config {
  WatcherOptions watcher;
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
