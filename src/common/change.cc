#include "eddy/change.h"

namespace eddy {

const char* OpName(Op op) {
  switch (op) {
    case Op::kInsert:
      return "insert";
    case Op::kUpdate:
      return "update";
    case Op::kDelete:
      return "delete";
    case Op::kTruncate:
      return "truncate";
  }
  return "unknown";
}

std::vector<const Value*> Change::KeyValues() const {
  std::vector<const Value*> out;
  if (!table) return out;
  const bool from_old = op == Op::kDelete;
  const std::vector<Value>& row = from_old ? old_row : new_row;
  if (row.size() != table->columns.size()) return out;
  const bool keyed = table->HasKey();
  for (size_t i = 0; i < row.size(); ++i) {
    if (!keyed || table->columns[i].is_key) out.push_back(&row[i]);
  }
  return out;
}

}  // namespace eddy
