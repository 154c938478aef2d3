#include "schema/schema_hash.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "common/json_string.h"
#include "schema/migration_file.h"

namespace eddy::schema {
namespace {

constexpr size_t kHashHexDigits = 16;

std::string QualifiedName(const SyncedTable& t) { return t.schema + "." + t.name; }

void SortTables(std::vector<SyncedTable>* tables) {
  std::sort(tables->begin(), tables->end(), [](const SyncedTable& a, const SyncedTable& b) {
    return QualifiedName(a) < QualifiedName(b);
  });
}

// Length-prefixed, so no name or type can imitate a separator.
void AppendField(std::string_view field, std::string* out) {
  *out += std::to_string(field.size());
  *out += ':';
  *out += field;
  *out += ' ';
}

// Every user table: what a FOR ALL TABLES publication or trigger mode without a table list covers.
constexpr const char* kUserTablesSql =
    "SELECT c.oid::int8, NULL::text[] FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema', $1) "
    "AND n.nspname NOT LIKE 'pg\\_%' "
    // An eddy outbox schema (trigger mode) is never a synced table.
    "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.pronamespace = n.oid "
    "AND p.proname = 'capture_insert')";

std::string SchemaOf(const std::string& qualified) {
  const size_t dot = qualified.find('.');
  return dot == std::string::npos ? "public" : qualified.substr(0, dot);
}
std::string NameOf(const std::string& qualified) {
  const size_t dot = qualified.find('.');
  return dot == std::string::npos ? qualified : qualified.substr(dot + 1);
}

// "{a,b}" from names, as a text[] literal with every element quoted.
std::string TextArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// Parses PostgreSQL's text form of a name[] / text[] ("{a,"b c"}") into its elements.
std::vector<std::string> ParseTextArray(std::string_view text) {
  std::vector<std::string> out;
  if (text.size() < 2) return out;
  text = text.substr(1, text.size() - 2);
  std::string item;
  bool quoted = false;
  bool any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '\\' && i + 1 < text.size()) {
        item += text[++i];
      } else if (c == '"') {
        quoted = false;
      } else {
        item += c;
      }
    } else if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == ',') {
      out.push_back(std::move(item));
      item.clear();
      any = false;
    } else {
      item += c;
      any = true;
    }
  }
  if (any || !item.empty()) out.push_back(std::move(item));
  return out;
}

}  // namespace

SchemaHashOptions SchemaHashOptions::ForWatcher(const WatcherOptions& watcher,
                                                const std::string& history_schema) {
  SchemaHashOptions options;
  options.capture_mode = watcher.capture_mode;
  options.publication = watcher.publication;
  options.tables = watcher.tables;
  options.triggers_schema = watcher.triggers.schema;
  options.history_table = history_schema + ".schema_migrations";
  return options;
}

std::string HashTables(std::vector<SyncedTable> tables) {
  SortTables(&tables);
  std::string canonical;
  for (const SyncedTable& t : tables) {
    canonical += "table ";
    AppendField(t.schema, &canonical);
    AppendField(t.name, &canonical);
    canonical += '\n';
    for (const SyncedColumn& c : t.columns) {
      canonical += "column ";
      AppendField(c.name, &canonical);
      AppendField(c.type, &canonical);
      canonical += c.not_null ? "not-null\n" : "null\n";
    }
    canonical += "key ";
    for (const std::string& k : t.primary_key) AppendField(k, &canonical);
    canonical += '\n';
  }
  return Sha256Hex(canonical).substr(0, kHashHexDigits);
}

std::string SchemaDigest::Json() const {
  std::string out = R"({"hash":)";
  AppendJsonString(hash, &out);
  out += R"(,"tables":[)";
  for (size_t i = 0; i < tables.size(); ++i) {
    const SyncedTable& t = tables[i];
    if (i > 0) out += ',';
    out += R"({"schema":)";
    AppendJsonString(t.schema, &out);
    out += R"(,"name":)";
    AppendJsonString(t.name, &out);
    out += R"(,"columns":[)";
    for (size_t j = 0; j < t.columns.size(); ++j) {
      if (j > 0) out += ',';
      out += R"({"name":)";
      AppendJsonString(t.columns[j].name, &out);
      out += R"(,"type":)";
      AppendJsonString(t.columns[j].type, &out);
      out += t.columns[j].not_null ? R"(,"not_null":true})" : R"(,"not_null":false})";
    }
    out += R"(],"primary_key":[)";
    for (size_t j = 0; j < t.primary_key.size(); ++j) {
      if (j > 0) out += ',';
      AppendJsonString(t.primary_key[j], &out);
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

Result<SchemaDigest> ComputeSchemaDigest(pg::Connection& connection,
                                         const SchemaHashOptions& options) {
  // Step 1: which tables (oid) and, for a publication with a column list, which columns.
  std::optional<pg::QueryResult> selected;
  if (options.capture_mode == "logical") {
    EDDY_ASSIGN_OR_RETURN(pg::QueryResult pub,
                          connection.ExecParams("SELECT 1 FROM pg_catalog.pg_publication WHERE "
                                                "pubname = $1",
                                                {options.publication}));
    if (pub.rows() > 0) {
      // PostgreSQL 15 added column lists (attnames); before that every column is published.
      const std::string columns =
          connection.ServerVersion() >= 150000 ? "pt.attnames::text[]" : "NULL::text[]";
      EDDY_ASSIGN_OR_RETURN(
          selected,
          connection.ExecParams(
              fmt::format("SELECT c.oid::int8, {} FROM pg_catalog.pg_publication_tables pt "
                          "JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname "
                          "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid "
                          "AND c.relname = pt.tablename WHERE pt.pubname = $1",
                          columns),
              {options.publication}));
    }
  }
  if (!selected) {
    if (options.tables.empty()) {
      const std::string excluded =
          options.capture_mode == "triggers" ? options.triggers_schema : std::string("pg_catalog");
      EDDY_ASSIGN_OR_RETURN(selected, connection.ExecParams(kUserTablesSql, {excluded}));
    } else {
      std::vector<std::string> schemas, names;
      for (const std::string& t : options.tables) {
        schemas.push_back(SchemaOf(t));
        names.push_back(NameOf(t));
      }
      EDDY_ASSIGN_OR_RETURN(
          selected,
          connection.ExecParams(
              "SELECT c.oid::int8, NULL::text[] FROM unnest($1::text[], $2::text[]) AS t(s, r) "
              "JOIN pg_catalog.pg_namespace n ON n.nspname = t.s "
              "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.r "
              "WHERE c.relkind IN ('r', 'p')",
              {TextArray(schemas), TextArray(names)}));
    }
  }
  std::vector<std::string> oids;
  std::map<std::string, std::vector<std::string>> column_lists;  // oid -> published columns
  for (int i = 0; i < selected->rows(); ++i) {
    oids.emplace_back(selected->Get(i, 0));
    if (!selected->IsNull(i, 1)) {
      column_lists[oids.back()] = ParseTextArray(selected->Get(i, 1));
    }
  }
  // Step 2: their columns, in attnum order, with each column's place in the primary key.
  // indkey is an int2vector (0-based), so array_position gives 0 for the first key column.
  EDDY_ASSIGN_OR_RETURN(
      pg::QueryResult rows,
      connection.ExecParams(
          "SELECT c.oid::int8, n.nspname, c.relname, a.attname, "
          "format_type(a.atttypid, a.atttypmod), a.attnotnull, "
          "(SELECT array_position(i.indkey::int2[], a.attnum) FROM pg_catalog.pg_index i "
          " WHERE i.indrelid = c.oid AND i.indisprimary) "
          "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
          "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
          "AND NOT a.attisdropped "
          "WHERE c.oid = ANY($1::oid[]) ORDER BY c.oid, a.attnum",
          {"{" + fmt::format("{}", fmt::join(oids, ",")) + "}"}));
  SchemaDigest digest;
  std::map<std::string, size_t> index;  // oid -> position in digest.tables
  std::map<std::string, std::vector<std::pair<int, std::string>>> keys;
  for (int i = 0; i < rows.rows(); ++i) {
    const std::string oid(rows.Get(i, 0));
    auto [it, inserted] = index.emplace(oid, digest.tables.size());
    if (inserted) {
      SyncedTable t;
      t.schema = std::string(rows.Get(i, 1));
      t.name = std::string(rows.Get(i, 2));
      digest.tables.push_back(std::move(t));
    }
    if (rows.IsNull(i, 3)) continue;  // a table without columns
    SyncedTable& table = digest.tables[it->second];
    const std::string column(rows.Get(i, 3));
    if (auto list = column_lists.find(oid);
        list != column_lists.end() &&
        std::find(list->second.begin(), list->second.end(), column) == list->second.end()) {
      continue;  // not in the publication's column list
    }
    table.columns.push_back(
        SyncedColumn{column, std::string(rows.Get(i, 4)), rows.Get(i, 5) == "t"});
    if (!rows.IsNull(i, 6)) keys[oid].emplace_back(std::stoi(std::string(rows.Get(i, 6))), column);
  }
  for (auto& [oid, columns] : keys) {
    std::sort(columns.begin(), columns.end());
    for (auto& [position, name] : columns) {
      digest.tables[index[oid]].primary_key.push_back(std::move(name));
    }
  }
  std::erase_if(digest.tables,
                [&](const SyncedTable& t) { return QualifiedName(t) == options.history_table; });
  SortTables(&digest.tables);
  digest.hash = HashTables(digest.tables);
  return digest;
}

}  // namespace eddy::schema
