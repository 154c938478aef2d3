#pragma once

#include <string>

#include "eddy/result.h"
#include "eddy/watcher.h"

namespace eddy::server {

// `eddy status`: the publication, the slot's health and lag, which backend holds the leader
// lock, the size of the local log and the schema hash of the synced tables (docs/schema.md), as
// readable text. Read-only: safe beside a running eddy. `history_schema` is where eddy migrate
// keeps its history table (left out of the hash).
Result<std::string> StatusReport(const WatcherOptions& options,
                                 const std::string& history_schema = "eddy");

}  // namespace eddy::server
