#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "eddy/change.h"
#include "eddy/result.h"

namespace eddy::capture {

// Holds the changes of large in-progress transactions that PostgreSQL streams before they
// commit (pgoutput protocol 2, streaming on). Each top-level transaction gets one file in `dir`;
// its changes are released in order on stream commit and dropped on abort, so a transaction of
// any size passes through with bounded memory. Files are transient: a restart of eddy makes
// PostgreSQL stream the transaction again, so the directory is emptied on open.
// Thread: owned by the capture thread.
class StreamSpool {
 public:
  static Result<std::unique_ptr<StreamSpool>> Open(const std::string& dir);
  ~StreamSpool();
  StreamSpool(const StreamSpool&) = delete;
  StreamSpool& operator=(const StreamSpool&) = delete;

  // Starts (first_segment) or continues the spool of top-level transaction `xid`.
  Status Begin(Xid xid, bool first_segment);
  // Appends a change made by (sub)transaction `subxid` of top-level `xid`. The change's
  // position is not known yet and is ignored.
  Status Append(Xid xid, Xid subxid, const Change& change);
  // A subtransaction rolled back: its changes will be skipped on release.
  void AbortSubtransaction(Xid xid, Xid subxid);
  // Drops a whole transaction (stream abort of the top level, or already in the log).
  void Drop(Xid xid);
  // Calls `emit` for each surviving change in order, then drops the spool.
  Status Release(Xid xid, const std::function<Status(Change&)>& emit);
  // Drops every spool (the connection was lost; PostgreSQL will stream them again).
  void DropAll();

  uint64_t bytes_spooled() const { return bytes_; }
  size_t open_transactions() const { return files_.size(); }

 private:
  struct File {
    std::string path;
    std::FILE* handle = nullptr;
    std::set<uint32_t> aborted_subxids;
    std::set<std::pair<uint32_t, uint32_t>> tables_written;  // (relation id, schema version)
    uint64_t bytes = 0;
  };
  explicit StreamSpool(std::string dir) : dir_(std::move(dir)) {}
  Status WriteRecord(File& file, uint8_t type, uint32_t subxid, const std::string& payload);
  std::string PathFor(Xid xid) const;

  std::string dir_;
  std::map<uint32_t, File> files_;
  uint64_t bytes_ = 0;
  std::string scratch_;
};

}  // namespace eddy::capture
