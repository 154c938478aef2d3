#pragma once

// Turns libpg_query's parse tree of a WHERE clause into a typed Expr: resolves column names,
// types constants and parameters from their context (PostgreSQL-like implicit casts), checks that
// each operator and function is supported for its operand types. Errors are the `errors.where`
// texts: "At location <offset in the user's text>: ...".

#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "eddy/result.h"

#include "where/expression.h"
#include "where/where.h"

struct PgQuery__Node;
struct PgQuery__TypeName;

namespace eddy::where {

class Binder {
 public:
  // `prefix_length`: characters wrapped before the user's text ("SELECT 1 WHERE ").
  Binder(std::map<std::string, std::string> params, std::span<const ColumnType> columns,
         int prefix_length);

  // The typed expression for `node`; a top-level result that is not boolean is an error.
  Result<std::unique_ptr<Expr>> BindWhere(const PgQuery__Node* node);

  // The Type of a column, or nullopt when WHERE clauses cannot use its type.
  static std::optional<Type> ColumnTypeOf(const ColumnType& column);

 private:
  using ExprPtr = std::unique_ptr<Expr>;

  Status Error(int location, const std::string& message) const;
  int UserLocation(int wrapped_location) const;

  Result<ExprPtr> Bind(const PgQuery__Node* node);
  Result<ExprPtr> BindColumnRef(const PgQuery__Node* node);
  Result<ExprPtr> BindConst(const PgQuery__Node* node);
  Result<ExprPtr> BindTypeCast(const PgQuery__Node* node);
  Result<ExprPtr> BindAExpr(const PgQuery__Node* node);
  Result<ExprPtr> BindOperator(std::string_view op, ExprPtr left, ExprPtr right, int location);
  Result<ExprPtr> BindFunction(const PgQuery__Node* node);
  Result<ExprPtr> BindVariadic(std::string name, std::vector<ExprPtr> args, int location);
  Result<ExprPtr> BindBool(const PgQuery__Node* node);

  Result<ExprPtr> MakeComparison(std::string_view op, ExprPtr left, ExprPtr right, int location);
  Result<ExprPtr> MakeLike(std::string op, bool negated, ExprPtr left, ExprPtr right, int location);
  // Converts `expr` to `type`: folds constants (invalid text is an error), wraps others in a cast.
  Result<ExprPtr> Coerce(ExprPtr expr, const Type& type, int location, bool explicit_cast);
  Result<ExprPtr> CoerceToBool(ExprPtr expr, int location, const char* what);
  // The type both sides convert to, as PostgreSQL's operator resolution picks it.
  std::optional<Type> CommonType(const Type& a, const Type& b) const;
  Result<Type> ResolveTypeName(const PgQuery__TypeName* type_name, int location) const;

  std::map<std::string, std::string> params_;
  std::span<const ColumnType> columns_;
  int prefix_length_;
  int depth_ = 0;
};

}  // namespace eddy::where
