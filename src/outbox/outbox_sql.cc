#include "outbox/outbox_sql.h"

#include <fmt/format.h>

#include "outbox/trigger_names.h"
#include "pg/connection.h"

namespace eddy::outbox {

namespace {
using pg::Connection;

std::string Q(std::string_view ident) { return Connection::QuoteIdent(ident); }

// One trigger function. `row_values` is the VALUES list after rel and op.
std::string FunctionSql(std::string_view schema, std::string_view channel, Op op,
                        std::string_view columns, std::string_view row_values) {
  const std::string doorbell = Connection::QuoteLiteral(fmt::format("{}.doorbell", Q(schema)));
  return fmt::format(
      "CREATE OR REPLACE FUNCTION {schema}.{fn}() RETURNS trigger LANGUAGE plpgsql "
      "SECURITY DEFINER SET DateStyle = 'ISO' SET IntervalStyle = 'iso_8601' "
      "SET TimeZone = 'UTC' SET extra_float_digits = 3 SET bytea_output = 'hex' AS $eddy$\n"
      "DECLARE outbox_id bigint;\n"
      "BEGIN\n"
      "  INSERT INTO {schema}.outbox (rel, op{columns}) VALUES (TG_ARGV[0]::oid, '{op}'{values})\n"
      "    RETURNING id INTO outbox_id;\n"
      "  IF pg_catalog.nextval({doorbell}) = 1 THEN\n"
      "    PERFORM pg_catalog.pg_notify({channel}, outbox_id::text);\n"
      "  END IF;\n"
      "  RETURN NULL;\n"
      "END $eddy$;\n",
      fmt::arg("schema", Q(schema)), fmt::arg("fn", Q(TriggerFunctionName(op))),
      fmt::arg("columns", columns), fmt::arg("op", static_cast<char>(op)),
      fmt::arg("values", row_values), fmt::arg("doorbell", doorbell),
      fmt::arg("channel", Connection::QuoteLiteral(channel)));
}
}  // namespace

std::string OutboxTable(std::string_view schema) { return Q(schema) + ".outbox"; }

std::string EventTriggerName(std::string_view schema) {
  return LengthSafeName(fmt::format("eddy_{}_new_tables", schema));
}

std::string NewTablesDdl(std::string_view schema) {
  const std::string prefix = schema == "eddy" ? "eddy_" : fmt::format("eddy_{}_", schema);
  std::string create_triggers;
  for (Op op : {Op::kInsert, Op::kUpdate, Op::kDelete, Op::kTruncate}) {
    create_triggers += fmt::format(
        "    EXECUTE pg_catalog.format('CREATE OR REPLACE TRIGGER %I AFTER {event} ON %I.%I FOR "
        "EACH {level} EXECUTE FUNCTION %I.{fn}(%L)', {s}.trigger_name('{event}', rel.relname), "
        "rel.nspname, rel.relname, {schema_lit}, rel.oid::text);\n",
        fmt::arg("event", OpWord(op)), fmt::arg("level", op == Op::kTruncate ? "STATEMENT" : "ROW"),
        fmt::arg("fn", TriggerFunctionName(op)), fmt::arg("s", Q(schema)),
        fmt::arg("schema_lit", Connection::QuoteLiteral(schema)));
  }
  return fmt::format(
      // FNV-1a and the UTF-8-safe cut of LengthSafeName, in SQL.
      "CREATE OR REPLACE FUNCTION {s}.trigger_name(op text, tbl text) RETURNS text "
      "LANGUAGE plpgsql IMMUTABLE AS $eddy$\n"
      "DECLARE full_name text := {prefix} || op || '_' || tbl;\n"
      "  b bytea := pg_catalog.convert_to(full_name, 'UTF8'); h bigint := 2166136261; k int;\n"
      "BEGIN\n"
      "  IF pg_catalog.length(b) <= 63 THEN RETURN full_name; END IF;\n"
      "  FOR i IN 0 .. pg_catalog.length(b) - 1 LOOP\n"
      "    h := ((h # pg_catalog.get_byte(b, i)) * 16777619) % 4294967296;\n"
      "  END LOOP;\n"
      "  k := 54;\n"
      "  WHILE k > 0 AND (pg_catalog.get_byte(b, k) & 192) = 128 LOOP k := k - 1; END LOOP;\n"
      "  RETURN pg_catalog.convert_from(pg_catalog.substr(b, 1, k), 'UTF8') || '_' ||\n"
      "    pg_catalog.lpad(pg_catalog.to_hex(h), 8, '0');\n"
      "END $eddy$;\n"
      "CREATE OR REPLACE FUNCTION {s}.on_create_table() RETURNS event_trigger LANGUAGE plpgsql "
      "SECURITY DEFINER AS $eddy$\n"
      "DECLARE r record; rel record;\n"
      "BEGIN\n"
      "  FOR r IN SELECT objid FROM pg_catalog.pg_event_trigger_ddl_commands() "
      "WHERE object_type = 'table' LOOP\n"
      "    SELECT c.oid, n.nspname, c.relname, c.relkind, c.relispartition INTO rel "
      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE c.oid = r.objid;\n"
      "    CONTINUE WHEN NOT FOUND OR rel.relkind NOT IN ('r', 'p') OR rel.relispartition OR "
      "rel.nspname IN ('pg_catalog', 'information_schema', {schema_lit}) OR "
      "rel.nspname LIKE 'pg\\_%' OR EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN "
      "pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace WHERE pn.nspname = rel.nspname "
      "AND p.proname = 'capture_insert');\n"
      "{create_triggers}"
      "  END LOOP;\n"
      "END $eddy$;\n"
      "DO $eddy$ BEGIN\n"
      "  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = {evt_lit}) "
      "THEN\n"
      "    CREATE EVENT TRIGGER {evt} ON ddl_command_end WHEN TAG IN ('CREATE TABLE', "
      "'CREATE TABLE AS', 'SELECT INTO') EXECUTE FUNCTION {s}.on_create_table();\n"
      "  END IF;\n"
      "END $eddy$;\n",
      fmt::arg("s", Q(schema)), fmt::arg("prefix", Connection::QuoteLiteral(prefix)),
      fmt::arg("schema_lit", Connection::QuoteLiteral(schema)),
      fmt::arg("create_triggers", create_triggers),
      fmt::arg("evt_lit", Connection::QuoteLiteral(EventTriggerName(schema))),
      fmt::arg("evt", Q(EventTriggerName(schema))));
}

std::string ArmDoorbellSql(std::string_view schema) {
  return fmt::format("SELECT pg_catalog.setval({}, 1, false)",
                     Connection::QuoteLiteral(fmt::format("{}.doorbell", Q(schema))));
}

std::string OutboxDdl(std::string_view schema, std::string_view channel) {
  // The functions come before the outbox table: another eddy's event trigger, which fires on the
  // table's creation, recognises an eddy schema by its capture_insert function and leaves it be.
  std::string sql = fmt::format(
      "CREATE SCHEMA IF NOT EXISTS {s};\n"
      "CREATE SEQUENCE IF NOT EXISTS {s}.doorbell;\n",
      fmt::arg("s", Q(schema)));
  sql += FunctionSql(schema, channel, Op::kInsert, ", new_row", ", NEW::text");
  sql += FunctionSql(schema, channel, Op::kUpdate, ", old_row, new_row", ", OLD::text, NEW::text");
  sql += FunctionSql(schema, channel, Op::kDelete, ", old_row", ", OLD::text");
  sql += FunctionSql(schema, channel, Op::kTruncate, "", "");
  sql += fmt::format(
      "CREATE TABLE IF NOT EXISTS {s}.outbox (\n"
      "  id bigserial NOT NULL,\n"
      "  xid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),\n"
      "  rel oid NOT NULL,\n"
      "  op \"char\" NOT NULL,\n"
      "  at timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),\n"
      "  old_row text,\n"
      "  new_row text);\n",
      fmt::arg("s", Q(schema)));
  return sql;
}

std::string CreateTriggerSql(Op op, std::string_view schema, std::string_view table_name,
                             std::string_view qualified_table, uint32_t relation_oid) {
  return fmt::format(
      "CREATE OR REPLACE TRIGGER {name} AFTER {event} ON {table} FOR EACH {level} "
      "EXECUTE FUNCTION {schema}.{fn}('{oid}')",
      fmt::arg("name", Q(TriggerName(schema, op, table_name))), fmt::arg("event", OpWord(op)),
      fmt::arg("table", qualified_table),
      fmt::arg("level", op == Op::kTruncate ? "STATEMENT" : "ROW"), fmt::arg("schema", Q(schema)),
      fmt::arg("fn", Q(TriggerFunctionName(op))), fmt::arg("oid", relation_oid));
}

}  // namespace eddy::outbox
