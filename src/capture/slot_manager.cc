#include "capture/slot_manager.h"

#include <algorithm>

#include <fmt/format.h>

#include "pg/connection.h"

namespace eddy::capture {

Status SlotManager::CheckServer() {
  auto res = connection_.Exec(
      "SELECT current_setting('wal_level'), current_setting('server_version_num')::int");
  if (!res.ok()) return res.status().WithContext("cannot read server settings");
  if (res->Get(0, 0) != "logical") {
    return FailedPrecondition(fmt::format(
        "PostgreSQL has wal_level={} but logical replication needs wal_level=logical: run "
        "ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL (or use capture mode "
        "\"triggers\")",
        res->Get(0, 0)));
  }
  int version = std::stoi(std::string(res->Get(0, 1)));
  if (version < 140000) {
    return FailedPrecondition(fmt::format(
        "PostgreSQL {} is too old: eddy needs 14 or later (pgoutput protocol 2)", version));
  }
  return Status::Ok();
}

Status SlotManager::EnsurePublication(const std::string& name,
                                      const std::vector<std::string>& tables) {
  auto res =
      connection_.ExecParams("SELECT puballtables FROM pg_publication WHERE pubname = $1", {name});
  if (!res.ok()) return res.status().WithContext("cannot read pg_publication");
  std::string quoted = pg::Connection::QuoteIdent(name);
  if (res->rows() == 0) {
    std::string sql;
    if (tables.empty()) {
      sql = fmt::format("CREATE PUBLICATION {} FOR ALL TABLES", quoted);
    } else {
      std::vector<std::string> parts;
      for (const std::string& t : tables) {
        size_t dot = t.find('.');
        std::string schema = dot == std::string::npos ? "public" : t.substr(0, dot);
        std::string table = dot == std::string::npos ? t : t.substr(dot + 1);
        parts.push_back(pg::Connection::QuoteIdent(schema) + "." +
                        pg::Connection::QuoteIdent(table));
      }
      sql = fmt::format("CREATE PUBLICATION {} FOR TABLE {}", quoted, fmt::join(parts, ", "));
    }
    auto created = connection_.Exec(sql);
    if (!created.ok())
      return created.status().WithContext(fmt::format("cannot create publication {}", name));
    return Status::Ok();
  }
  const bool all = res->Get(0, 0) == "t";
  if (tables.empty()) {
    if (!all) {
      return FailedPrecondition(fmt::format(
          "publication \"{}\" exists but is not FOR ALL TABLES, and eddy is configured for all "
          "tables: list the tables in capture.tables, or drop the publication so eddy creates it",
          name));
    }
    return Status::Ok();
  }
  auto listed = connection_.ExecParams(
      "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1",
      {name});
  if (!listed.ok()) return listed.status().WithContext("cannot read pg_publication_tables");
  std::vector<std::string> have;
  for (int i = 0; i < listed->rows(); ++i) have.emplace_back(listed->Get(i, 0));
  for (const std::string& t : tables) {
    std::string full = t.find('.') == std::string::npos ? "public." + t : t;
    if (std::find(have.begin(), have.end(), full) == have.end()) {
      return FailedPrecondition(fmt::format(
          "publication \"{}\" does not include {}: run ALTER PUBLICATION {} ADD TABLE {};", name,
          full, quoted, full));
    }
  }
  return Status::Ok();
}

Result<SlotHealth> SlotManager::Health(const std::string& slot) {
  auto res = connection_.ExecParams(
      "SELECT s.active, coalesce(s.active_pid, 0), s.plugin, coalesce(s.wal_status, ''), "
      "coalesce(s.restart_lsn, '0/0'), coalesce(s.confirmed_flush_lsn, '0/0'), "
      "pg_current_wal_lsn(), "
      "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn), 0)::int8, "
      "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn), 0)::int8, "
      "coalesce(s.database, ''), coalesce(s.database = current_database(), false) "
      "FROM pg_replication_slots s WHERE s.slot_name = $1",
      {slot});
  if (!res.ok()) return res.status().WithContext("cannot read pg_replication_slots");
  SlotHealth h;
  if (res->rows() == 0) {
    auto now = connection_.Exec("SELECT pg_current_wal_lsn()");
    if (now.ok()) h.server_lsn = Lsn::Parse(now->Get(0, 0)).value_or(Lsn());
    return h;
  }
  h.exists = true;
  h.active = res->Get(0, 0) == "t";
  h.active_pid = std::stoi(std::string(res->Get(0, 1)));
  h.plugin = std::string(res->Get(0, 2));
  h.wal_status = std::string(res->Get(0, 3));
  h.restart_lsn = Lsn::Parse(res->Get(0, 4)).value_or(Lsn());
  h.confirmed_flush_lsn = Lsn::Parse(res->Get(0, 5)).value_or(Lsn());
  h.server_lsn = Lsn::Parse(res->Get(0, 6)).value_or(Lsn());
  h.lag_bytes = std::stoll(std::string(res->Get(0, 7)));
  h.retained_bytes = std::stoll(std::string(res->Get(0, 8)));
  h.database = std::string(res->Get(0, 9));
  h.this_database = res->Get(0, 10) == "t";
  return h;
}

Status SlotManager::CreateSlot(const std::string& slot) {
  auto res = connection_.ExecParams(
      "SELECT lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')", {slot});
  if (!res.ok())
    return res.status().WithContext(fmt::format("cannot create replication slot {}", slot));
  return Status::Ok();
}

Status SlotManager::DropSlot(const std::string& slot) {
  auto res = connection_.ExecParams("SELECT pg_drop_replication_slot($1)", {slot});
  if (!res.ok())
    return res.status().WithContext(fmt::format("cannot drop replication slot {}", slot));
  return Status::Ok();
}

}  // namespace eddy::capture
