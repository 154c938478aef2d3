#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "eddy/result.h"

#include "server/config.h"

namespace eddy::server {

// The flags of `eddy consume` (README.md, docs/consumers.md).
struct ConsumeFlags {
  std::string name;
  std::vector<std::string> tables;
  std::string ops;   // "insert,update"
  std::string exec;  // run per change through /bin/sh -c; empty: print JSON lines
  int max_attempts = 5;
  int lanes = 4;
  int backoff_min_ms = 100;
  int backoff_max_ms = 10000;
  std::string from = "now";  // for a consumer without a cursor: now or start
  std::string parked;        // "", list, replay, discard
  std::string parked_id;     // for replay (an id or "all") and discard
  int timeout_s = 0;
};

// Runs `eddy consume`: with --parked, lists, replays or discards parked changes and returns;
// otherwise captures like `eddy tail` and runs one consumer until `stop` or --timeout. Returns the
// exit code; errors in flags or config are a Status naming the flag.
Result<int> RunConsume(const Config& config, const ConsumeFlags& flags,
                       const std::atomic<bool>& stop);

}  // namespace eddy::server
