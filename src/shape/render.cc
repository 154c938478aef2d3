#include "shape/render.h"

#include <algorithm>

#include "common/json_string.h"

namespace eddy::shape {
namespace {

// One column value as a message can show it. kUnknown is a value eddy does not have: an
// unchanged TOASTed value with no old row to take it from, or a non-key column of a key-only old
// row. Unknown values are left out of `value` / `old_value`.
struct Cell {
  enum class State : uint8_t { kNull, kText, kUnknown };
  State state = State::kUnknown;
  std::string_view text;

  bool IsKnown() const { return state != State::kUnknown; }
  bool operator==(const Cell& other) const {
    return state == other.state && (state != State::kText || text == other.text);
  }
};

Cell CellOf(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNull:
      return {Cell::State::kNull, {}};
    case Value::Kind::kText:
      return {Cell::State::kText, v.text};
    case Value::Kind::kUnchanged:
      break;
  }
  return {};
}

Cell CellAt(const std::vector<Value>& row, size_t column) {
  return column < row.size() ? CellOf(row[column]) : Cell{};
}

bool IsKeyColumn(const Layout& layout, int column) {
  return std::find(layout.key.begin(), layout.key.end(), column) != layout.key.end();
}

// Schema and table names: '/' and '.' doubled, as Electric's Changes.build_key does.
void AppendRelationPart(std::string_view name, std::string* out) {
  for (char c : name) {
    if (c == '/' || c == '.') out->push_back(c);
    out->push_back(c);
  }
}

template <class GetCell>
void AppendKeyWith(const Layout& layout, GetCell get, std::string* out) {
  out->push_back('"');
  AppendRelationPart(layout.schema, out);
  out->append("\".\"");
  AppendRelationPart(layout.table, out);
  out->push_back('"');
  for (int column : layout.key) {
    const Cell cell = get(column);
    if (cell.state != Cell::State::kText) {
      out->append("/_");
      continue;
    }
    out->append("/\"");
    for (char c : cell.text) {
      if (c == '/') out->push_back('/');
      out->push_back(c);
    }
    out->push_back('"');
  }
}

void AppendKeyJson(std::string_view raw_key, std::string* out) {
  out->append("{\"key\":");
  AppendJsonString(raw_key, out);
}

// ,"<name>":{"col":"text"|null,...} over the selected columns for which `include` holds and
// whose value is known.
template <class GetCell, class Include>
void AppendValueObject(std::string_view name, const Layout& layout, GetCell get, Include include,
                       std::string* out) {
  out->append(",\"");
  out->append(name);
  out->append("\":{");
  bool first = true;
  for (int column : layout.selected) {
    if (!include(column)) continue;
    const Cell cell = get(column);
    if (!cell.IsKnown()) continue;
    if (!first) out->push_back(',');
    first = false;
    const size_t index = static_cast<size_t>(column);
    AppendJsonString(index < layout.column_names.size() ? layout.column_names[index] : "", out);
    out->push_back(':');
    if (cell.state == Cell::State::kNull) {
      out->append("null");
    } else {
      AppendJsonString(cell.text, out);
    }
  }
  out->push_back('}');
}

void AppendHeadersStart(const Layout& layout, const char* operation, std::string* out) {
  out->append(",\"headers\":{\"operation\":\"");
  out->append(operation);
  out->append("\",\"relation\":[");
  AppendJsonString(layout.schema, out);
  out->push_back(',');
  AppendJsonString(layout.table, out);
  out->push_back(']');
}

void AppendLiveHeaders(const LiveChange& change, uint64_t op_position, std::string* out) {
  out->append(",\"lsn\":\"");
  out->append(std::to_string(change.lsn));
  out->append("\",\"op_position\":");
  out->append(std::to_string(op_position));
  out->append(",\"txids\":[");
  out->append(std::to_string(change.xid));
  out->push_back(']');
}

// The rows of one live change, resolved once: unchanged-TOAST values of the new row taken from a
// full old row, and the old row filled in as far as it is known.
struct LiveRows {
  std::vector<Cell> new_cells;
  std::vector<Cell> old_cells;

  Cell New(int c) const {
    return static_cast<size_t>(c) < new_cells.size() ? new_cells[c] : Cell{};
  }
  Cell Old(int c) const {
    return static_cast<size_t>(c) < old_cells.size() ? old_cells[c] : Cell{};
  }
};

LiveRows ResolveRows(const Layout& layout, const Change& change) {
  const size_t columns = layout.column_names.size();
  LiveRows rows;
  rows.new_cells.resize(columns);
  rows.old_cells.resize(columns);
  const bool old_full = change.old_kind == OldRow::kFull;
  for (size_t c = 0; c < columns; ++c) {
    if (change.op != Op::kDelete) {
      Cell cell = CellAt(change.new_row, c);
      if (!cell.IsKnown() && old_full) cell = CellAt(change.old_row, c);
      rows.new_cells[c] = cell;
    }
    switch (change.old_kind) {
      case OldRow::kFull:
        rows.old_cells[c] = CellAt(change.old_row, c);
        break;
      case OldRow::kKey: {
        // Only the replica identity's columns are in a key-only old row; the rest are NULL
        // placeholders, not values.
        const bool sent = change.table && c < change.table->columns.size()
                              ? change.table->columns[c].is_key
                              : IsKeyColumn(layout, static_cast<int>(c));
        if (sent) rows.old_cells[c] = CellAt(change.old_row, c);
        break;
      }
      case OldRow::kNone:
        // No old row: the key did not change, so the old key columns are the new ones.
        if (IsKeyColumn(layout, static_cast<int>(c))) rows.old_cells[c] = rows.new_cells[c];
        break;
    }
  }
  return rows;
}

void Emit(const LiveChange& change, uint64_t op_position, std::string json,
          std::vector<LogMessage>* out) {
  out->push_back(LogMessage{Offset::At(change.lsn, op_position), std::move(json)});
}

std::string RawKey(const Layout& layout, const std::vector<Cell>& cells) {
  std::string key;
  AppendKeyWith(
      layout, [&](int c) { return static_cast<size_t>(c) < cells.size() ? cells[c] : Cell{}; },
      &key);
  return key;
}

// The message ends with "}}"; `extra_headers` goes before them and "last" after it.
void CloseMessage(bool last, std::string* json) {
  if (last) json->append(",\"last\":true");
  json->append("}}");
}

std::string InsertMessage(const Layout& layout, const LiveChange& change, const LiveRows& rows,
                          const std::string& key, uint64_t op_position,
                          const std::string* key_change_from) {
  std::string json;
  AppendKeyJson(key, &json);
  auto get = [&](int c) { return rows.New(c); };
  AppendValueObject(
      "value", layout, get, [](int) { return true; }, &json);
  AppendHeadersStart(layout, "insert", &json);
  AppendLiveHeaders(change, op_position, &json);
  if (key_change_from != nullptr) {
    json.append(",\"key_change_from\":");
    AppendJsonString(*key_change_from, &json);
  }
  return json;
}

std::string DeleteMessage(const Layout& layout, const LiveChange& change, const LiveRows& rows,
                          const std::string& key, uint64_t op_position,
                          const std::string* key_change_to) {
  std::string json;
  AppendKeyJson(key, &json);
  auto get = [&](int c) { return rows.Old(c); };
  AppendValueObject(
      "value", layout, get, [&](int c) { return layout.replica_full || IsKeyColumn(layout, c); },
      &json);
  AppendHeadersStart(layout, "delete", &json);
  AppendLiveHeaders(change, op_position, &json);
  if (key_change_to != nullptr) {
    json.append(",\"key_change_to\":");
    AppendJsonString(*key_change_to, &json);
  }
  return json;
}

}  // namespace

void AppendKey(const Layout& layout, RowText row, std::string* out) {
  AppendKeyWith(
      layout,
      [&](int c) {
        const size_t index = static_cast<size_t>(c);
        if (index >= row.size()) return Cell{};
        return row[index] ? Cell{Cell::State::kText, *row[index]} : Cell{Cell::State::kNull, {}};
      },
      out);
}

void AppendSnapshotInsert(const Layout& layout, RowText row, std::optional<int64_t> snapshot_mark,
                          std::string* out) {
  auto get = [&](int c) {
    const size_t index = static_cast<size_t>(c);
    if (index >= row.size()) return Cell{};
    return row[index] ? Cell{Cell::State::kText, *row[index]} : Cell{Cell::State::kNull, {}};
  };
  std::string key;
  AppendKeyWith(layout, get, &key);
  AppendKeyJson(key, out);
  AppendValueObject(
      "value", layout, get, [](int) { return true; }, out);
  AppendHeadersStart(layout, "insert", out);
  if (snapshot_mark) {
    out->append(",\"snapshot_mark\":");
    out->append(std::to_string(*snapshot_mark));
  }
  out->append("}}");
}

void RenderLive(const Layout& layout, const LiveChange& live, std::vector<LogMessage>* out) {
  if (live.change == nullptr) return;
  const Change& change = *live.change;
  const uint64_t op = live.op_position;

  enum class Shown { kNothing, kInsert, kUpdate, kDelete };
  Shown shown = Shown::kNothing;
  switch (change.op) {
    case Op::kInsert:
      shown = Shown::kInsert;
      break;
    case Op::kDelete:
      shown = Shown::kDelete;
      break;
    case Op::kUpdate:
      if (live.old_in_shape && live.new_in_shape) {
        shown = Shown::kUpdate;
      } else if (live.new_in_shape) {
        shown = Shown::kInsert;
      } else if (live.old_in_shape) {
        shown = Shown::kDelete;
      }
      break;
    case Op::kTruncate:
      break;
  }
  if (shown == Shown::kNothing) return;

  const LiveRows rows = ResolveRows(layout, change);
  if (shown == Shown::kInsert) {
    std::string json =
        InsertMessage(layout, live, rows, RawKey(layout, rows.new_cells), op, nullptr);
    CloseMessage(live.last, &json);
    Emit(live, op, std::move(json), out);
    return;
  }
  if (shown == Shown::kDelete) {
    std::string json =
        DeleteMessage(layout, live, rows, RawKey(layout, rows.old_cells), op, nullptr);
    CloseMessage(live.last, &json);
    Emit(live, op, std::move(json), out);
    return;
  }

  // An update inside the shape.
  const std::string new_key = RawKey(layout, rows.new_cells);
  if (change.old_kind != OldRow::kNone) {
    const std::string old_key = RawKey(layout, rows.old_cells);
    if (old_key != new_key) {
      std::string removal = DeleteMessage(layout, live, rows, old_key, op, &new_key);
      CloseMessage(false, &removal);
      Emit(live, op, std::move(removal), out);
      std::string addition = InsertMessage(layout, live, rows, new_key, op + 1, &old_key);
      CloseMessage(live.last, &addition);
      Emit(live, op + 1, std::move(addition), out);
      return;
    }
  }

  // Which columns changed is known only against a full old row; otherwise every value sent
  // counts as changed.
  const bool old_full = change.old_kind == OldRow::kFull;
  auto changed = [&](int c) {
    const Cell now = rows.New(c);
    if (!now.IsKnown()) return false;
    return !old_full || !(now == rows.Old(c));
  };
  if (old_full && std::none_of(layout.selected.begin(), layout.selected.end(), changed)) return;

  std::string json;
  AppendKeyJson(new_key, &json);
  auto new_cell = [&](int c) { return rows.New(c); };
  if (layout.replica_full) {
    AppendValueObject(
        "value", layout, new_cell, [](int) { return true; }, &json);
    if (old_full) {
      auto old_cell = [&](int c) { return rows.Old(c); };
      AppendValueObject("old_value", layout, old_cell, changed, &json);
    }
  } else {
    AppendValueObject(
        "value", layout, new_cell, [&](int c) { return IsKeyColumn(layout, c) || changed(c); },
        &json);
  }
  AppendHeadersStart(layout, "update", &json);
  AppendLiveHeaders(live, op, &json);
  CloseMessage(live.last, &json);
  Emit(live, op, std::move(json), out);
}

}  // namespace eddy::shape
