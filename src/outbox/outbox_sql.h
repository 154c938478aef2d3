#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "eddy/change.h"

namespace eddy::outbox {

// The SQL eddy runs in the source database in trigger mode. Pure text generation: every
// identifier and literal is quoted here, so names from configuration cannot inject SQL.

// Creates (idempotently) eddy's schema, the outbox table, the doorbell sequence, the four
// trigger functions and `reprint`. The trigger functions run as the writer (no SECURITY DEFINER,
// no SET clauses: both would save and restore settings on every row), so every role gets USAGE
// on the schema, INSERT on the outbox and USAGE on its sequences, never SELECT. They name every
// object with its schema, so search_path cannot redirect them.
//
// The outbox row: id (from a sequence without cache, so a transaction that writes after another
// committed always gets higher ids), xid (pg_current_xact_id(), groups rows by transaction),
// rel (the captured table's OID, passed as the trigger's argument so partitions report their
// partitioned parent), op ('I', 'U', 'D', 'T'), at (statement_timestamp()), old_row/new_row
// (the record's text form: each column's text output, as pgoutput sends it, printed under the
// writer's settings) and settings (those settings, `DateStyle|IntervalStyle|TimeZone|
// extra_float_digits|bytea_output`). eddy reprints under its own settings only the rows whose
// table has a column whose text depends on a setting that differs (SettingsThatDiffer).
//
// The doorbell: a writer reads the doorbell sequence (pg_sequence_last_value, a shared buffer
// lock) and only when eddy armed it (setval(doorbell, 1, false): the value reads NULL) calls
// nextval(), NOTIFYing when that returns 1: once per wake-up. NOTIFY takes a database-wide lock
// held through commit; one notifying transaction per wake-up instead of one per writer keeps
// that lock off the writers' path (docs/triggers.md).
std::string OutboxDdl(std::string_view schema, std::string_view channel);

// Creates (idempotently) the event trigger that installs eddy's triggers on every table created
// from now on, in the creating transaction, so no row of a new table is missed. Only when eddy
// captures every table; needs superuser (otherwise eddy finds new tables by polling).
// <schema>.trigger_name() computes the same names as TriggerName().
std::string NewTablesDdl(std::string_view schema);
std::string EventTriggerName(std::string_view schema);

// `<schema>.outbox`, quoted.
std::string OutboxTable(std::string_view schema);
// Arms the doorbell: the next writer to call nextval() gets 1 and notifies.
std::string ArmDoorbellSql(std::string_view schema);
// The transactions in progress at this statement's snapshot (xid8 text, one per row). Run right
// after ArmDoorbellSql: only these can have run their trigger before the arm (without ringing)
// and still commit outbox rows after a later read's snapshot (docs/triggers.md, The doorbell).
std::string InProgressXidsSql();
// Of the xid8s in $1 (an array literal), those still in progress.
std::string StillInProgressSql();

// The settings whose values change the text of some type, as bits.
constexpr uint32_t kDateStyle = 1;
constexpr uint32_t kIntervalStyle = 2;
constexpr uint32_t kTimeZone = 4;
constexpr uint32_t kExtraFloatDigits = 8;
constexpr uint32_t kByteaOutput = 16;
constexpr uint32_t kAllSettings = 31;

// Which of a row's settings (the outbox's `settings` column; nullopt: printed under eddy's
// settings) print some value differently from eddy's replication connection (DateStyle ISO,
// IntervalStyle iso_8601, TimeZone UTC, extra_float_digits 3, bytea_output hex). Text that cannot
// be read differs in every setting.
uint32_t SettingsThatDiffer(std::optional<std::string_view> settings);
// Which settings the text output of a column of type `type_oid` (of pg_type.typtype `typtype`;
// for arrays, the element's) depends on. Unknown types (domains, composites, ranges, extension
// types) depend on all; enums and the common settings-free built-ins on none.
uint32_t SettingsTypePrintsUnder(uint32_t type_oid, char typtype);

// `SELECT <schema>.reprint(text, rel, settings)`: see ReprintFunctionSql in outbox_sql.cc.
std::string ReprintFunction(std::string_view schema);

// CREATE OR REPLACE TRIGGER for `op` on `qualified_table` (already quoted) whose OID is
// `relation_oid`: row-level AFTER for insert/update/delete, statement-level AFTER for truncate.
std::string CreateTriggerSql(Op op, std::string_view schema, std::string_view table_name,
                             std::string_view qualified_table, uint32_t relation_oid);

}  // namespace eddy::outbox
