#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/result.h"

namespace eddy::outbox {

// Parses PostgreSQL's text form of a composite value (record_out, what `NEW::text` gives) into one
// field per attribute: the field's own text output, or nullopt for NULL.
//
// The grammar (record_out / record_in): "(" field ("," field)* ")". A field is empty (NULL),
// an unquoted run of characters other than , ) " \, or a double-quoted string in which "" and
// \x both stand for x. Quoted and unquoted parts may follow one another in one field (record_in
// accepts it; record_out never writes it). An empty quoted string "" is the empty string.
// "()" is one NULL field (a one-column row holding NULL prints so; so does a zero-column row).
// Pure: no I/O. Malformed input is kCorruption naming the byte offset.
Result<std::vector<std::optional<std::string>>> ParseRecord(std::string_view text);

}  // namespace eddy::outbox
