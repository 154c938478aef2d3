#include "adapters/watch/catalog.h"

#include <fmt/format.h>

#include "pg/connection.h"

namespace eddy::watch {

Catalog::Catalog(std::string conninfo) : conninfo_(std::move(conninfo)) {}
Catalog::~Catalog() = default;

Result<TableShape> Catalog::Describe(const std::string& schema, const std::string& table) {
  const std::string name = schema + "." + table;
  std::lock_guard<std::mutex> lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  auto it = cache_.find(name);
  if (it == cache_.end() || now - it->second.at > std::chrono::seconds(5)) {
    if (!connection_ || !connection_->IsOk()) {
      auto conn = pg::Connection::Connect(conninfo_);
      if (!conn.ok()) return conn.status();
      connection_ = std::move(conn).value();
    }
    auto res = connection_->ExecParams(
        "SELECT a.attname, coalesce(a.attnum = ANY (i.indkey), false), c.relreplident "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
        "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') "
        "ORDER BY a.attnum",
        {schema, table});
    if (!res.ok()) {
      connection_.reset();
      return res.status();
    }
    Entry e;
    e.at = now;
    e.exists = res->rows() > 0;
    for (int r = 0; r < res->rows(); ++r) {
      e.shape.columns.emplace_back(res->Get(r, 0));
      if (res->Get(r, 1) == "t") e.shape.key_columns.emplace_back(res->Get(r, 0));
      if (!res->Get(r, 2).empty()) e.shape.replica_identity = res->Get(r, 2)[0];
    }
    it = cache_.insert_or_assign(name, std::move(e)).first;
  }
  if (!it->second.exists) return NotFound(fmt::format("table {} does not exist", name));
  return it->second.shape;
}

}  // namespace eddy::watch
