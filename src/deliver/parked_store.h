#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "eddy/consumer.h"
#include "eddy/result.h"

namespace eddy::deliver {

// The identity of a change's row for ordering: "schema.table" plus the key values (every value
// for tables without a key). Changes with equal keys are handled one at a time in commit order.
std::string KeyOf(const Change& change);

// A consumer's dead-letter place: one file per parked change in a directory
// (<data_dir>/consumers/<name>/parked/<id, 16 hex digits>.park). Each file holds the change's
// table and the change (src/change binary codec), the last error and the attempt count behind a
// CRC32C, and is written to a temporary name, fdatasynced, renamed and the directory fsynced
// before Park returns, so a consumer may move its cursor past a parked change.
//
// Threading: not synchronized; the consumer core guards it with its mutex.
class ParkedStore {
 public:
  // Loads every parked change in `dir` (created if missing). kCorruption names a damaged file.
  static Result<std::unique_ptr<ParkedStore>> Open(const std::string& dir);

  // Parks `change` durably; returns its id.
  Result<uint64_t> Park(const Change& change, const std::string& error, int attempts);
  // Rewrites the error and attempt count of a parked change (after a failed replay).
  Status Update(uint64_t id, const std::string& error, int attempts);
  Status Remove(uint64_t id);

  const ParkedChange* Find(uint64_t id) const;
  // Every parked change, oldest first.
  std::vector<ParkedChange> List() const;
  // The oldest parked change of `key`, or null.
  const ParkedChange* OldestOf(const std::string& key) const;
  bool HasKey(const std::string& key) const { return keys_.count(key) > 0; }
  size_t size() const { return parked_.size(); }

  // The file format, exposed for the fuzz target and tests.
  static std::string Encode(const ParkedChange& parked);
  static Result<ParkedChange> Decode(std::string_view bytes);

 private:
  explicit ParkedStore(std::string dir) : dir_(std::move(dir)) {}
  Status Write(const ParkedChange& parked);
  std::string PathOf(uint64_t id) const;

  const std::string dir_;
  std::map<uint64_t, ParkedChange> parked_;
  std::map<std::string, int> keys_;  // key -> number of parked changes
  uint64_t next_id_ = 1;
};

}  // namespace eddy::deliver
