#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "eddy/change.h"

namespace eddy::outbox {

// The SQL eddy runs in the source database in trigger mode. Pure text generation: every
// identifier and literal is quoted here, so names from configuration cannot inject SQL.

// Creates (idempotently) eddy's schema, the outbox table, the doorbell sequence and the four
// trigger functions. The functions are SECURITY DEFINER, so writers need no rights on eddy's
// schema, and they name every object with its schema, so search_path cannot redirect them.
// They print values under the settings eddy's replication connection uses (DateStyle ISO,
// IntervalStyle iso_8601, TimeZone UTC, extra_float_digits 3, bytea_output hex), whatever the
// writer's session has set, so text forms match logical mode's.
//
// The outbox row: id (from a sequence without cache, so a transaction that writes after another
// committed always gets higher ids), xid (pg_current_xact_id(), groups rows by transaction),
// rel (the captured table's OID, passed as the trigger's argument so partitions report their
// partitioned parent), op ('I', 'U', 'D', 'T'), at (statement_timestamp()), and old_row/new_row
// (the record's text form: each column's text output, as pgoutput sends it).
//
// The doorbell: a writer NOTIFYs only when nextval() on the doorbell sequence returns 1, which
// happens once after eddy armed it with setval(doorbell, 1, false). NOTIFY takes a
// database-wide lock held through commit; one notifying transaction per wake-up instead of one
// per writer keeps that lock off the writers' path (docs/triggers.md).
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

// CREATE OR REPLACE TRIGGER for `op` on `qualified_table` (already quoted) whose OID is
// `relation_oid`: row-level AFTER for insert/update/delete, statement-level AFTER for truncate.
std::string CreateTriggerSql(Op op, std::string_view schema, std::string_view table_name,
                             std::string_view qualified_table, uint32_t relation_oid);

}  // namespace eddy::outbox
