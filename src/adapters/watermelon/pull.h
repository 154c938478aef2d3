#pragma once

// One pull (spec 1.1-1.6): one REPEATABLE READ READ ONLY snapshot in which the watermark
// W = <schema>.state.processed_lsn and every row with a version in (lastPulledAt, W] are read.

#include <cstdint>
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

struct PullRequest {
  std::optional<int64_t> last_pulled_at;  // nullopt: first sync
  int64_t schema_version = 0;
  std::optional<MigrationRequest> migration;
  std::string client_id;  // X-Client-Id; "" when absent
  // Scope value per client table (from the token's claims); a scoped table missing here is read
  // unscoped (auth off).
  std::map<std::string, std::string> scopes;
  int64_t page_size = 0;  // 0: no paging
};

struct PullStats {
  uint64_t records = 0;
  bool replacement = false;
};

// Runs the pull on `connection` and renders the response body.
SyncAnswer RunPull(pg::Connection& connection, const std::string& meta_schema,
                   const std::vector<std::shared_ptr<const SyncTable>>& tables,
                   const PullRequest& request, PullStats* stats);

}  // namespace eddy::watermelon
