#pragma once

// Renders rows and changes as Electric Shape API messages (JSON text), once per shape, so every
// client of the shape is served the same bytes.
//   {"key":"\"public\".\"items\"/\"1\"","value":{"id":"1","title":"x"},
//    "headers":{"operation":"insert","relation":["public","items"],"lsn":"24748712",
//               "op_position":4,"txids":[752],"last":true}}
// Values are PostgreSQL's text output as JSON strings; NULL is null.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/change.h"

#include "shape/shape_log.h"

namespace eddy::shape {

// A row's values in table column order; nullopt is NULL.
using RowText = std::span<const std::optional<std::string_view>>;

struct Layout {
  std::string schema;
  std::string table;
  std::vector<std::string> column_names;  // every column of the table, in table order
  std::vector<int> selected;              // the shape's columns (indexes), ascending
  // The key columns in primary-key order; for a table without a primary key, every column
  // ordered by name.
  std::vector<int> key;
  bool replica_full = false;  // replica=full: full rows on update/delete and old_value
};

// "\"public\".\"items\"/\"1\"/\"a//b\"": schema and table double-quoted ('.' doubled inside),
// then "/" + the double-quoted text of each key column ('/' doubled inside; NULL as "_").
void AppendKey(const Layout& layout, RowText row, std::string* out);

// A snapshot row as an insert (headers: operation and relation only, plus snapshot_mark when
// given, for subset snapshots).
void AppendSnapshotInsert(const Layout& layout, RowText row, std::optional<int64_t> snapshot_mark,
                          std::string* out);

// One live change already routed to the shape. Rows are as the log holds them
// (eddy::Value: NULL, unchanged-TOAST, or text); old_row may be empty or key-only.
struct LiveChange {
  const Change* change = nullptr;  // insert, update or delete
  bool old_in_shape = false;       // the old row matched the shape (update, delete)
  bool new_in_shape = false;       // the new row matches the shape (insert, update)
  uint64_t lsn = 0;                // the transaction's commit LSN
  uint32_t xid = 0;
  uint64_t op_position = 0;  // even: change index * 2; a key-change split uses +1 too
  bool last = false;         // last change of the transaction for this shape
};

// Appends the 0, 1 or 2 messages for `change` to `out`, with offsets <lsn>_<op_position>
// (and <lsn>_<op_position + 1> for the second half of a key change):
// - insert, or update moving into the shape: insert with the full (selected) row;
// - update inside the shape: update with the key and changed columns (replica default) or the
//   full row plus old_value of the changed columns (replica full); an update changing the key
//   becomes delete (key_change_to) + insert (key_change_from); an update that changed none of
//   the selected columns (known only with a full old row) gives nothing;
// - update moving out of the shape, or delete: delete with the key (replica default) or the
//   full old row (replica full).
// Unchanged-TOAST values are taken from the old row when it has them, else left out of value.
// Only the last emitted message carries "last": true when `change.last`.
void RenderLive(const Layout& layout, const LiveChange& change, std::vector<LogMessage>* out);

}  // namespace eddy::shape
