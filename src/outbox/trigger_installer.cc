#include "outbox/trigger_installer.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "outbox/outbox_sql.h"
#include "outbox/trigger_names.h"
#include "pg/connection.h"

namespace eddy::outbox {

namespace {
constexpr Op kOps[] = {Op::kInsert, Op::kUpdate, Op::kDelete, Op::kTruncate};

uint32_t ParseOid(std::string_view text) {
  uint32_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v;
}
}  // namespace

TriggerInstaller::TriggerInstaller(pg::Connection& connection, TriggerOptions options,
                                   std::vector<std::string> tables)
    : connection_(connection), options_(std::move(options)), tables_(std::move(tables)) {}

Result<std::vector<CapturedTable>> TriggerInstaller::ConfiguredTables() {
  std::vector<CapturedTable> out;
  if (tables_.empty()) {
    EDDY_ASSIGN_OR_RETURN(
        pg::QueryResult r,
        connection_.ExecParams(
            "SELECT c.oid::int8, n.nspname, c.relname FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema', $1) "
            "AND n.nspname NOT LIKE 'pg\\_%' "
            // Another eddy's outbox schema: capturing its outbox would recurse.
            "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_proc p WHERE p.pronamespace = n.oid "
            "AND p.proname = 'capture_insert') ORDER BY n.nspname, c.relname",
            {options_.schema}));
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back(
          CapturedTable{ParseOid(r.Get(i, 0)), std::string(r.Get(i, 1)), std::string(r.Get(i, 2))});
    }
    return out;
  }
  for (const std::string& t : tables_) {
    const size_t dot = t.find('.');
    const std::string schema = dot == std::string::npos ? "public" : t.substr(0, dot);
    const std::string name = dot == std::string::npos ? t : t.substr(dot + 1);
    EDDY_ASSIGN_OR_RETURN(pg::QueryResult r,
                          connection_.ExecParams(
                              "SELECT c.oid::int8, n.nspname, c.relname FROM pg_catalog.pg_class c "
                              "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                              "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
                              {schema, name}));
    if (r.rows() != 1) {
      return NotFound(fmt::format(
          "capture.tables: table \"{}.{}\" does not exist (or is not a table): create it or "
          "remove it from capture.tables",
          schema, name));
    }
    out.push_back(
        CapturedTable{ParseOid(r.Get(0, 0)), std::string(r.Get(0, 1)), std::string(r.Get(0, 2))});
  }
  return out;
}

Result<std::vector<InstalledTrigger>> TriggerInstaller::ListTriggers() {
  EDDY_ASSIGN_OR_RETURN(std::vector<CapturedTable> configured, ConfiguredTables());
  std::set<uint32_t> wanted;
  for (const CapturedTable& t : configured) wanted.insert(t.oid);
  EDDY_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      connection_.ExecParams(
          "SELECT t.tgname, n.nspname, c.relname, c.oid::int8, p.proname "
          "FROM pg_catalog.pg_trigger t "
          "JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid "
          "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
          "JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid "
          "JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace "
          "WHERE pn.nspname = $1 AND p.proname LIKE 'capture\\_%' AND t.tgparentid = 0 "
          "AND NOT t.tgisinternal ORDER BY n.nspname, c.relname, t.tgname",
          {options_.schema}));
  std::vector<InstalledTrigger> out;
  for (int i = 0; i < r.rows(); ++i) {
    InstalledTrigger t;
    t.name = std::string(r.Get(i, 0));
    t.schema = std::string(r.Get(i, 1));
    t.table = std::string(r.Get(i, 2));
    t.table_oid = ParseOid(r.Get(i, 3));
    t.function = std::string(r.Get(i, 4));
    t.stale = wanted.count(t.table_oid) == 0;
    out.push_back(std::move(t));
  }
  return out;
}

Result<bool> TriggerInstaller::OutboxExists() {
  EDDY_ASSIGN_OR_RETURN(pg::QueryResult r,
                        connection_.ExecParams("SELECT pg_catalog.to_regclass($1) IS NOT NULL",
                                               {OutboxTable(options_.schema)}));
  return r.Get(0, 0) == "t";
}

Result<int> TriggerInstaller::Install() {
  // Concurrent CREATE OR REPLACE FUNCTION from two installers fails with "tuple concurrently
  // updated"; the leader lock makes eddy the only installer, but a retry is cheap.
  Status s = connection_.Exec(OutboxDdl(options_.schema, options_.channel)).status();
  if (!s.ok()) s = connection_.Exec(OutboxDdl(options_.schema, options_.channel)).status();
  if (!s.ok()) {
    return s.WithContext(fmt::format(
        "cannot create the outbox in schema \"{}\" (eddy's role needs CREATE on the database "
        "or an existing schema it owns; see docs/triggers.md)",
        options_.schema));
  }
  const std::string event_trigger = EventTriggerName(options_.schema);
  if (tables_.empty()) {
    Status e = connection_.Exec(NewTablesDdl(options_.schema)).status();
    if (!e.ok()) {
      spdlog::info(
          "triggers: no event trigger for new tables ({}); tables created later are found within "
          "seconds, and rows written before then are not captured",
          e.message());
    }
  } else {
    // Capturing a list of tables: new tables are not eddy's business.
    Status e = connection_
                   .Exec(fmt::format("DROP EVENT TRIGGER IF EXISTS {}",
                                     pg::Connection::QuoteIdent(event_trigger)))
                   .status();
    (void)e;  // not superuser: there was none to drop
  }
  return CreateTriggers(/*warn_stale=*/true);
}

Result<int> TriggerInstaller::InstallMissing() { return CreateTriggers(/*warn_stale=*/false); }

Result<int> TriggerInstaller::CreateTriggers(bool warn_stale) {
  EDDY_ASSIGN_OR_RETURN(std::vector<CapturedTable> configured, ConfiguredTables());
  // What exists, with its argument (the OID the trigger reports): a table dropped and created
  // again under the same name has a new OID, so its trigger is replaced.
  EDDY_ASSIGN_OR_RETURN(
      pg::QueryResult r,
      connection_.ExecParams(
          "SELECT t.tgrelid::int8, t.tgname, "
          "pg_catalog.split_part(pg_catalog.encode(t.tgargs, 'escape'), '\\000', 1) "
          "FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid "
          "JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace "
          "WHERE pn.nspname = $1 AND p.proname LIKE 'capture\\_%' AND t.tgparentid = 0",
          {options_.schema}));
  std::map<std::pair<uint32_t, std::string>, std::string> existing;
  for (int i = 0; i < r.rows(); ++i) {
    existing[{ParseOid(r.Get(i, 0)), std::string(r.Get(i, 1))}] = std::string(r.Get(i, 2));
  }
  int created = 0;
  for (const CapturedTable& t : configured) {
    const std::string qualified =
        pg::Connection::QuoteIdent(t.schema) + "." + pg::Connection::QuoteIdent(t.name);
    for (Op op : kOps) {
      auto it = existing.find({t.oid, TriggerName(options_.schema, op, t.name)});
      if (it != existing.end() && it->second == std::to_string(t.oid)) continue;
      Status s = connection_.Exec(CreateTriggerSql(op, options_.schema, t.name, qualified, t.oid))
                     .status();
      if (!s.ok()) {
        return s.WithContext(
            fmt::format("cannot create trigger {} on {} (eddy's role must own the table)",
                        TriggerName(options_.schema, op, t.name), t.QualifiedName()));
      }
      ++created;
    }
  }
  if (created > 0) spdlog::info("triggers: installed {} trigger(s)", created);
  if (warn_stale) {
    EDDY_ASSIGN_OR_RETURN(std::vector<InstalledTrigger> all, ListTriggers());
    for (const InstalledTrigger& t : all) {
      if (!t.stale) continue;
      spdlog::warn(
          "triggers: {} on {}.{} is stale (the table is not configured for capture); remove it "
          "with `eddy triggers --cleanup`",
          t.name, t.schema, t.table);
    }
  }
  return created;
}

Result<int> TriggerInstaller::DropStale() {
  EDDY_ASSIGN_OR_RETURN(std::vector<InstalledTrigger> all, ListTriggers());
  int dropped = 0;
  for (const InstalledTrigger& t : all) {
    if (!t.stale) continue;
    EDDY_RETURN_IF_ERROR(connection_
                             .Exec(fmt::format("DROP TRIGGER IF EXISTS {} ON {}.{}",
                                               pg::Connection::QuoteIdent(t.name),
                                               pg::Connection::QuoteIdent(t.schema),
                                               pg::Connection::QuoteIdent(t.table)))
                             .status());
    ++dropped;
  }
  return dropped;
}

}  // namespace eddy::outbox
