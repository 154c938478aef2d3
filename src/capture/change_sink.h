#pragma once

#include "eddy/change.h"
#include "eddy/result.h"

namespace eddy::capture {

// Where assembled changes go: the durable log in production, a vector in tests.
// Calls come from the capture thread only.
class ChangeSink {
 public:
  virtual ~ChangeSink() = default;
  // Appends one change of the open transaction; positions strictly increase.
  virtual Status Append(const Change& change) = 0;
  // Ends the open transaction. It becomes durable later (see ChangeLog's group commit).
  virtual Status AppendCommit(const Commit& commit) = 0;
  // Drops the changes appended since the last commit (the stream broke mid-transaction).
  virtual Status DiscardUncommitted() = 0;
};

}  // namespace eddy::capture
