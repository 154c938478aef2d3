#pragma once

#include <string>

#include "eddy/result.h"
#include "eddy/watcher.h"

namespace eddy::outbox {

// `eddy triggers [--cleanup]`: lists eddy's triggers in the database (table, trigger, stale or
// not) and, with `cleanup`, drops the stale ones (on tables no longer configured). Returns the
// text to print.
Result<std::string> TriggersReport(const WatcherOptions& options, bool cleanup);

}  // namespace eddy::outbox
