#include "auth/policy.h"

#include <algorithm>
#include <array>
#include <utility>

namespace eddy::auth {
namespace {

constexpr std::array<std::string_view, 4> kOps = {"insert", "update", "delete", "truncate"};

bool IsKnownOp(std::string_view op) {
  return std::find(kOps.begin(), kOps.end(), op) != kOps.end();
}

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// Whether some role could be matched by both role lists (empty = any role).
bool RolesOverlap(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty() != b.empty()) return false;  // a listed role beats "any role": no tie
  if (a.empty()) return true;
  return std::any_of(a.begin(), a.end(), [&](const std::string& r) { return Contains(b, r); });
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

}  // namespace

Policy::Policy(std::vector<TableRule> rules) : rules_(std::move(rules)) {}

Status Policy::Validate(const std::vector<TableRule>& rules) {
  for (size_t i = 0; i < rules.size(); ++i) {
    const TableRule& rule = rules[i];
    const std::string where = "auth rule " + std::to_string(i + 1);
    if (rule.table != "*") {
      const size_t dot = rule.table.find('.');
      if (dot == std::string::npos || dot == 0 || dot + 1 == rule.table.size() ||
          rule.table.find('*') != std::string::npos) {
        return InvalidArgument(where + ": table " + Quoted(rule.table) +
                               " must be \"schema.table\" or \"*\"");
      }
    }
    for (const std::string& role : rule.roles) {
      if (role.empty()) return InvalidArgument(where + ": an empty role name");
    }
    for (const std::string& op : rule.ops) {
      if (!IsKnownOp(op)) {
        return InvalidArgument(where + ": unknown op " + Quoted(op) +
                               " (expected insert, update, delete or truncate)");
      }
    }
    if (rule.row_claim.empty() != rule.row_column.empty()) {
      return InvalidArgument(where + ": row_claim and row_column go together");
    }
    for (size_t j = 0; j < i; ++j) {
      if (rules[j].table == rule.table && RolesOverlap(rules[j].roles, rule.roles)) {
        return InvalidArgument(where + ": overlaps rule " + std::to_string(j + 1) + " (table " +
                               Quoted(rule.table) + ", same roles): which one applies is unclear");
      }
    }
  }
  return Status::Ok();
}

Result<Grant> Policy::CheckSubscribe(const Claims& claims, std::string_view schema,
                                     std::string_view table,
                                     const std::vector<std::string>& ops) const {
  if (schema.empty() || table.empty()) return InvalidArgument("empty schema or table name");
  for (const std::string& op : ops) {
    if (!IsKnownOp(op)) {
      return InvalidArgument("unknown op " + Quoted(op) +
                             " (expected insert, update, delete or truncate)");
    }
  }
  std::string qualified;
  qualified.reserve(schema.size() + 1 + table.size());
  qualified.append(schema).append(".").append(table);

  // A wildcard request ("*" schema or table) is one grant for many tables: only sound when no
  // table in its scope has rules of its own, which the grant would bypass.
  const bool wildcard = schema == "*" || table == "*";
  if (wildcard) {
    const std::string prefix = schema == "*" ? "" : std::string(schema) + ".";
    for (const TableRule& rule : rules_) {
      if (rule.table != "*" && rule.table.starts_with(prefix)) {
        Grant grant;
        grant.reason = "role " + claims.role + " may not watch " + qualified + ": " + rule.table +
                       " has rules of its own; name the table to watch";
        return grant;
      }
    }
  }

  // 1. Table tier: exact rules if any exist, else "*".
  const bool has_exact =
      !wildcard && std::any_of(rules_.begin(), rules_.end(),
                               [&](const TableRule& r) { return r.table == qualified; });
  const std::string_view tier = has_exact ? std::string_view(qualified) : std::string_view("*");
  // 2. Role: a rule naming the role beats an any-role rule; 3. the first one.
  const TableRule* chosen = nullptr;
  for (const TableRule& rule : rules_) {
    if (rule.table != tier) continue;
    if (Contains(rule.roles, claims.role)) {
      chosen = &rule;
      break;
    }
    if (rule.roles.empty() && chosen == nullptr) chosen = &rule;
  }

  Grant grant;
  if (chosen == nullptr) {
    grant.reason = "no rule allows role " + claims.role + " to watch " + qualified;
    return grant;
  }
  const std::vector<std::string>& rule_ops = chosen->ops;
  if (!rule_ops.empty()) {
    std::vector<std::string_view> wanted;
    if (ops.empty()) {
      wanted.assign(kOps.begin(), kOps.end());
    } else {
      wanted.assign(ops.begin(), ops.end());
    }
    for (std::string_view op : wanted) {
      if (!Contains(rule_ops, op)) {
        grant.reason = "role " + claims.role + " may not watch " + std::string(op) + " on " +
                       qualified + (ops.empty() ? " (ask for the allowed ops explicitly)" : "");
        return grant;
      }
    }
  }
  if (!chosen->row_claim.empty()) {
    auto it = claims.values.find(chosen->row_claim);
    if (it != claims.values.end()) {
      grant.row_value = it->second;
    } else if (chosen->row_claim == "role") {
      grant.row_value = claims.role;  // the default role counts as the claim
    } else {
      grant.reason = "the token has no claim " + Quoted(chosen->row_claim) +
                     ", which the row rule on " + qualified + " needs";
      return grant;
    }
    grant.row_column = chosen->row_column;
  }
  grant.allowed = true;
  grant.reason = "allowed by the rule for " + chosen->table +
                 (chosen->roles.empty() ? " (any role)" : " (role " + claims.role + ")");
  return grant;
}

bool Policy::RowAllowed(const Grant& grant, const Change& change) {
  if (!grant.allowed) return false;
  if (grant.row_column.empty()) return true;
  if (!change.table || change.op == Op::kTruncate) return false;
  const std::vector<Column>& columns = change.table->columns;
  const std::vector<Value>& row = change.op == Op::kDelete ? change.old_row : change.new_row;
  if (row.size() != columns.size()) return false;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == grant.row_column) {
      return row[i].kind == Value::Kind::kText && row[i].text == grant.row_value;
    }
  }
  return false;
}

}  // namespace eddy::auth
