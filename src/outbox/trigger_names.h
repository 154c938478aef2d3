#pragma once

#include <string>
#include <string_view>

#include "eddy/change.h"

namespace eddy::outbox {

// PostgreSQL truncates identifiers to 63 bytes (NAMEDATALEN - 1).
inline constexpr size_t kMaxIdentifierBytes = 63;

// The name of the trigger for `op` on table `table` (unqualified) of the eddy whose objects live
// in `schema`: "eddy_<op>_<table>" for the default schema "eddy" (e.g. "eddy_insert_songs"), else
// "eddy_<schema>_<op>_<table>", so two eddys with their own outboxes never replace each other's
// triggers. Names longer than 63 bytes are cut (never inside a UTF-8 sequence) and end
// in "_" + 8 hex digits of a hash of the full name, so two long table names sharing a prefix
// still get distinct triggers and PostgreSQL never truncates (and so never confuses) them.
std::string TriggerName(std::string_view schema, Op op, std::string_view table);

// The name of the trigger function for `op` in eddy's schema: "capture_insert", ...
std::string TriggerFunctionName(Op op);

// "insert", "update", "delete", "truncate".
std::string_view OpWord(Op op);

// Cuts `name` to at most 63 bytes with a hash suffix when longer; unchanged otherwise.
std::string LengthSafeName(std::string_view name);

}  // namespace eddy::outbox
