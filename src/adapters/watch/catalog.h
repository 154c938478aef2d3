#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "eddy/result.h"

namespace eddy::pg {
class Connection;
}

namespace eddy::watch {

// What a subscription is checked against: a table's columns and key, from pg_catalog.
struct TableShape {
  std::vector<std::string> columns;
  std::vector<std::string> key_columns;  // primary key, in key order
  char replica_identity = 'd';
};

// Describes tables through one SQL connection (the snapshot door of the architecture), with a
// short cache so a burst of subscriptions costs one query per table. Thread-safe.
class Catalog {
 public:
  explicit Catalog(std::string conninfo);
  ~Catalog();
  // kNotFound (naming the table) when it does not exist.
  Result<TableShape> Describe(const std::string& schema, const std::string& table);

 private:
  std::string conninfo_;
  std::mutex mutex_;
  std::unique_ptr<pg::Connection> connection_;  // guarded by mutex_
  struct Entry {
    TableShape shape;
    bool exists = false;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, Entry> cache_;  // guarded by mutex_
};

}  // namespace eddy::watch
