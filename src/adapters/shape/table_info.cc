#include "adapters/shape/table_info.h"

#include <charconv>

#include "common/json_string.h"

namespace eddy::shapes {
namespace {

int ToInt(std::string_view text) {
  int value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

// Electric names interval field masks this way (the typmod's high 16 bits).
std::string IntervalFields(int32_t mask) {
  constexpr int kYear = 1 << 2, kMonth = 1 << 1, kDay = 1 << 3, kHour = 1 << 10, kMinute = 1 << 11,
                kSecond = 1 << 12;
  switch (mask) {
    case kYear:
      return "YEAR";
    case kMonth:
      return "MONTH";
    case kDay:
      return "DAY";
    case kHour:
      return "HOUR";
    case kMinute:
      return "MINUTE";
    case kSecond:
      return "SECOND";
    case kYear | kMonth:
      return "YEAR TO MONTH";
    case kDay | kHour:
      return "DAY TO HOUR";
    case kDay | kHour | kMinute:
      return "DAY TO MINUTE";
    case kDay | kHour | kMinute | kSecond:
      return "DAY TO SECOND";
    case kHour | kMinute:
      return "HOUR TO MINUTE";
    case kHour | kMinute | kSecond:
      return "HOUR TO SECOND";
    case kMinute | kSecond:
      return "MINUTE TO SECOND";
    default:
      return "";
  }
}

}  // namespace

std::vector<where::ColumnType> TableInfo::WhereColumns() const {
  std::vector<where::ColumnType> out;
  out.reserve(columns.size());
  for (const ColumnInfo& c : columns) {
    out.push_back({c.name, c.type_name, c.element_type_name, c.is_enum});
  }
  return out;
}

int TableInfo::ColumnIndex(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::string QuotedTableName(const RelationName& name) {
  return pg::Connection::QuoteIdent(name.schema) + "." + pg::Connection::QuoteIdent(name.name);
}

Result<TableInfo> LoadTableInfo(pg::Connection& connection, const RelationName& name) {
  EDDY_ASSIGN_OR_RETURN(
      pg::QueryResult rel,
      connection.ExecParams("SELECT c.oid, c.relreplident FROM pg_catalog.pg_class c "
                            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
                            {name.schema, name.name}));
  if (rel.rows() == 0) {
    return NotFound("Table " + pg::Connection::QuoteIdent(name.schema) + "." +
                    pg::Connection::QuoteIdent(name.name) +
                    " does not exist. If the table name contains capitals or special characters "
                    "you must quote it.");
  }
  TableInfo info;
  info.name = name;
  info.oid = static_cast<uint32_t>(std::stoul(std::string(rel.Get(0, 0))));
  info.replica_identity = rel.Get(0, 1).empty() ? 'd' : rel.Get(0, 1)[0];
  EDDY_ASSIGN_OR_RETURN(
      pg::QueryResult cols,
      connection.ExecParams(
          "SELECT a.attname, t.typname, a.attndims, a.atttypmod, a.attnotnull, "
          "a.attgenerated <> '', t.typtype = 'e', coalesce(et.typname, ''), "
          "coalesce(et.typtype = 'e', false), "
          "coalesce(array_position(string_to_array(i.indkey::text, ' ')::int2[], a.attnum), 0) "
          "FROM pg_catalog.pg_attribute a "
          "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
          "LEFT JOIN pg_catalog.pg_type et ON t.typcategory = 'A' AND et.oid = t.typelem "
          "LEFT JOIN pg_catalog.pg_index i ON i.indrelid = a.attrelid AND i.indisprimary "
          "WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
          {std::to_string(info.oid)}));
  std::vector<std::pair<int, int>> key;  // (position, column index)
  for (int r = 0; r < cols.rows(); ++r) {
    ColumnInfo c;
    c.name = std::string(cols.Get(r, 0));
    c.type_name = std::string(cols.Get(r, 1));
    c.dims = ToInt(cols.Get(r, 2));
    c.type_modifier = ToInt(cols.Get(r, 3));
    c.not_null = cols.Get(r, 4) == "t";
    c.generated = cols.Get(r, 5) == "t";
    c.element_type_name = std::string(cols.Get(r, 7));
    c.is_enum = cols.Get(r, 6) == "t" || cols.Get(r, 8) == "t";
    const int key_position = ToInt(cols.Get(r, 9));
    if (c.generated) continue;  // pgoutput does not send them; Electric refuses them
    if (key_position > 0) {
      key.emplace_back(key_position, static_cast<int>(info.columns.size()));
    }
    info.columns.push_back(std::move(c));
  }
  std::sort(key.begin(), key.end());
  for (size_t i = 0; i < key.size(); ++i) {
    info.primary_key.push_back(key[i].second);
    info.columns[key[i].second].pk_index = static_cast<int>(i);
  }
  return info;
}

std::string SchemaHeaderJson(const TableInfo& table, const std::vector<int>& selected) {
  std::string json = "{";
  bool first = true;
  for (int index : selected) {
    const ColumnInfo& c = table.columns[index];
    if (!first) json.push_back(',');
    first = false;
    AppendJsonString(c.name, &json);
    json.append(":{\"type\":");
    const bool array = !c.element_type_name.empty();
    const std::string& type = array && c.dims > 0 ? c.element_type_name : c.type_name;
    AppendJsonString(type, &json);
    if (array && c.dims > 0) json.append(",\"dims\":" + std::to_string(c.dims));
    if (c.pk_index >= 0) json.append(",\"pk_index\":" + std::to_string(c.pk_index));
    if (c.not_null) json.append(",\"not_null\":true");
    const int32_t mod = c.type_modifier;
    if (mod > -1) {
      if (type == "varchar" || type == "text") {
        json.append(",\"max_length\":" + std::to_string(mod - 4));
      } else if (type == "bpchar") {
        json.append(",\"length\":" + std::to_string(mod - 4));
      } else if (type == "bit" || type == "varbit") {
        json.append(",\"length\":" + std::to_string(mod));
      } else if (type == "time" || type == "timetz" || type == "timestamp" ||
                 type == "timestamptz") {
        json.append(",\"precision\":" + std::to_string(mod));
      } else if (type == "numeric") {
        const int32_t m = mod - 4;
        json.append(",\"precision\":" + std::to_string((m >> 16) & 0xffff) +
                    ",\"scale\":" + std::to_string(m & 0xffff));
      } else if (type == "interval") {
        const std::string fields = IntervalFields((mod >> 16) & 0x7fff);
        const int precision = mod & 0xffff;
        if (!fields.empty()) {
          json.append(",\"fields\":");
          AppendJsonString(fields, &json);
        }
        if (precision != 0xffff) json.append(",\"precision\":" + std::to_string(precision));
      } else {
        json.append(",\"type_mod\":" + std::to_string(mod));
      }
    }
    json.push_back('}');
  }
  json.push_back('}');
  return json;
}

}  // namespace eddy::shapes
