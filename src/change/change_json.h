#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eddy/change.h"

namespace eddy::change {

// Which parts of a change to render.
struct JsonProjection {
  enum class Rows : uint8_t {
    kKeyOnly,  // "key" only
    kColumns,  // "key" and "new"/"old" restricted to `columns`
    kFull,     // "key", "new" and "old" whole
  };
  Rows rows = Rows::kKeyOnly;
  std::vector<uint32_t> columns;  // indices into table->columns, for kColumns
};

// Appends eddy's JSON form of a change (docs/watch.md):
// {"position":"0/16B3748:0","lsn":"0/16B3748","xid":770,"commit_time":"2026-...Z",
//  "schema":"public","table":"songs","op":"update","schema_version":1,"key":{"id":42},
//  "new":{...},"old":{...},"unchanged":["lyrics"]}
// Unchanged TOASTed columns are left out of "new" and listed in "unchanged": never null.
void AppendChangeJson(const Change& change, const JsonProjection& projection, std::string* out);

// "2026-11-23T19:25:09.123456Z"
void AppendIsoTimestamp(int64_t unix_micros, std::string* out);

}  // namespace eddy::change
