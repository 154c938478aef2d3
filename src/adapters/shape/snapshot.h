#pragma once

// Snapshots of a shape's rows: `COPY (SELECT ...) TO STDOUT` inside a REPEATABLE READ READ ONLY
// transaction, with the transaction's snapshot (xmin, xmax, xip) so that the live stream can
// skip what the snapshot already holds. Values are read under the capture's settings, so
// snapshot rows and live rows print every type the same way.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/result.h"

#include "adapters/shape/table_info.h"
#include "pg/connection.h"
#include "shape/render.h"

namespace eddy::shapes {

// pg_current_snapshot() of the snapshot's transaction, widened to 64 bits.
struct SnapshotVisibility {
  uint64_t xmin = 0;
  uint64_t xmax = 0;
  std::vector<uint64_t> xip;
  uint64_t wal_lsn = 0;  // pg_current_wal_insert_lsn() inside the transaction: every visible
                         // transaction committed before it

  // Whether a transaction with 32-bit id `xid` is visible in the snapshot (widened against xmax).
  bool Visible(uint32_t xid) const;
  std::string XipJson() const;  // ["1025","1026"]
};

struct SnapshotQuery {
  const TableInfo* table = nullptr;
  std::vector<int> columns;  // table column indexes to read (selected and key), ascending
  std::string where_sql;     // "" for all rows
  std::string tail_sql;      // " ORDER BY ... LIMIT ... OFFSET ..." (subsets)
};

// The session settings of every connection that prints values for shapes.
inline constexpr std::string_view kValueSettingsSql =
    "SET DateStyle = 'ISO'; SET IntervalStyle = 'iso_8601'; SET TimeZone = 'UTC'; "
    "SET extra_float_digits = 3; SET bytea_output = 'hex'";

// Runs the query in its own transaction on `connection` and calls `on_row` with each row's
// values indexed like the table's columns (columns not read are NULL). The snapshot is taken
// before the first row. `on_row` may fail the whole snapshot by returning an error.
Result<SnapshotVisibility> RunSnapshot(pg::Connection& connection, const SnapshotQuery& query,
                                       const std::function<Status(shape::RowText)>& on_row);

// Decodes one line of COPY text format (without the newline) into fields (nullopt for \N);
// `storage` owns the unescaped bytes. Exposed for tests and the fuzzer.
bool DecodeCopyLine(std::string_view line, std::vector<std::string>* storage,
                    std::vector<std::optional<std::string_view>>* fields);

}  // namespace eddy::shapes
