#pragma once

#include <memory>
#include <string>

#include "eddy/result.h"

namespace eddy::pg {
class Connection;
}

namespace eddy::capture {

// Exactly one capturing eddy per slot: a session-level advisory lock on hashtext('eddy:<slot>'),
// held on a connection of its own for as long as this eddy captures. When the holder dies its
// connection closes and PostgreSQL releases the lock, so a waiting eddy takes over.
// Thread: used by the capture thread only.
class LeaderLock {
 public:
  LeaderLock(std::string conninfo, std::string slot)
      : conninfo_(std::move(conninfo)), slot_(std::move(slot)) {}
  ~LeaderLock();

  // One attempt: true when this eddy now holds (or already held) the lock.
  Result<bool> TryAcquire();
  // Whether the lock connection is still alive (and so the lock still held).
  bool StillHeld();
  void Release();

 private:
  std::string conninfo_;
  std::string slot_;
  std::unique_ptr<pg::Connection> connection_;
  bool held_ = false;
};

}  // namespace eddy::capture
