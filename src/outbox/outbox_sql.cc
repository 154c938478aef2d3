#include "outbox/outbox_sql.h"

#include <charconv>
#include <vector>

#include <fmt/format.h>

#include "outbox/trigger_names.h"
#include "pg/connection.h"

namespace eddy::outbox {

namespace {
using pg::Connection;

std::string Q(std::string_view ident) { return Connection::QuoteIdent(ident); }

// The settings a row's text was printed under, as `DateStyle|IntervalStyle|TimeZone|
// extra_float_digits|bytea_output` (RowSettings in outbox_capture.cc reads it back).
constexpr const char* kSettingsExpr =
    "pg_catalog.current_setting('DateStyle') || '|' || "
    "pg_catalog.current_setting('IntervalStyle') || '|' || "
    "pg_catalog.current_setting('TimeZone') || '|' || "
    "pg_catalog.current_setting('extra_float_digits') || '|' || "
    "pg_catalog.current_setting('bytea_output')";

// The settings eddy's replication connection prints values under: logical mode's text forms.
constexpr const char* kCanonicalSettings =
    "SET DateStyle = 'ISO' SET IntervalStyle = 'iso_8601' SET TimeZone = 'UTC' "
    "SET extra_float_digits = 3 SET bytea_output = 'hex'";

// One trigger function. `rows` are the records it prints (NEW, OLD). Not SECURITY DEFINER and
// no SET clauses: both cost a settings save and restore on every row. The rows are printed under
// the writer's settings, which go along; eddy reprints the few rows whose text depends on them
// (outbox_capture.cc). Text that could not be read back exactly (DateStyle other than ISO prints
// zone abbreviations, which are ambiguous; extra_float_digits below 1 rounds floats) is printed
// under eddy's settings right here instead (print_row, with SET clauses), for such writers only.
// The doorbell is only read unless eddy armed it: pg_sequence_last_value() is NULL after
// setval(doorbell, 1, false), and takes no exclusive lock and writes no WAL.
std::string FunctionSql(std::string_view schema, std::string_view channel, Op op,
                        std::string_view columns, std::vector<std::string_view> rows) {
  const std::string doorbell = Connection::QuoteLiteral(fmt::format("{}.doorbell", Q(schema)));
  std::string insert;
  if (rows.empty()) {
    insert = fmt::format("  INSERT INTO {}.outbox (rel, op) VALUES (TG_ARGV[0]::oid, '{}');\n",
                         Q(schema), static_cast<char>(op));
  } else {
    std::string as_written, as_eddy;
    for (std::string_view row : rows) {
      as_written += fmt::format(", {}::text", row);
      as_eddy += fmt::format(", {}.print_row({})", Q(schema), row);
    }
    insert = fmt::format(
        "  IF pg_catalog.current_setting('DateStyle') LIKE 'ISO,%' AND "
        "pg_catalog.current_setting('extra_float_digits')::int > 0 THEN\n"
        "    INSERT INTO {s}.outbox (rel, op, settings{columns}) VALUES (TG_ARGV[0]::oid, "
        "'{op}', {settings}{as_written});\n"
        "  ELSE\n"
        "    INSERT INTO {s}.outbox (rel, op{columns}) VALUES (TG_ARGV[0]::oid, '{op}'{as_eddy});\n"
        "  END IF;\n",
        fmt::arg("s", Q(schema)), fmt::arg("columns", columns),
        fmt::arg("op", static_cast<char>(op)), fmt::arg("settings", kSettingsExpr),
        fmt::arg("as_written", as_written), fmt::arg("as_eddy", as_eddy));
  }
  return fmt::format(
      "CREATE OR REPLACE FUNCTION {schema}.{fn}() RETURNS trigger LANGUAGE plpgsql "
      "SECURITY INVOKER AS $eddy$\n"
      "BEGIN\n"
      "{insert}"
      "  IF pg_catalog.pg_sequence_last_value({doorbell}) IS NULL AND "
      "pg_catalog.nextval({doorbell}) = 1 THEN\n"
      "    PERFORM pg_catalog.pg_notify({channel}, '');\n"
      "  END IF;\n"
      "  RETURN NULL;\n"
      "END $eddy$;\n",
      fmt::arg("schema", Q(schema)), fmt::arg("fn", Q(TriggerFunctionName(op))),
      fmt::arg("insert", insert), fmt::arg("doorbell", doorbell),
      fmt::arg("channel", Connection::QuoteLiteral(channel)));
}

// A row's text under eddy's settings, for writers whose text could not be read back exactly.
std::string PrintRowFunctionSql(std::string_view schema) {
  return fmt::format(
      "CREATE OR REPLACE FUNCTION {s}.print_row(r anyelement) RETURNS text LANGUAGE sql "
      "STABLE {canonical} AS 'SELECT r::text';\n",
      fmt::arg("s", Q(schema)), fmt::arg("canonical", kCanonicalSettings));
}

// eddy's own (never a writer's): a row's text printed under `settings` (kSettingsExpr's form),
// parsed back under them into the table's row type and printed under kCanonicalSettings. NULL
// when it cannot (the table changed since): eddy then keeps the text as written.
std::string ReprintFunctionSql(std::string_view schema) {
  return fmt::format(
      "CREATE OR REPLACE FUNCTION {s}.reprint(row_text text, rel oid, settings text) "
      "RETURNS text LANGUAGE plpgsql {canonical} AS $eddy$\n"
      "DECLARE s text[] := pg_catalog.string_to_array(settings, '|'); r record;\n"
      "BEGIN\n"
      "  IF row_text IS NULL OR pg_catalog.cardinality(s) <> 5 THEN RETURN row_text; END IF;\n"
      "  PERFORM pg_catalog.set_config('DateStyle', s[1], true), "
      "pg_catalog.set_config('IntervalStyle', s[2], true), "
      "pg_catalog.set_config('TimeZone', s[3], true), "
      "pg_catalog.set_config('extra_float_digits', s[4], true), "
      "pg_catalog.set_config('bytea_output', s[5], true);\n"
      "  EXECUTE pg_catalog.format('SELECT ($1::%s).*', rel::regclass) INTO r USING row_text;\n"
      "  PERFORM pg_catalog.set_config('DateStyle', 'ISO', true), "
      "pg_catalog.set_config('IntervalStyle', 'iso_8601', true), "
      "pg_catalog.set_config('TimeZone', 'UTC', true), "
      "pg_catalog.set_config('extra_float_digits', '3', true), "
      "pg_catalog.set_config('bytea_output', 'hex', true);\n"
      "  RETURN r::text;\n"
      "EXCEPTION WHEN OTHERS THEN RETURN NULL;\n"
      "END $eddy$;\n",
      fmt::arg("s", Q(schema)), fmt::arg("canonical", kCanonicalSettings));
}
}  // namespace

uint32_t SettingsThatDiffer(std::optional<std::string_view> settings) {
  if (!settings) return 0;
  std::vector<std::string_view> parts;
  std::string_view rest = *settings;
  while (true) {
    const size_t bar = rest.find('|');
    parts.push_back(rest.substr(0, bar));
    if (bar == std::string_view::npos) break;
    rest.remove_prefix(bar + 1);
  }
  if (parts.size() != 5) return kAllSettings;
  uint32_t differ = 0;
  // ISO output does not depend on the field order (MDY, DMY, YMD), which only affects input.
  if (parts[0].substr(0, 4) != "ISO,") differ |= kDateStyle;
  if (parts[1] != "iso_8601") differ |= kIntervalStyle;
  // Zones at offset 0 all print +00.
  if (parts[2] != "UTC" && parts[2] != "Etc/UTC" && parts[2] != "GMT" && parts[2] != "Etc/GMT") {
    differ |= kTimeZone;
  }
  // Since PostgreSQL 12 every positive extra_float_digits prints the shortest exact form.
  int digits = 0;
  const auto [end, ec] =
      std::from_chars(parts[3].data(), parts[3].data() + parts[3].size(), digits);
  if (ec != std::errc() || end != parts[3].data() + parts[3].size() || digits < 1) {
    differ |= kExtraFloatDigits;
  }
  if (parts[4] != "hex") differ |= kByteaOutput;
  return differ;
}

uint32_t SettingsTypePrintsUnder(uint32_t type_oid, char typtype) {
  if (typtype == 'e') return 0;  // enum labels
  switch (type_oid) {
    case 16:    // bool
    case 18:    // char
    case 19:    // name
    case 20:    // int8
    case 21:    // int2
    case 23:    // int4
    case 25:    // text
    case 26:    // oid
    case 114:   // json (the text as written)
    case 650:   // cidr
    case 774:   // macaddr8
    case 790:   // money (lc_monetary, the same for both connections of a database)
    case 829:   // macaddr
    case 869:   // inet
    case 1042:  // bpchar
    case 1043:  // varchar
    case 1083:  // time
    case 1266:  // timetz (prints its own offset)
    case 1560:  // bit
    case 1562:  // varbit
    case 1700:  // numeric
    case 2950:  // uuid
    case 3802:  // jsonb
      return 0;
    case 1082:  // date
    case 1114:  // timestamp
      return kDateStyle;
    case 1184:  // timestamptz
      return kDateStyle | kTimeZone;
    case 1186:  // interval
      return kIntervalStyle;
    case 700:  // float4
    case 701:  // float8
      return kExtraFloatDigits;
    case 17:  // bytea
      return kByteaOutput;
    default:
      return kAllSettings;
  }
}

std::string ReprintFunction(std::string_view schema) { return Q(schema) + ".reprint"; }

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

std::string InProgressXidsSql() {
  return "SELECT x::text FROM pg_catalog.pg_snapshot_xip(pg_catalog.pg_current_snapshot()) x";
}

std::string StillInProgressSql() {
  return "SELECT x::text FROM pg_catalog.unnest($1::xid8[]) x "
         "WHERE pg_catalog.pg_xact_status(x) = 'in progress'";
}

std::string OutboxDdl(std::string_view schema, std::string_view channel) {
  // The functions come before the outbox table: another eddy's event trigger, which fires on the
  // table's creation, recognises an eddy schema by its capture_insert function and leaves it be.
  std::string sql = fmt::format(
      "CREATE SCHEMA IF NOT EXISTS {s};\n"
      "CREATE SEQUENCE IF NOT EXISTS {s}.doorbell;\n",
      fmt::arg("s", Q(schema)));
  sql += PrintRowFunctionSql(schema);
  sql += FunctionSql(schema, channel, Op::kInsert, ", new_row", {"NEW"});
  sql += FunctionSql(schema, channel, Op::kUpdate, ", old_row, new_row", {"OLD", "NEW"});
  sql += FunctionSql(schema, channel, Op::kDelete, ", old_row", {"OLD"});
  sql += FunctionSql(schema, channel, Op::kTruncate, "", {});
  sql += ReprintFunctionSql(schema);
  sql += fmt::format(
      "CREATE TABLE IF NOT EXISTS {s}.outbox (\n"
      "  id bigserial NOT NULL,\n"
      "  xid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),\n"
      "  rel oid NOT NULL,\n"
      "  op \"char\" NOT NULL,\n"
      "  at timestamptz NOT NULL DEFAULT pg_catalog.statement_timestamp(),\n"
      "  old_row text,\n"
      "  new_row text,\n"
      "  settings text);\n"
      // Outboxes made before the settings column: their rows were printed under eddy's settings.
      "DO $eddy$ BEGIN\n"
      "  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = "
      "{outbox_lit}::regclass AND attname = 'settings') THEN\n"
      "    ALTER TABLE {s}.outbox ADD COLUMN settings text;\n"
      "  END IF;\n"
      "END $eddy$;\n"
      // The trigger functions run as the writer: every role may add outbox rows (and ring), none
      // may read them. See docs/triggers.md (Security).
      "GRANT USAGE ON SCHEMA {s} TO PUBLIC;\n"
      "GRANT INSERT ON {s}.outbox TO PUBLIC;\n"
      "GRANT USAGE ON SEQUENCE {s}.doorbell TO PUBLIC;\n"
      "DO $eddy$ BEGIN\n"
      "  EXECUTE pg_catalog.format('GRANT USAGE ON SEQUENCE %s TO PUBLIC', "
      "pg_catalog.pg_get_serial_sequence({outbox_lit}, 'id'));\n"
      "END $eddy$;\n"
      "REVOKE ALL ON FUNCTION {s}.reprint(text, oid, text) FROM PUBLIC;\n",
      fmt::arg("s", Q(schema)),
      fmt::arg("outbox_lit", Connection::QuoteLiteral(OutboxTable(schema))));
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
