#pragma once

// One push (spec 2.2): one READ COMMITTED transaction that records the pushing client, locks
// every pushed id, waits for the change stream (the barrier), checks for conflicts, then
// upserts created and updated records and deletes deleted ids, one SAVEPOINT per record so a
// record PostgreSQL refuses is rejected alone (experimentalRejectedIds).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/watermelon/sync_answer.h"
#include "adapters/watermelon/sync_request.h"
#include "adapters/watermelon/sync_table.h"
#include "pg/connection.h"

namespace eddy::watermelon {

struct PushRequest {
  PushBody body;
  std::optional<int64_t> last_pulled_at;
  std::string client_id;                      // X-Client-Id; "" when absent
  std::map<std::string, std::string> scopes;  // per client table, as for pulls
};

struct PushStats {
  uint64_t applied = 0;
  uint64_t rejected = 0;
  bool conflict = false;
};

// Waits until the change stream has passed everything committed before now (the barrier):
// kUnavailable when it did not in time.
using Barrier = std::function<Status()>;

SyncAnswer RunPush(pg::Connection& connection, const std::string& meta_schema,
                   const std::vector<std::shared_ptr<const SyncTable>>& tables,
                   const PushRequest& request, const Barrier& barrier, PushStats* stats);

// Whether `id` can be cast to the id column's type (so a bad id is rejected, not an error for
// the whole push). Text types take anything safe.
bool IdFitsType(std::string_view id, std::string_view sql_type);

}  // namespace eddy::watermelon
