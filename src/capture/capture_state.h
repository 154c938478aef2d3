#pragma once

#include <cstdint>
#include <string>

#include "eddy/position.h"

namespace eddy::capture {

enum class CaptureRole { kStarting, kStandby, kLeader, kStopped, kFailed };
const char* CaptureRoleName(CaptureRole role);

// A snapshot of the capture for status and health.
struct CaptureState {
  CaptureRole role = CaptureRole::kStarting;
  bool streaming = false;  // START_REPLICATION is running
  Lsn received;            // the server's WAL end as last seen
  Lsn confirmed;           // what eddy last confirmed to PostgreSQL
  Lsn durable;             // the end LSN of the last transaction durable in the log
  uint64_t transactions = 0;
  uint64_t changes = 0;
  uint64_t streamed_transactions = 0;
  uint64_t reconnects = 0;
  std::string last_error;
};

}  // namespace eddy::capture
