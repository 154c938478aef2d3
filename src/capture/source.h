#pragma once

#include <memory>
#include <vector>

#include "eddy/change.h"
#include "eddy/result.h"

#include "capture/capture_state.h"

namespace eddy::capture {

// Where the engine's changes come from: logical replication (Capture), the trigger outbox
// (src/outbox) or a JetStream stream written by another eddy (src/nats, edge mode). A source
// appends committed transactions, in order, to the ChangeSink it was built with.
// Thread: Run() owns a thread; Stop(), NotifyDurable() and State() may be called from any.
class Source {
 public:
  virtual ~Source() = default;
  // Seeds table descriptions from the log so schema versions continue after a restart.
  virtual void SeedTables(const std::vector<std::shared_ptr<const Table>>& tables) = 0;
  // Blocks until Stop() or an error that retrying cannot fix.
  virtual Status Run() = 0;
  virtual void Stop() = 0;
  // Every transaction whose Commit::end_lsn is <= `end_lsn` is durable in the log (and acknowledged
  // by every required sink): the source may let go of it (confirm the slot, delete outbox rows,
  // acknowledge the JetStream messages).
  virtual void NotifyDurable(Lsn end_lsn) = 0;
  virtual CaptureState State() const = 0;
};

}  // namespace eddy::capture
