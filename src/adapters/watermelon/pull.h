#pragma once

// One pull (spec 1.1-1.6): one REPEATABLE READ READ ONLY snapshot in which the watermark
// W = <schema>.state.processed_lsn and every row with a version in (lastPulledAt, W] are read.
// Rows are read through cursors and rendered into a JsonSink as they arrive, so a pull of any
// size needs a bounded amount of memory (spec 4: large pulls are streamed).

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

// Where a pull's JSON body goes, in order, in pieces of a few tens of KiB.
class JsonSink {
 public:
  virtual ~JsonSink() = default;
  // An error (the client went away, the spool could not be written) stops the pull.
  virtual Status Append(std::string_view json) = 0;
};

// A JsonSink that keeps everything (tests, small bodies).
class StringSink final : public JsonSink {
 public:
  Status Append(std::string_view json) override {
    text.append(json);
    return Status::Ok();
  }
  std::string text;
};

// Runs the pull on `connection`, writing the response body to `sink`. Returns the answer's
// status: 200 with an empty body when the body went to `sink`, else an error answer whose body
// is the error (the sink may then hold a partial body, which must not reach the client whole).
SyncAnswer RunPull(pg::Connection& connection, const std::string& meta_schema,
                   const std::vector<std::shared_ptr<const SyncTable>>& tables,
                   const PullRequest& request, JsonSink& sink, PullStats* stats);

}  // namespace eddy::watermelon
