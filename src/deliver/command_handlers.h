#pragma once

#include <cstdio>
#include <string>

#include "eddy/consumer.h"

namespace eddy::deliver {

// The handlers of `eddy consume`.

// Writes each change as one line of eddy's change JSON (full detail) to `out` and acknowledges
// once the line is flushed; a failed write is a handler failure. Lines of one key keep commit
// order; lines of different keys may interleave. `out` must outlive the handlers.
ConsumerHandlers PrintHandlers(std::FILE* out);

// Runs `command` through /bin/sh -c for each change with the change's JSON (one line) on stdin
// and EDDY_OP, EDDY_TABLE, EDDY_POSITION in the environment; exit status 0 acknowledges, anything
// else is a failure (retried, then parked). The child's stdout and stderr are eddy's.
ConsumerHandlers ExecHandlers(std::string command);

}  // namespace eddy::deliver
