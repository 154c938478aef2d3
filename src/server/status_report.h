#pragma once

#include <string>

#include "eddy/result.h"
#include "eddy/watcher.h"

namespace eddy::server {

// `eddy status`: the publication, the slot's health and lag, which backend holds the leader
// lock, and the size of the local log, as readable text. Read-only: safe beside a running eddy.
Result<std::string> StatusReport(const WatcherOptions& options);

}  // namespace eddy::server
