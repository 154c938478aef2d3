#pragma once

#include <string>

#include "eddy/position.h"
#include "eddy/result.h"

namespace eddy::log {

// Where a follower of the log (a consumer, a webhook, the JetStream sink) has got to: the position
// of the last entry it finished and the end LSN of the last whole transaction it finished. Kept in
// one small file, replaced atomically (write to a temporary, fdatasync, rename, fsync the
// directory), so a crash leaves either the old or the new cursor, never a torn one.
struct Cursor {
  Position position;  // resume strictly after this (Position{} = from the start of the log)
  Lsn end_lsn;        // Commit::end_lsn of the last finished transaction (0 = none)
  bool operator==(const Cursor&) const = default;
};

class CursorFile {
 public:
  explicit CursorFile(std::string path) : path_(std::move(path)) {}
  // The stored cursor; nullopt when the file does not exist yet. kCorruption for a damaged file.
  Result<std::optional<Cursor>> Load() const;
  // Replaces the stored cursor durably. Creates the directory if needed.
  Status Store(const Cursor& cursor) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace eddy::log
