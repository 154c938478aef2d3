#include "adapters/shape/snapshot.h"

#include <algorithm>
#include <charconv>

#include <libpq-fe.h>

#include "common/json_string.h"

namespace eddy::shapes {
namespace {

uint64_t ToU64(std::string_view text) {
  uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

// "xmin:xmax:xip1,xip2"
SnapshotVisibility ParseSnapshot(std::string_view text) {
  SnapshotVisibility v;
  const size_t a = text.find(':');
  const size_t b = text.find(':', a + 1);
  if (a == std::string_view::npos || b == std::string_view::npos) return v;
  v.xmin = ToU64(text.substr(0, a));
  v.xmax = ToU64(text.substr(a + 1, b - a - 1));
  std::string_view rest = text.substr(b + 1);
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    v.xip.push_back(ToU64(rest.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return v;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool SnapshotVisibility::Visible(uint32_t xid) const {
  // Widen against xmax: the 64-bit id whose low half is xid and that is nearest below xmax + 2^31.
  const uint64_t epoch_base = xmax & ~uint64_t{0xffffffff};
  uint64_t full = epoch_base | xid;
  if (full > xmax + (uint64_t{1} << 31)) full -= uint64_t{1} << 32;
  if (full < xmin) return true;
  if (full >= xmax) return false;
  for (uint64_t in_progress : xip) {
    if (in_progress == full) return false;
  }
  return true;
}

std::string SnapshotVisibility::XipJson() const {
  std::string json = "[";
  for (size_t i = 0; i < xip.size(); ++i) {
    if (i > 0) json.push_back(',');
    json.append("\"" + std::to_string(xip[i]) + "\"");
  }
  json.push_back(']');
  return json;
}

bool DecodeCopyLine(std::string_view line, std::vector<std::string>* storage,
                    std::vector<std::optional<std::string_view>>* fields) {
  fields->clear();
  // Sized up front: growing it while decoding would move strings that fields already point to.
  const size_t count = static_cast<size_t>(std::count(line.begin(), line.end(), '\t')) + 1;
  if (storage->size() < count) storage->resize(count);
  size_t used = 0;
  size_t start = 0;
  for (;;) {
    size_t end = line.find('\t', start);
    std::string_view raw = line.substr(start, end == std::string_view::npos ? end : end - start);
    if (raw == "\\N") {
      fields->push_back(std::nullopt);
    } else if (raw.find('\\') == std::string_view::npos) {
      fields->push_back(raw);
    } else {
      std::string& out = (*storage)[used++];
      out.clear();
      for (size_t i = 0; i < raw.size(); ++i) {
        char c = raw[i];
        if (c != '\\' || i + 1 >= raw.size()) {
          out.push_back(c);
          continue;
        }
        char next = raw[++i];
        switch (next) {
          case 'b':
            out.push_back('\b');
            break;
          case 'f':
            out.push_back('\f');
            break;
          case 'n':
            out.push_back('\n');
            break;
          case 'r':
            out.push_back('\r');
            break;
          case 't':
            out.push_back('\t');
            break;
          case 'v':
            out.push_back('\v');
            break;
          case 'x': {
            int value = 0, digits = 0;
            while (digits < 2 && i + 1 < raw.size() && HexValue(raw[i + 1]) >= 0) {
              value = value * 16 + HexValue(raw[++i]);
              ++digits;
            }
            if (digits == 0) return false;
            out.push_back(static_cast<char>(value));
            break;
          }
          default:
            if (next >= '0' && next <= '7') {
              int value = next - '0', digits = 1;
              while (digits < 3 && i + 1 < raw.size() && raw[i + 1] >= '0' && raw[i + 1] <= '7') {
                value = value * 8 + (raw[++i] - '0');
                ++digits;
              }
              out.push_back(static_cast<char>(value & 0xff));
            } else {
              out.push_back(next);
            }
        }
      }
      fields->push_back(std::string_view(out));
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return true;
}

Result<SnapshotVisibility> RunSnapshot(pg::Connection& connection, const SnapshotQuery& query,
                                       const std::function<Status(shape::RowText)>& on_row) {
  EDDY_RETURN_IF_ERROR(connection.Exec(kValueSettingsSql).status());
  EDDY_RETURN_IF_ERROR(connection.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").status());
  // The first statement takes the transaction's snapshot; everything after sees the same data.
  auto info = connection.Exec(
      "SELECT pg_catalog.pg_current_snapshot()::text, "
      "(pg_catalog.pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::text");
  if (!info.ok()) {
    (void)connection.Exec("ROLLBACK");
    return info.status();
  }
  SnapshotVisibility visibility = ParseSnapshot(info->Get(0, 0));
  visibility.wal_lsn = ToU64(info->Get(0, 1));

  std::string sql = "COPY (SELECT ";
  for (size_t i = 0; i < query.columns.size(); ++i) {
    if (i > 0) sql.append(", ");
    sql.append(pg::Connection::QuoteIdent(query.table->columns[query.columns[i]].name));
  }
  sql.append(" FROM " + QuotedTableName(query.table->name));
  if (!query.where_sql.empty()) sql.append(" WHERE " + query.where_sql);
  sql.append(query.tail_sql);
  sql.append(") TO STDOUT");
  auto started = connection.Exec(sql);
  if (!started.ok()) {
    (void)connection.Exec("ROLLBACK");
    return started.status();
  }

  PGconn* conn = connection.raw();
  std::vector<std::optional<std::string_view>> row(query.table->columns.size());
  std::vector<std::string> storage;
  std::vector<std::optional<std::string_view>> fields;
  Status failure;
  for (;;) {
    char* buffer = nullptr;
    const int n = PQgetCopyData(conn, &buffer, 0);
    if (n == -1) break;
    if (n == -2) {
      failure = Unavailable(std::string("snapshot: COPY failed: ") + PQerrorMessage(conn));
      break;
    }
    std::string_view line(buffer, static_cast<size_t>(n));
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    if (failure.ok()) {
      if (!DecodeCopyLine(line, &storage, &fields) || fields.size() != query.columns.size()) {
        failure = Internal("snapshot: a COPY row could not be read");
      } else {
        for (size_t i = 0; i < query.columns.size(); ++i) row[query.columns[i]] = fields[i];
        failure = on_row(row);
      }
    }
    PQfreemem(buffer);
  }
  // Collect COPY's final result.
  while (PGresult* result = PQgetResult(conn)) {
    if (failure.ok() && PQresultStatus(result) != PGRES_COMMAND_OK) {
      failure = InvalidArgument(std::string(PQresultErrorMessage(result)));
    }
    PQclear(result);
  }
  (void)connection.Exec(failure.ok() ? "COMMIT" : "ROLLBACK");
  if (!failure.ok()) return failure;
  return visibility;
}

}  // namespace eddy::shapes
