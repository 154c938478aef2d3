#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "eddy/change.h"
#include "eddy/result.h"

namespace eddy::nats {

// Subjects of published changes (docs/nats.md):
//   <prefix>.<schema>.<table>.<op>.<key>   insert, update, delete
//   <prefix>.<schema>.<table>.truncate     truncate
// NATS subject tokens cannot hold '.', '*', '>' or whitespace and must not be empty, so schema,
// table and key values are written as tokens: bytes outside [A-Za-z0-9_-] become %XX (upper-case
// hex). A key is the canonical text of its values in key order joined by '~' (which a value never
// contains unencoded); a NULL value is "%N", an unchanged TOASTed one "%U", an empty text "%E" and
// a row without values "%0". A key token longer than kMaxKeyTokenBytes is replaced by "%H" and the
// hex SHA-256 of the full token, so subjects stay within the server's control-line limit.

inline constexpr size_t kMaxKeyTokenBytes = 200;

// kInvalidArgument naming `field` unless `prefix` is one or more dot-separated tokens of
// [A-Za-z0-9_-] (for example "eddy" or "cdc.prod").
Status ValidateSubjectPrefix(std::string_view prefix, std::string_view field);

// One token from arbitrary bytes (never empty: "" becomes "%E").
std::string EncodeToken(std::string_view text);
// The bytes behind a token made by EncodeToken; kInvalidArgument for a malformed token.
Result<std::string> DecodeToken(std::string_view token);

// The key token of a change (see above).
std::string KeyToken(const Change& change);
// The key values behind a key token (nullopt entries for NULL, and "%U" decodes as nullopt
// too); kInvalidArgument for a malformed or hashed token.
Result<std::vector<std::optional<std::string>>> DecodeKeyToken(std::string_view token);

// The subject a change is published on.
std::string SubjectFor(std::string_view prefix, const Change& change);

}  // namespace eddy::nats
