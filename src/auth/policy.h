#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "eddy/change.h"
#include "eddy/result.h"

#include "auth/jwt.h"

namespace eddy::auth {

// One configured access rule: who may watch which operations of which table, and optionally which
// rows (those whose `row_column` equals the token's `row_claim`).
struct TableRule {
  std::string table;               // "public.songs", or "*" for every table
  std::vector<std::string> roles;  // roles allowed; empty = any role
  std::vector<std::string> ops;    // "insert", "update", "delete", "truncate"; empty = all
  std::string row_claim;           // e.g. "sub"; empty = no row rule
  std::string row_column;          // e.g. "owner_id"; set exactly when row_claim is
};

// The answer to one subscribe request.
struct Grant {
  bool allowed = false;
  std::string reason;      // why not (for the client), or which rule allowed it (for logs)
  std::string row_column;  // when non-empty: deliver only changes whose row has
  std::string row_value;   //   row_column == row_value (see Policy::RowAllowed)
};

// Per-table access control for subscriptions. Pure and immutable: no I/O, thread-safe.
//
// Which rule applies to (role, schema.table): the most specific one.
//   1. Table: if any rule names schema.table exactly, only those rules are considered (the "*"
//      rules then do not apply to that table at all, even for roles they would allow); otherwise
//      the "*" rules.
//   2. Role: among those, a rule listing the role beats a rule with empty `roles` (any role).
//   3. Several rules left (only possible with a configuration Validate() rejects): the first.
// No rule left: denied. The chosen rule must allow every requested op, and, when it has a row
// rule, the token must carry `row_claim`; the grant then carries the row filter.
class Policy {
 public:
  explicit Policy(std::vector<TableRule> rules);

  // Checks rules as a configuration loader should before building a Policy: table is "*" or
  // "schema.table" (no other wildcard), op names are known, roles are non-empty strings,
  // row_claim and row_column are both set or both empty, and no two rules for the same table
  // could both apply to one role. kInvalidArgument naming the rule (1-based) otherwise.
  static Status Validate(const std::vector<TableRule>& rules);

  // May a bearer of `claims` watch `ops` (empty = all four) on schema.table? A denial is an ok
  // Result with allowed == false and a reason such as "no rule allows role anon to watch
  // public.songs". kInvalidArgument only for a malformed request (empty names, unknown op).
  // Wildcards: schema "*" (every table) or table "*" (every table of schema) are judged by the
  // "*" rules, and denied outright when any table in their scope has a rule of its own (one grant
  // cannot carry per-table answers; the client must name the table).
  Result<Grant> CheckSubscribe(const Claims& claims, std::string_view schema,
                               std::string_view table, const std::vector<std::string>& ops) const;

  // Whether `change` may be delivered under `grant`, without any database query. No row rule:
  // true. Otherwise the value of grant.row_column, in the new row (the old row for deletes), must
  // be non-NULL text equal to grant.row_value. When it is not in the row (a delete under REPLICA
  // IDENTITY DEFAULT whose key does not include the column, a TOASTed value PostgreSQL did not
  // send, a column the table does not have, a truncate): false. Updates are judged by their new
  // row only: an update that moves a row away from its owner is not delivered to that owner.
  static bool RowAllowed(const Grant& grant, const Change& change);

  const std::vector<TableRule>& rules() const { return rules_; }

 private:
  std::vector<TableRule> rules_;
};

}  // namespace eddy::auth
