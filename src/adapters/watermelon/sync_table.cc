#include "adapters/watermelon/sync_table.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace eddy::watermelon {

int SyncTable::ClientColumnIndex(std::string_view client_name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].client_name == client_name) return static_cast<int>(i);
  }
  return -1;
}

namespace {

struct CatalogColumn {
  std::string name;
  std::string sql_type;
  std::string type_name;
  char category = 'U';
  char type_type = 'b';
  bool in_pk = false;
};

Result<std::shared_ptr<const SyncTable>> Resolve(pg::Connection& c, const WatermelonTableConfig& t,
                                                 const std::string& where) {
  EDDY_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      c.ExecParams(
          "SELECT a.attname, format_type(a.atttypid, a.atttypmod), ty.typname, ty.typcategory, "
          "ty.typtype, COALESCE(a.attnum = ANY(i.indkey), false) "
          "FROM pg_class cl JOIN pg_namespace n ON n.oid = cl.relnamespace "
          "JOIN pg_attribute a ON a.attrelid = cl.oid AND a.attnum > 0 AND NOT a.attisdropped "
          "JOIN pg_type ty ON ty.oid = a.atttypid "
          "LEFT JOIN pg_index i ON i.indrelid = cl.oid AND i.indisprimary "
          "WHERE n.nspname = $1 AND cl.relname = $2 AND cl.relkind IN ('r', 'p') "
          "ORDER BY a.attnum",
          {t.schema, t.table}));
  if (r.rows() == 0) {
    return InvalidArgument(
        fmt::format("{}.table: table \"{}.{}\" does not exist (create it first, or fix the name)",
                    where, t.schema, t.table));
  }
  std::vector<CatalogColumn> catalog;
  for (int i = 0; i < r.rows(); ++i) {
    CatalogColumn col;
    col.name = std::string(r.Get(i, 0));
    col.sql_type = std::string(r.Get(i, 1));
    col.type_name = std::string(r.Get(i, 2));
    col.category = r.Get(i, 3).empty() ? 'U' : r.Get(i, 3)[0];
    col.type_type = r.Get(i, 4).empty() ? 'b' : r.Get(i, 4)[0];
    col.in_pk = r.Get(i, 5) == "t";
    catalog.push_back(std::move(col));
  }
  auto find = [&](const std::string& name) -> const CatalogColumn* {
    for (const CatalogColumn& col : catalog) {
      if (col.name == name) return &col;
    }
    return nullptr;
  };
  auto table = std::make_shared<SyncTable>();
  table->schema = t.schema;
  table->name = t.table;
  table->qualified = t.schema + "." + t.table;
  table->quoted = pg::Connection::QuoteIdent(t.schema) + "." + pg::Connection::QuoteIdent(t.table);
  table->client_table = t.client_table.empty() ? t.table : t.client_table;
  table->scope_column = t.scope_column;
  table->scope_claim = t.scope_claim;
  table->table_added_in = t.table_added_in;
  if (t.id_column.empty()) {
    std::vector<const CatalogColumn*> pk;
    for (const CatalogColumn& col : catalog) {
      if (col.in_pk) pk.push_back(&col);
    }
    if (pk.size() != 1) {
      return InvalidArgument(fmt::format(
          "{}.id_column: {} has {} primary key columns; name the column that holds the client's "
          "ids (a unique column) with id_column",
          where, table->qualified, pk.size()));
    }
    table->id_column = pk[0]->name;
  } else {
    if (find(t.id_column) == nullptr) {
      return InvalidArgument(fmt::format("{}.id_column: {} has no column \"{}\"", where,
                                         table->qualified, t.id_column));
    }
    table->id_column = t.id_column;
  }
  table->id_sql_type = find(table->id_column)->sql_type;
  std::vector<std::string> names = t.columns;
  if (names.empty()) {
    for (const CatalogColumn& col : catalog) {
      if (col.name != table->id_column) names.push_back(col.name);
    }
  }
  std::set<std::string> client_names;
  for (const std::string& name : names) {
    const CatalogColumn* col = find(name);
    if (col == nullptr) {
      return InvalidArgument(
          fmt::format("{}.columns: {} has no column \"{}\"", where, table->qualified, name));
    }
    if (name == table->id_column) {
      return InvalidArgument(fmt::format(
          "{}.columns: \"{}\" is the id column (it travels as \"id\"); leave it out", where, name));
    }
    SyncColumn sc;
    sc.name = name;
    auto renamed = t.rename.find(name);
    sc.client_name = renamed == t.rename.end() ? name : renamed->second;
    sc.sql_type = col->sql_type;
    sc.kind = KindOfType(col->type_name, col->category, col->type_type);
    sc.server_owned =
        std::find(t.server_owned.begin(), t.server_owned.end(), name) != t.server_owned.end();
    auto added = t.added_in.find(name);
    if (added != t.added_in.end()) sc.added_in = added->second;
    if (sc.client_name == "id" || sc.client_name == "_status" || sc.client_name == "_changed") {
      return InvalidArgument(fmt::format(
          "{}.rename: column \"{}\" would reach the client as the reserved name \"{}\"; rename "
          "it",
          where, name, sc.client_name));
    }
    if (!client_names.insert(sc.client_name).second) {
      return InvalidArgument(
          fmt::format("{}.rename: two columns reach the client as \"{}\"", where, sc.client_name));
    }
    table->columns.push_back(std::move(sc));
  }
  for (const auto& [server, client] : t.rename) {
    if (std::find(names.begin(), names.end(), server) == names.end()) {
      return InvalidArgument(
          fmt::format("{}.rename.{}: not a synced column of {}", where, server, table->qualified));
    }
  }
  for (const std::string& owned : t.server_owned) {
    if (find(owned) == nullptr) {
      return InvalidArgument(
          fmt::format("{}.server_owned: {} has no column \"{}\"", where, table->qualified, owned));
    }
  }
  for (const auto& [column, version] : t.added_in) {
    if (std::find(names.begin(), names.end(), column) == names.end()) {
      return InvalidArgument(fmt::format("{}.added_in.{}: not a synced column of {}", where, column,
                                         table->qualified));
    }
  }
  if (!t.scope_column.empty()) {
    const CatalogColumn* scope = find(t.scope_column);
    if (scope == nullptr) {
      return InvalidArgument(fmt::format("{}.scope_column: {} has no column \"{}\"", where,
                                         table->qualified, t.scope_column));
    }
    table->scope_sql_type = scope->sql_type;
  }
  return std::shared_ptr<const SyncTable>(std::move(table));
}

}  // namespace

Result<std::vector<std::shared_ptr<const SyncTable>>> ResolveTables(
    pg::Connection& connection, const WatermelonConfig& config) {
  std::vector<std::shared_ptr<const SyncTable>> out;
  for (size_t i = 0; i < config.tables.size(); ++i) {
    EDDY_ASSIGN_OR_RETURN(
        std::shared_ptr<const SyncTable> t,
        Resolve(connection, config.tables[i], fmt::format("watermelon.tables[{}]", i)));
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace eddy::watermelon
