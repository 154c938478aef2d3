#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/change.h"
#include "eddy/position.h"
#include "eddy/result.h"

namespace eddy {

// What a subscriber receives for each change.
enum class Detail : uint8_t {
  kIdOnly = 0,  // the key columns only (the default)
  kColumns,     // the key plus the columns listed in Subscription::columns
  kFull,        // the whole new row and, where the replica identity allows, the old one
};

// What to watch: a table and operation(s), optionally narrowed to one primary key or one
// column's value, EctoWatch-style.
struct Subscription {
  std::string table;    // "songs" (schema public), "media.songs", or empty / "*" for all
  std::vector<Op> ops;  // empty: insert, update, delete and truncate
  // One row by primary key: the text form of each key column, in key order. Not for inserts
  // alone: a watcher of one id learns of its insert only if it knew the id beforehand, and an
  // insert can only create a key that did not exist, so the filter is for update/delete.
  std::vector<std::string> key;
  // Rows whose column has this text value (compared to PostgreSQL's text output of the new row,
  // or the old row for deletes). nullopt value matches NULL.
  std::optional<std::string> column;
  std::optional<std::string> column_value;
  Detail detail = Detail::kIdOnly;
  std::vector<std::string> columns;  // for Detail::kColumns
  // Updates are delivered only if one of these columns changed. Telling needs the old row:
  // with REPLICA IDENTITY FULL eddy compares old and new; otherwise every update passes.
  std::vector<std::string> trigger_columns;
  // Resume: deliver changes strictly after this position. nullopt: from now (changes that
  // become durable after Subscribe returns). Position{} : from the start of the log.
  std::optional<Position> after;
};

// One delivered change, projected by the subscription's Detail. Valid during the callback.
struct WatchEvent {
  const Change& change;
  // The change rendered as eddy's JSON form for this subscription's Detail (docs/watch.md).
  std::string_view json;
};

struct TransactionBoundary {
  Xid xid;
  Lsn commit_lsn;
  int64_t commit_time_us = 0;
};

// Callbacks of one subscription, called in commit order on that subscription's own thread, one at
// a time. on_begin comes before the first matching change of a transaction and on_commit after
// its last; transactions with no matching change are not announced.
struct WatchHandlers {
  std::function<void(const TransactionBoundary&)> on_begin;
  std::function<void(const WatchEvent&)> on_change;
  std::function<void(const Commit&)> on_commit;
  // The subscription ended early (e.g. its resume position is older than the log's retention).
  std::function<void(const Status&)> on_error;
};

// Trigger mode (capture_mode = "triggers"): for databases where logical replication is not
// allowed. eddy installs per-table triggers that write each change into an outbox table inside
// the writer's transaction; eddy LISTENs for a wake-up and reads the outbox (docs/triggers.md).
struct TriggerOptions {
  std::string schema = "eddy";          // where the outbox table and trigger function live
  std::string channel = "eddy_outbox";  // the LISTEN/NOTIFY channel
  int poll_ms = 250;                    // read the outbox at least this often without a NOTIFY
  bool install = true;                  // create/refresh the outbox and triggers on start
};

// NATS JetStream (docs/nats.md): a sink publishing every durable change, and the source of an
// edge eddy (capture_mode = "nats").
struct NatsOptions {
  std::string url;                      // "nats://127.0.0.1:4222"; comma-separated for a cluster
  std::string stream = "EDDY";          // created or verified on start
  std::string subject_prefix = "eddy";  // subjects: <prefix>.<schema>.<table>.<op>.<key>
  int replicas = 1;
  int duplicate_window_s = 120;  // JetStream's Nats-Msg-Id window: longer than a leader failover
  bool publish = false;          // sink: publish every durable change to the stream
  bool required = false;         // sink: confirm to PostgreSQL only what JetStream acknowledged
  std::string durable = "eddy-edge";  // edge mode: this edge's durable consumer name
  std::string body = "binary";        // sink: "binary" (eddy's codec; edge mode needs it) or "json"
};

struct WatcherOptions {
  // Where changes come from: "logical" (a replication slot), "triggers" (an outbox table filled
  // by triggers, see TriggerOptions) or "nats" (an edge eddy reading another eddy's stream).
  std::string capture_mode = "logical";
  TriggerOptions triggers;
  NatsOptions nats;
  std::string database_url;        // libpq URI or key=value string of the source database
  std::string data_dir = ".eddy";  // the durable log and spool live here
  std::string slot = "eddy";
  std::string publication = "eddy";
  std::vector<std::string> tables;  // publication tables; empty: all tables
  bool recreate_slot = false;
  uint64_t segment_bytes = 64ull << 20;
  uint64_t retention_bytes = 0;       // 0: keep everything
  int64_t retention_age_seconds = 0;  // 0: keep everything
  bool fsync = true;
};

using SubscriptionId = uint64_t;

// The in-process API: captures changes from PostgreSQL into a durable log and calls back
// subscribers. One Watcher is one capturing eddy (or a standby while another holds the slot).
// Thread-safe.
class Watcher {
 public:
  static Result<std::unique_ptr<Watcher>> Open(const WatcherOptions& options);
  virtual ~Watcher() = default;

  // Starts capture in the background. Returns once the log is open; capture connects,
  // waits for leadership and retries on its own (see Health()).
  virtual Status Start() = 0;
  virtual Result<SubscriptionId> Subscribe(const Subscription& subscription,
                                           WatchHandlers handlers) = 0;
  virtual Status Unsubscribe(SubscriptionId id) = 0;
  // Stops capture and every subscription; pending durable changes are synced.
  virtual void Stop() = 0;
  // The position after the last durable change (what Subscribe with no `after` starts from).
  virtual Position DurablePosition() const = 0;
  // One line on capture health: role, streaming, last error.
  virtual std::string Health() const = 0;
  // Blocks until the capture has started streaming (true) or failed for good / timed out.
  virtual bool WaitUntilStreaming(int timeout_ms) = 0;
};

}  // namespace eddy
