#pragma once

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "eddy/change.h"
#include "eddy/result.h"

namespace eddy::outbox {

// A table as the outbox rows describe it: the Table that changes carry (the columns logical
// replication would send: generated columns left out) and, per attribute that record_out prints
// (every non-dropped column in attnum order, generated ones included), whether it is generated.
struct TableShape {
  std::shared_ptr<const Table> table;
  std::vector<bool> generated;
};

// Turns one outbox row into a Change (op, table, rows and old_kind; the caller sets position,
// xid and commit time), shaped exactly as logical replication would send it for the table's
// replica identity:
//   insert:   new row
//   update:   new row; old row in full under REPLICA IDENTITY FULL, else the key columns (others
//             NULL) only when the key changed, else none
//   delete:   old row in full under FULL or when the table has no key, else the key columns
//   truncate: no rows
// A row written under a different column count (the table was altered between the write and the
// read) is padded with NULLs or cut, and `*width_mismatch` is set so the caller can warn.
// kCorruption for an unknown op or text that is not a record.
Status BuildChange(const TableShape& shape, char op, std::optional<std::string_view> old_text,
                   std::optional<std::string_view> new_text, Change* change, bool* width_mismatch);

}  // namespace eddy::outbox
