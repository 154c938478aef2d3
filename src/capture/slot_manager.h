#pragma once

#include <optional>
#include <string>
#include <vector>

#include "eddy/position.h"
#include "eddy/result.h"

namespace eddy::pg {
class Connection;
}

namespace eddy::capture {

// What pg_replication_slots says about eddy's slot.
struct SlotHealth {
  bool exists = false;
  bool active = false;
  int active_pid = 0;
  std::string plugin;
  std::string database;       // the database the slot decodes
  bool this_database = true;  // false: the slot belongs to another database
  std::string wal_status;     // reserved, extended, unreserved, lost
  Lsn restart_lsn;
  Lsn confirmed_flush_lsn;
  Lsn server_lsn;              // pg_current_wal_lsn()
  int64_t lag_bytes = 0;       // server_lsn - confirmed_flush_lsn: WAL the slot holds
  int64_t retained_bytes = 0;  // server_lsn - restart_lsn
};

// Creates and checks the publication and slot through a regular SQL connection. The
// publication is always made first: a slot created before its publication loses changes
// (pitfall 5).
class SlotManager {
 public:
  // `connection` must outlive this object.
  explicit SlotManager(pg::Connection& connection) : connection_(connection) {}

  // wal_level must be logical; the error says how to set it.
  Status CheckServer();
  // Creates the publication if missing: FOR ALL TABLES when `tables` is empty, else FOR TABLE
  // the given "schema.table" names. An existing publication is checked, not changed: a
  // different table list is reported with the SQL that fixes it.
  Status EnsurePublication(const std::string& name, const std::vector<std::string>& tables);
  Result<SlotHealth> Health(const std::string& slot);
  Status CreateSlot(const std::string& slot);
  Status DropSlot(const std::string& slot);

 private:
  pg::Connection& connection_;
};

}  // namespace eddy::capture
