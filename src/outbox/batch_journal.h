#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eddy/position.h"
#include "eddy/result.h"

namespace eddy::outbox {

// Which outbox transactions eddy has handed to its log but not yet deleted from the outbox, so a
// restart after a crash deletes those the log holds instead of appending them twice.
//
// Written before each batch is appended (the entries then cover every appended transaction whose
// outbox rows may still exist). Two slot files (<path>.a, <path>.b) are written in turn, each
// with a sequence number and a CRC32C; one fdatasync per store and no rename, and a torn write
// leaves the other slot intact. Load takes the valid slot with the higher sequence number.
// Thread: one user at a time.
class BatchJournal {
 public:
  struct Entry {
    Lsn commit_lsn;   // the synthetic commit LSN the transaction got in eddy's log
    std::string xid;  // its pg_current_xact_id() (xid8, never reused in a cluster)
    bool operator==(const Entry&) const = default;
  };

  BatchJournal(std::string path, bool fsync) : path_(std::move(path)), fsync_(fsync) {}

  // The newest stored entries (empty when none were stored). kCorruption only when both slots
  // exist and neither is valid.
  Result<std::vector<Entry>> Load();
  // Replaces the stored entries durably (when fsync is on).
  Status Store(const std::vector<Entry>& entries);

 private:
  std::string path_;
  bool fsync_;
  uint64_t sequence_ = 0;  // of the newest slot written or loaded
};

}  // namespace eddy::outbox
