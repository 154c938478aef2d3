#pragma once

// The typed expression tree a WHERE clause compiles to: every node knows its result type, every
// implicit conversion is explicit in the tree, every constant is already converted to its type.
// Evaluate() runs it on a row (three-valued, never throws); AppendSql() prints normalised SQL.

#include <memory>
#include <string>
#include <vector>

#include "where/value.h"
#include "where/where.h"

namespace eddy::where {

enum class ExprKind {
  kConst,
  kColumn,
  kAnd,
  kOr,
  kNot,
  kCompare,       // op: = <> < > <= >=; args: 2
  kDistinct,      // IS DISTINCT FROM; negated: IS NOT DISTINCT FROM
  kIsNull,        // negated: IS NOT NULL
  kBoolTest,      // op: "TRUE", "FALSE", "UNKNOWN"; negated: IS NOT ...
  kIn,            // args[0] IN (args[1..]); negated: NOT IN
  kBetween,       // args: x, low, high; symmetric; negated
  kLike,          // op: "LIKE"/"ILIKE"; negated
  kAnyAll,        // args[0] op ANY/ALL (args[1]); op: comparison; all
  kArith,         // op: + - * / %; args: 2
  kNegate,        // unary minus
  kTextConcat,    // ||
  kFunction,      // op: lower, upper, coalesce, concat, greatest, least
  kCast,          // args[0] converted to `type`; implicit casts are not printed
  kJsonGet,       // op: -> or ->>; args: json, key (text) or index (int4)
  kJsonContains,  // @> (or <@ with swapped printing: op)
  kJsonHasKey,    // ?
  kArrayOp,       // op: @> <@ &&
  kArrayCtor,     // ARRAY[args...]
};

struct Expr {
  ExprKind kind = ExprKind::kConst;
  Type type;
  std::string op;
  bool negated = false;
  bool symmetric = false;  // BETWEEN SYMMETRIC
  bool all = false;        // ALL instead of ANY
  bool implicit = false;   // kCast inserted by type resolution
  bool collate_c = false;  // text ordering: compare bytes (and print COLLATE "C")
  int column = -1;         // kColumn
  int location = 0;        // in the user's text
  Value constant;          // kConst
  std::vector<std::unique_ptr<Expr>> args;
};

// Evaluates `expr` on `row` (values as PostgreSQL prints them). Never throws; text that does not
// parse as the column's type reads as NULL.
Value Evaluate(const Expr& expr, RowValues row, std::span<const Type> column_types);

// Appends normalised SQL for `expr`.
void AppendSql(const Expr& expr, std::span<const ColumnType> columns, std::string& out);

// `"name"` with `"` doubled.
std::string QuoteIdentifier(std::string_view name);
// `'text'` with `'` doubled (standard_conforming_strings on).
std::string QuoteLiteral(std::string_view text);

}  // namespace eddy::where
