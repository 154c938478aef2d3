#include "outbox/change_builder.h"

#include <fmt/format.h>

#include "outbox/record_parser.h"

namespace eddy::outbox {

namespace {
Result<std::vector<Value>> RowValues(const TableShape& shape, std::string_view text,
                                     bool* width_mismatch) {
  EDDY_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> fields, ParseRecord(text));
  const size_t width = shape.generated.size();
  // "()" is one NULL field: right for a one-column row, and a zero-column row has nothing.
  if (width == 0 && fields.size() == 1 && !fields[0]) fields.clear();
  if (fields.size() != width) {
    *width_mismatch = true;
    fields.resize(width);
  }
  std::vector<Value> values;
  values.reserve(shape.table->columns.size());
  for (size_t i = 0; i < width; ++i) {
    if (shape.generated[i]) continue;
    values.push_back(fields[i] ? Value::Text(std::move(*fields[i])) : Value::Null());
  }
  if (values.size() != shape.table->columns.size()) {
    return Corruption("outbox: table shape and columns disagree");
  }
  return values;
}

// The key columns of `row`, every other position NULL (pgoutput's 'K' tuple).
std::vector<Value> KeyOnly(const Table& table, const std::vector<Value>& row) {
  std::vector<Value> out(row.size());
  for (size_t i = 0; i < row.size(); ++i) {
    if (table.columns[i].is_key) out[i] = row[i];
  }
  return out;
}
}  // namespace

Status BuildChange(const TableShape& shape, char op, std::optional<std::string_view> old_text,
                   std::optional<std::string_view> new_text, Change* change, bool* width_mismatch) {
  const Table& table = *shape.table;
  change->table = shape.table;
  change->old_row.clear();
  change->new_row.clear();
  change->old_kind = OldRow::kNone;
  change->truncate_flags = 0;
  const bool full = table.replica_identity == 'f';
  switch (op) {
    case 'I': {
      change->op = Op::kInsert;
      if (!new_text) return Corruption("outbox: insert without new_row");
      EDDY_ASSIGN_OR_RETURN(change->new_row, RowValues(shape, *new_text, width_mismatch));
      return Status::Ok();
    }
    case 'U': {
      change->op = Op::kUpdate;
      if (!new_text || !old_text) return Corruption("outbox: update without old_row or new_row");
      EDDY_ASSIGN_OR_RETURN(change->new_row, RowValues(shape, *new_text, width_mismatch));
      EDDY_ASSIGN_OR_RETURN(std::vector<Value> old_row,
                            RowValues(shape, *old_text, width_mismatch));
      if (full) {
        change->old_row = std::move(old_row);
        change->old_kind = OldRow::kFull;
      } else if (table.HasKey()) {
        bool key_changed = false;
        for (size_t i = 0; i < old_row.size(); ++i) {
          if (table.columns[i].is_key && !(old_row[i] == change->new_row[i])) key_changed = true;
        }
        if (key_changed) {
          change->old_row = KeyOnly(table, old_row);
          change->old_kind = OldRow::kKey;
        }
      }
      return Status::Ok();
    }
    case 'D': {
      change->op = Op::kDelete;
      if (!old_text) return Corruption("outbox: delete without old_row");
      EDDY_ASSIGN_OR_RETURN(std::vector<Value> old_row,
                            RowValues(shape, *old_text, width_mismatch));
      if (full || !table.HasKey()) {
        change->old_row = std::move(old_row);
        change->old_kind = OldRow::kFull;
      } else {
        change->old_row = KeyOnly(table, old_row);
        change->old_kind = OldRow::kKey;
      }
      return Status::Ok();
    }
    case 'T':
      change->op = Op::kTruncate;
      return Status::Ok();
    default:
      return Corruption(fmt::format("outbox: unknown op '{}'", op));
  }
}

}  // namespace eddy::outbox
