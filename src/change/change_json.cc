#include "change/change_json.h"

#include <ctime>

#include <fmt/format.h>

#include "change/json_encoder.h"

namespace eddy::change {
namespace {

void AppendKey(const Change& change, std::string* out) {
  const Table& table = *change.table;
  const bool from_old = change.op == Op::kDelete;
  const std::vector<Value>& row = from_old ? change.old_row : change.new_row;
  const bool keyed = table.HasKey();
  out->append("{");
  bool first = true;
  for (size_t i = 0; i < table.columns.size() && i < row.size(); ++i) {
    if (keyed && !table.columns[i].is_key) continue;
    if (row[i].kind == Value::Kind::kUnchanged) continue;
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(table.columns[i].name, out);
    out->push_back(':');
    AppendJsonValue(table.columns[i], row[i], out);
  }
  out->append("}");
}

// Renders `row` restricted to `only` (all columns when null). Unchanged values are skipped and
// their names collected in `unchanged`.
void AppendRow(const Table& table, const std::vector<Value>& row, const std::vector<uint32_t>* only,
               bool key_only_row, std::string* out, std::vector<uint32_t>* unchanged) {
  out->push_back('{');
  bool first = true;
  auto emit = [&](uint32_t i) {
    if (i >= row.size()) return;
    if (key_only_row && !table.columns[i].is_key) return;
    if (row[i].kind == Value::Kind::kUnchanged) {
      if (unchanged) unchanged->push_back(i);
      return;
    }
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(table.columns[i].name, out);
    out->push_back(':');
    AppendJsonValue(table.columns[i], row[i], out);
  };
  if (only) {
    for (uint32_t i : *only) emit(i);
  } else {
    for (uint32_t i = 0; i < row.size(); ++i) emit(i);
  }
  out->push_back('}');
}

}  // namespace

void AppendIsoTimestamp(int64_t unix_micros, std::string* out) {
  int64_t secs = unix_micros / 1000000;
  int64_t micros = unix_micros % 1000000;
  if (micros < 0) {
    micros += 1000000;
    --secs;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  fmt::format_to(std::back_inserter(*out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 micros);
}

void AppendChangeJson(const Change& change, const JsonProjection& projection, std::string* out) {
  const Table& table = *change.table;
  out->append("{\"position\":\"");
  out->append(change.position.ToString());
  out->append("\",\"lsn\":\"");
  out->append(change.position.commit_lsn.ToString());
  fmt::format_to(std::back_inserter(*out), "\",\"xid\":{},\"commit_time\":\"", change.xid.value());
  AppendIsoTimestamp(change.commit_time_us, out);
  out->append("\",\"schema\":");
  AppendJsonString(table.schema, out);
  out->append(",\"table\":");
  AppendJsonString(table.name, out);
  out->append(",\"op\":\"");
  out->append(OpName(change.op));
  fmt::format_to(std::back_inserter(*out), "\",\"schema_version\":{}", table.schema_version);
  if (change.op == Op::kTruncate) {
    fmt::format_to(std::back_inserter(*out), ",\"cascade\":{},\"restart_identity\":{}}}",
                   (change.truncate_flags & 1) != 0, (change.truncate_flags & 2) != 0);
    return;
  }
  out->append(",\"key\":");
  AppendKey(change, out);
  if (projection.rows == JsonProjection::Rows::kKeyOnly) {
    out->push_back('}');
    return;
  }
  const std::vector<uint32_t>* only =
      projection.rows == JsonProjection::Rows::kColumns ? &projection.columns : nullptr;
  std::vector<uint32_t> unchanged;
  if (change.op != Op::kDelete) {
    out->append(",\"new\":");
    AppendRow(table, change.new_row, only, false, out, &unchanged);
  }
  if (change.old_kind != OldRow::kNone && !change.old_row.empty()) {
    out->append(",\"old\":");
    AppendRow(table, change.old_row, only, change.old_kind == OldRow::kKey, out, nullptr);
  }
  if (!unchanged.empty()) {
    out->append(",\"unchanged\":[");
    for (size_t i = 0; i < unchanged.size(); ++i) {
      if (i > 0) out->push_back(',');
      AppendJsonString(table.columns[unchanged[i]].name, out);
    }
    out->push_back(']');
  }
  out->push_back('}');
}

}  // namespace eddy::change
