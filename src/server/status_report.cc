#include "server/status_report.h"

#include <filesystem>

#include <fmt/format.h>

#include "capture/slot_manager.h"
#include "pg/connection.h"
#include "schema/schema_hash.h"

namespace eddy::server {

Result<std::string> StatusReport(const WatcherOptions& options, const std::string& history_schema) {
  if (options.database_url.empty()) {
    return InvalidArgument("no database: pass --database or set DATABASE_URL");
  }
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> conn,
                        pg::Connection::Connect(options.database_url));
  std::string out;
  auto pub = conn->ExecParams(
      "SELECT p.puballtables, (SELECT count(*) FROM pg_publication_tables t WHERE t.pubname = "
      "p.pubname) FROM pg_publication p WHERE p.pubname = $1",
      {options.publication});
  if (!pub.ok()) return pub.status();
  if (pub->rows() == 0) {
    out += fmt::format("publication  {}: missing (eddy creates it when it starts capturing)\n",
                       options.publication);
  } else {
    out += fmt::format("publication  {}: {} ({} tables)\n", options.publication,
                       pub->Get(0, 0) == "t" ? "all tables" : "table list", pub->Get(0, 1));
  }
  capture::SlotManager slots(*conn);
  EDDY_ASSIGN_OR_RETURN(capture::SlotHealth h, slots.Health(options.slot));
  if (!h.exists) {
    out += fmt::format(
        "slot         {}: missing (eddy creates it on first start; if eddy ran "
        "before, the slot was dropped and changes were lost)\n",
        options.slot);
  } else {
    out += fmt::format(
        "slot         {}: {} wal_status={} confirmed_flush={} restart={} server={}\n"
        "lag          {} bytes behind the server ({} bytes of WAL retained)\n",
        options.slot, h.active ? fmt::format("active (pid {})", h.active_pid) : "inactive",
        h.wal_status, h.confirmed_flush_lsn.ToString(), h.restart_lsn.ToString(),
        h.server_lsn.ToString(), h.lag_bytes, h.retained_bytes);
    if (h.wal_status == "lost") {
      out += "             the slot is invalidated: restart eddy with --recreate-slot and resync\n";
    }
  }
  auto leader = conn->ExecParams(
      "SELECT l.pid, coalesce(a.client_addr::text, 'local'), coalesce(a.application_name, '') "
      "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
      "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND "
      "((l.classid::int8 << 32) | l.objid::int8) = hashtext($1)::int8",
      {"eddy:" + options.slot});
  if (!leader.ok()) return leader.status();
  if (leader->rows() == 0) {
    out += "leader       none (no eddy is capturing this slot)\n";
  } else {
    out +=
        fmt::format("leader       backend pid {} from {}\n", leader->Get(0, 0), leader->Get(0, 1));
  }
  auto digest = schema::ComputeSchemaDigest(
      *conn, schema::SchemaHashOptions::ForWatcher(options, history_schema));
  if (!digest.ok()) return digest.status().WithContext("schema hash");
  out += fmt::format("schema hash: {} ({} synced table{})\n", digest->hash, digest->tables.size(),
                     digest->tables.size() == 1 ? "" : "s");
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(options.data_dir) / "log";
  uint64_t bytes = 0;
  int segments = 0;
  if (std::filesystem::is_directory(dir, ec)) {
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (e.is_regular_file()) {
        bytes += e.file_size();
        ++segments;
      }
    }
    out += fmt::format("log          {}: {} files, {:.1f} MiB\n", dir.string(), segments,
                       static_cast<double>(bytes) / (1 << 20));
  } else {
    out += fmt::format("log          {}: none yet\n", dir.string());
  }
  return out;
}

}  // namespace eddy::server
