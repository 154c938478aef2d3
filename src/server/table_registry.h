#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "eddy/change.h"
#include "eddy/result.h"

namespace eddy::server {

// The newest description of every table eddy has captured, kept in one small file of the data
// directory, so that schema versions keep counting up across restarts: an unchanged table keeps
// its version, a table altered while eddy was down gets the next one.
// Thread-safe (one mutex); Record is called by the capture thread when a version appears.
class TableRegistry {
 public:
  // Reads `path` if it exists. A damaged file is an error naming it.
  static Result<std::unique_ptr<TableRegistry>> Open(std::string path);

  std::vector<std::shared_ptr<const Table>> Tables() const;
  // Remembers `table` as the newest version of its relation and rewrites the file atomically.
  Status Record(const std::shared_ptr<const Table>& table);

 private:
  explicit TableRegistry(std::string path) : path_(std::move(path)) {}
  Status SaveLocked() const;

  const std::string path_;
  mutable std::mutex mutex_;
  std::unordered_map<uint32_t, std::shared_ptr<const Table>> tables_;  // guarded by mutex_
};

}  // namespace eddy::server
