#include "where/binder.h"

#include <algorithm>

#include <fmt/format.h>
#include <pg_query/pg_query.pb-c.h>

namespace eddy::where {
namespace {

// Deeper trees are refused rather than risking the stack (evaluation and printing recurse too).
constexpr int kMaxDepth = 200;

bool IsComparison(std::string_view op) {
  return op == "=" || op == "<>" || op == "!=" || op == "<" || op == ">" || op == "<=" ||
         op == ">=";
}

bool IsOrdering(std::string_view op) { return op != "=" && op != "<>"; }

const char* StringOf(const PgQuery__Node* node) {
  if (node == nullptr || node->node_case != PG_QUERY__NODE__NODE_STRING || node->string == nullptr)
    return nullptr;
  return node->string->sval;
}

// The operator of an A_Expr: the last name ("OPERATOR(pg_catalog.=)" is "=").
std::string OperatorName(const PgQuery__AExpr* e) {
  if (e->n_name == 0) return "";
  const char* s = StringOf(e->name[e->n_name - 1]);
  return s ? s : "";
}

// How PostgreSQL names types in error messages.
std::string DisplayName(const Type& type) {
  std::string name;
  switch (type.kind) {
    case TypeKind::kUnknown:
      name = "unknown";
      break;
    case TypeKind::kBool:
      name = "boolean";
      break;
    case TypeKind::kInt2:
      name = "smallint";
      break;
    case TypeKind::kInt4:
      name = "integer";
      break;
    case TypeKind::kInt8:
      name = "bigint";
      break;
    case TypeKind::kFloat4:
      name = "real";
      break;
    case TypeKind::kFloat8:
      name = "double precision";
      break;
    case TypeKind::kVarchar:
      name = "character varying";
      break;
    case TypeKind::kBpchar:
      name = "character";
      break;
    case TypeKind::kTimestamp:
      name = "timestamp without time zone";
      break;
    case TypeKind::kTimestamptz:
      name = "timestamp with time zone";
      break;
    case TypeKind::kTime:
      name = "time without time zone";
      break;
    case TypeKind::kEnum:
      name = type.enum_name;
      break;
    default:
      name = TypeSqlName(type.Element());
      break;
  }
  if (type.is_array) name += "[]";
  return name;
}

int IntegerRank(TypeKind kind) {
  return kind == TypeKind::kInt2 ? 0 : kind == TypeKind::kInt4 ? 1 : 2;
}
int DateTimeRank(TypeKind kind) {
  return kind == TypeKind::kDate ? 0 : kind == TypeKind::kTimestamp ? 1 : 2;
}

bool IsUnknown(const Type& type) { return type.kind == TypeKind::kUnknown && !type.is_array; }

std::unique_ptr<Expr> MakeConst(Type type, Value value, int location) {
  auto e = std::make_unique<Expr>();
  e->kind = ExprKind::kConst;
  e->type = std::move(type);
  e->constant = std::move(value);
  e->location = location;
  return e;
}

std::unique_ptr<Expr> MakeNode(ExprKind kind, Type type, int location) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->type = std::move(type);
  e->location = location;
  return e;
}

const Type kBoolType{TypeKind::kBool};
const Type kTextType{TypeKind::kText};

}  // namespace

Binder::Binder(std::map<std::string, std::string> params, std::span<const ColumnType> columns,
               int prefix_length)
    : params_(std::move(params)), columns_(columns), prefix_length_(prefix_length) {}

int Binder::UserLocation(int wrapped_location) const {
  return std::max(0, wrapped_location - prefix_length_);
}

Status Binder::Error(int location, const std::string& message) const {
  return InvalidArgument(fmt::format("At location {}: {}", UserLocation(location), message));
}

std::optional<Type> Binder::ColumnTypeOf(const ColumnType& column) {
  Type type;
  type.is_array = !column.element_type_name.empty();
  const std::string& base = type.is_array ? column.element_type_name : column.type_name;
  if (column.is_enum) {
    type.kind = TypeKind::kEnum;
    type.enum_name = base;
    return type;
  }
  auto kind = TypeKindFromName(base);
  if (!kind) return std::nullopt;
  type.kind = *kind;
  return type;
}

std::optional<Type> Binder::CommonType(const Type& a, const Type& b) const {
  if (IsUnknown(a)) return IsUnknown(b) ? kTextType : b;
  if (IsUnknown(b)) return a;
  if (a.is_array != b.is_array) return std::nullopt;
  if (a.is_array) {
    auto element = CommonType(a.Element(), b.Element());
    if (!element) return std::nullopt;
    return element->ArrayOf();
  }
  if (a == b) return a;
  if (IsInteger(a.kind) && IsInteger(b.kind)) {
    return IntegerRank(a.kind) >= IntegerRank(b.kind) ? a : b;
  }
  if (IsNumber(a.kind) && IsNumber(b.kind)) {
    bool any_float = a.kind == TypeKind::kFloat4 || a.kind == TypeKind::kFloat8 ||
                     b.kind == TypeKind::kFloat4 || b.kind == TypeKind::kFloat8;
    return Type{any_float ? TypeKind::kFloat8 : TypeKind::kNumeric};
  }
  if (IsText(a.kind) && IsText(b.kind)) return kTextType;
  if (IsDateTime(a.kind) && IsDateTime(b.kind)) {
    return DateTimeRank(a.kind) >= DateTimeRank(b.kind) ? a : b;
  }
  return std::nullopt;
}

Result<std::unique_ptr<Expr>> Binder::Coerce(ExprPtr expr, const Type& type, int location,
                                             bool explicit_cast) {
  if (expr->type == type) return expr;
  if (!CanConvert(expr->type, type)) {
    return Error(location, fmt::format("cannot cast type {} to {}", DisplayName(expr->type),
                                       DisplayName(type)));
  }
  if (expr->kind == ExprKind::kConst) {
    auto converted = ConvertValue(expr->constant, expr->type, type);
    if (!converted) {
      if (IsUnknown(expr->type) || (!expr->type.is_array && IsText(expr->type.kind))) {
        if (type.is_array) {
          return Error(location,
                       fmt::format("malformed array literal: \"{}\"", expr->constant.text));
        }
        return Error(location, fmt::format("invalid input syntax for type {}: \"{}\"",
                                           DisplayName(type), expr->constant.text));
      }
      return Error(location, fmt::format("value out of range for type {}", DisplayName(type)));
    }
    expr->constant = std::move(*converted);
    expr->type = type;
    return expr;
  }
  auto cast = MakeNode(ExprKind::kCast, type, expr->location);
  cast->implicit = !explicit_cast;
  cast->args.push_back(std::move(expr));
  return cast;
}

Result<std::unique_ptr<Expr>> Binder::CoerceToBool(ExprPtr expr, int location, const char* what) {
  if (expr->type == kBoolType) return expr;
  if (IsUnknown(expr->type)) return Coerce(std::move(expr), kBoolType, location, false);
  return Error(location, fmt::format("argument of {} must be type boolean, not type {}", what,
                                     DisplayName(expr->type)));
}

Result<std::unique_ptr<Expr>> Binder::BindWhere(const PgQuery__Node* node) {
  EDDY_ASSIGN_OR_RETURN(auto expr, Bind(node));
  if (IsUnknown(expr->type)) {
    int location = expr->location + prefix_length_;
    EDDY_ASSIGN_OR_RETURN(expr, Coerce(std::move(expr), kBoolType, location, false));
  }
  if (!(expr->type == kBoolType)) return InvalidArgument("WHERE clause must return a boolean");
  return expr;
}

Result<std::unique_ptr<Expr>> Binder::Bind(const PgQuery__Node* node) {
  if (node == nullptr) return InvalidArgument("At location 0: missing expression");
  if (++depth_ > kMaxDepth) {
    return InvalidArgument("At location 0: expression is nested too deeply");
  }
  struct DepthGuard {
    int& depth;
    ~DepthGuard() { --depth; }
  } guard{depth_};
  switch (node->node_case) {
    case PG_QUERY__NODE__NODE_COLUMN_REF:
      return BindColumnRef(node);
    case PG_QUERY__NODE__NODE_A_CONST:
      return BindConst(node);
    case PG_QUERY__NODE__NODE_PARAM_REF: {
      const auto* p = node->param_ref;
      auto it = params_.find(std::to_string(p->number));
      if (it == params_.end()) {
        return Error(p->location, fmt::format("parameter ${} was not provided", p->number));
      }
      Value v;
      v.null = false;
      v.text = it->second;
      return MakeConst(Type{}, std::move(v), p->location);
    }
    case PG_QUERY__NODE__NODE_TYPE_CAST:
      return BindTypeCast(node);
    case PG_QUERY__NODE__NODE_A_EXPR:
      return BindAExpr(node);
    case PG_QUERY__NODE__NODE_BOOL_EXPR:
      return BindBool(node);
    case PG_QUERY__NODE__NODE_NULL_TEST: {
      const auto* n = node->null_test;
      EDDY_ASSIGN_OR_RETURN(auto arg, Bind(n->arg));
      auto e = MakeNode(ExprKind::kIsNull, kBoolType, n->location);
      e->negated = n->nulltesttype == PG_QUERY__NULL_TEST_TYPE__IS_NOT_NULL;
      e->args.push_back(std::move(arg));
      return e;
    }
    case PG_QUERY__NODE__NODE_BOOLEAN_TEST: {
      const auto* n = node->boolean_test;
      EDDY_ASSIGN_OR_RETURN(auto arg, Bind(n->arg));
      EDDY_ASSIGN_OR_RETURN(arg, CoerceToBool(std::move(arg), n->location, "IS TRUE"));
      auto e = MakeNode(ExprKind::kBoolTest, kBoolType, n->location);
      switch (n->booltesttype) {
        case PG_QUERY__BOOL_TEST_TYPE__IS_NOT_TRUE:
          e->negated = true;
          [[fallthrough]];
        case PG_QUERY__BOOL_TEST_TYPE__IS_TRUE:
          e->op = "TRUE";
          break;
        case PG_QUERY__BOOL_TEST_TYPE__IS_NOT_FALSE:
          e->negated = true;
          [[fallthrough]];
        case PG_QUERY__BOOL_TEST_TYPE__IS_FALSE:
          e->op = "FALSE";
          break;
        case PG_QUERY__BOOL_TEST_TYPE__IS_NOT_UNKNOWN:
          e->negated = true;
          [[fallthrough]];
        default:
          e->op = "UNKNOWN";
          break;
      }
      e->args.push_back(std::move(arg));
      return e;
    }
    case PG_QUERY__NODE__NODE_FUNC_CALL:
      return BindFunction(node);
    case PG_QUERY__NODE__NODE_COALESCE_EXPR: {
      const auto* c = node->coalesce_expr;
      std::vector<ExprPtr> args;
      for (size_t i = 0; i < c->n_args; ++i) {
        EDDY_ASSIGN_OR_RETURN(auto arg, Bind(c->args[i]));
        args.push_back(std::move(arg));
      }
      return BindVariadic("coalesce", std::move(args), c->location);
    }
    case PG_QUERY__NODE__NODE_MIN_MAX_EXPR: {
      const auto* m = node->min_max_expr;
      std::vector<ExprPtr> args;
      for (size_t i = 0; i < m->n_args; ++i) {
        EDDY_ASSIGN_OR_RETURN(auto arg, Bind(m->args[i]));
        args.push_back(std::move(arg));
      }
      return BindVariadic(m->op == PG_QUERY__MIN_MAX_OP__IS_LEAST ? "least" : "greatest",
                          std::move(args), m->location);
    }
    case PG_QUERY__NODE__NODE_A_ARRAY_EXPR: {
      const auto* a = node->a_array_expr;
      std::vector<ExprPtr> elements;
      Type element_type;
      for (size_t i = 0; i < a->n_elements; ++i) {
        EDDY_ASSIGN_OR_RETURN(auto element, Bind(a->elements[i]));
        if (element->type.is_array) {
          return Error(a->location, "multidimensional ARRAY[] constructors are not supported");
        }
        auto common = CommonType(element_type, element->type);
        if (!common) {
          return Error(element->location + prefix_length_,
                       fmt::format("ARRAY types {} and {} cannot be matched",
                                   DisplayName(element_type), DisplayName(element->type)));
        }
        element_type = *common;
        elements.push_back(std::move(element));
      }
      if (IsUnknown(element_type)) element_type = kTextType;
      bool all_const = true;
      for (auto& element : elements) {
        int element_location = element->location + prefix_length_;
        EDDY_ASSIGN_OR_RETURN(element,
                              Coerce(std::move(element), element_type, element_location, false));
        all_const = all_const && element->kind == ExprKind::kConst;
      }
      if (all_const) {
        auto array = std::make_shared<ArrayValue>();
        for (auto& element : elements) array->items.push_back(std::move(element->constant));
        if (!array->items.empty()) array->dims = {static_cast<int>(array->items.size())};
        Value v;
        v.null = false;
        v.array = std::move(array);
        return MakeConst(element_type.ArrayOf(), std::move(v), UserLocation(a->location));
      }
      auto e = MakeNode(ExprKind::kArrayCtor, element_type.ArrayOf(), UserLocation(a->location));
      e->args = std::move(elements);
      return e;
    }
    case PG_QUERY__NODE__NODE_SUB_LINK:
      return Error(node->sub_link->location, "subqueries are not supported");
    case PG_QUERY__NODE__NODE_COLLATE_CLAUSE: {
      // Only "C", which is what ordering comparisons use anyway (and what sql() prints).
      const auto* c = node->collate_clause;
      const char* name = c->n_collname == 1 ? StringOf(c->collname[0]) : nullptr;
      if (name == nullptr || std::string_view(name) != "C") {
        return Error(c->location, "only COLLATE \"C\" is supported");
      }
      EDDY_ASSIGN_OR_RETURN(auto arg, Bind(c->arg));
      if (!IsUnknown(arg->type) && !IsText(arg->type.kind)) {
        return Error(c->location, fmt::format("collations are not supported by type {}",
                                              DisplayName(arg->type)));
      }
      return arg;
    }
    default:
      return InvalidArgument("At location 0: unsupported expression in WHERE clause");
  }
}

Result<std::unique_ptr<Expr>> Binder::BindColumnRef(const PgQuery__Node* node) {
  const auto* ref = node->column_ref;
  std::string name;
  for (size_t i = 0; i < ref->n_fields; ++i) {
    const char* field = StringOf(ref->fields[i]);
    if (i > 0) name += '.';
    name += field ? field : "*";
  }
  if (ref->n_fields != 1 || StringOf(ref->fields[0]) == nullptr) {
    return Error(ref->location, "unknown reference " + name);
  }
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (columns_[i].name != name) continue;
    auto type = ColumnTypeOf(columns_[i]);
    if (!type) {
      return Error(ref->location,
                   fmt::format("unsupported type {} of column {}", columns_[i].type_name, name));
    }
    auto e = MakeNode(ExprKind::kColumn, *type, UserLocation(ref->location));
    e->column = static_cast<int>(i);
    return e;
  }
  return Error(ref->location, "unknown reference " + name);
}

Result<std::unique_ptr<Expr>> Binder::BindConst(const PgQuery__Node* node) {
  const auto* c = node->a_const;
  int location = UserLocation(c->location);
  if (c->isnull) return MakeConst(Type{}, Value::Null(), location);
  Value v;
  v.null = false;
  switch (c->val_case) {
    case PG_QUERY__A__CONST__VAL_IVAL:
      v.integer = c->ival ? c->ival->ival : 0;
      return MakeConst(Type{TypeKind::kInt4}, std::move(v), location);
    case PG_QUERY__A__CONST__VAL_FVAL: {
      std::string_view text = c->fval && c->fval->fval ? c->fval->fval : "";
      bool integral = text.find_first_of(".eE") == std::string_view::npos;
      if (integral) {
        auto as_int8 = ParseValue(Type{TypeKind::kInt8}, text);
        if (as_int8) return MakeConst(Type{TypeKind::kInt8}, std::move(*as_int8), location);
      }
      auto numeric = ParseValue(Type{TypeKind::kNumeric}, text);
      if (!numeric) return Error(c->location, fmt::format("invalid number {}", text));
      return MakeConst(Type{TypeKind::kNumeric}, std::move(*numeric), location);
    }
    case PG_QUERY__A__CONST__VAL_BOOLVAL:
      v.boolean = c->boolval && c->boolval->boolval;
      return MakeConst(kBoolType, std::move(v), location);
    case PG_QUERY__A__CONST__VAL_SVAL:
      v.text = c->sval && c->sval->sval ? c->sval->sval : "";
      return MakeConst(Type{}, std::move(v), location);
    default:
      return Error(c->location, "bit string constants are not supported");
  }
}

Result<Type> Binder::ResolveTypeName(const PgQuery__TypeName* type_name, int location) const {
  if (type_name == nullptr) return Error(location, "missing type name");
  std::vector<std::string> names;
  for (size_t i = 0; i < type_name->n_names; ++i) {
    const char* s = StringOf(type_name->names[i]);
    if (s == nullptr) return Error(location, "unsupported type name");
    names.emplace_back(s);
  }
  if (names.size() == 2 && names[0] == "pg_catalog") names.erase(names.begin());
  std::string name;
  for (size_t i = 0; i < names.size(); ++i) name += (i ? "." : "") + names[i];
  if (names.size() != 1) return Error(location, "unsupported type " + name);
  if (type_name->setof || type_name->pct_type) return Error(location, "unsupported type " + name);
  if (type_name->n_typmods > 0) {
    return Error(location, fmt::format("type modifiers are not supported ({})", name));
  }
  Type type;
  type.is_array = type_name->n_array_bounds > 0;
  if (auto kind = TypeKindFromName(name)) {
    type.kind = *kind;
    return type;
  }
  for (const auto& column : columns_) {
    auto column_type = ColumnTypeOf(column);
    if (column_type && column_type->kind == TypeKind::kEnum && column_type->enum_name == name) {
      type.kind = TypeKind::kEnum;
      type.enum_name = name;
      return type;
    }
  }
  return Error(location, "unsupported type " + name);
}

Result<std::unique_ptr<Expr>> Binder::BindTypeCast(const PgQuery__Node* node) {
  const auto* cast = node->type_cast;
  EDDY_ASSIGN_OR_RETURN(auto arg, Bind(cast->arg));
  EDDY_ASSIGN_OR_RETURN(Type type, ResolveTypeName(cast->type_name, cast->location));
  return Coerce(std::move(arg), type, cast->location, true);
}

Result<std::unique_ptr<Expr>> Binder::BindBool(const PgQuery__Node* node) {
  const auto* b = node->bool_expr;
  ExprKind kind = b->boolop == PG_QUERY__BOOL_EXPR_TYPE__AND_EXPR  ? ExprKind::kAnd
                  : b->boolop == PG_QUERY__BOOL_EXPR_TYPE__OR_EXPR ? ExprKind::kOr
                                                                   : ExprKind::kNot;
  const char* what = kind == ExprKind::kAnd ? "AND" : kind == ExprKind::kOr ? "OR" : "NOT";
  auto e = MakeNode(kind, kBoolType, UserLocation(b->location));
  for (size_t i = 0; i < b->n_args; ++i) {
    EDDY_ASSIGN_OR_RETURN(auto arg, Bind(b->args[i]));
    EDDY_ASSIGN_OR_RETURN(arg, CoerceToBool(std::move(arg), b->location, what));
    // Flatten nested AND/AND and OR/OR so equal clauses print the same.
    if (kind != ExprKind::kNot && arg->kind == kind) {
      for (auto& inner : arg->args) e->args.push_back(std::move(inner));
    } else {
      e->args.push_back(std::move(arg));
    }
  }
  if ((kind == ExprKind::kNot && e->args.size() != 1) || e->args.empty()) {
    return Error(b->location, "malformed boolean expression");
  }
  return e;
}

Result<std::unique_ptr<Expr>> Binder::MakeComparison(std::string_view op_in, ExprPtr left,
                                                     ExprPtr right, int location) {
  std::string op(op_in == "!=" ? "<>" : op_in);
  auto common = CommonType(left->type, right->type);
  if (!common) {
    return Error(location, fmt::format("operator does not exist: {} {} {}", DisplayName(left->type),
                                       op, DisplayName(right->type)));
  }
  const Type& t = *common;
  if (!t.is_array && t.kind == TypeKind::kJson) {
    return Error(location, fmt::format("operator does not exist: json {} json", op));
  }
  if (IsOrdering(op) && (t.kind == TypeKind::kJsonb || t.kind == TypeKind::kJson)) {
    return Error(location, fmt::format("unsupported operator {} for type {}", op, DisplayName(t)));
  }
  if (IsOrdering(op) && t.kind == TypeKind::kEnum) {
    return Error(location,
                 fmt::format("unsupported operator {} for enum type {} (cast it to text to compare "
                             "labels as text)",
                             op, t.enum_name));
  }
  EDDY_ASSIGN_OR_RETURN(left, Coerce(std::move(left), t, location, false));
  EDDY_ASSIGN_OR_RETURN(right, Coerce(std::move(right), t, location, false));
  auto e = MakeNode(ExprKind::kCompare, kBoolType, UserLocation(location));
  e->op = op;
  e->collate_c = IsOrdering(op) && IsText(t.kind);
  e->args.push_back(std::move(left));
  e->args.push_back(std::move(right));
  return e;
}

Result<std::unique_ptr<Expr>> Binder::MakeLike(std::string op, bool negated, ExprPtr left,
                                               ExprPtr right, int location) {
  for (ExprPtr* side : {&left, &right}) {
    const Type& t = (*side)->type;
    if (IsUnknown(t)) {
      EDDY_ASSIGN_OR_RETURN(*side, Coerce(std::move(*side), kTextType, location, false));
    } else if (t.is_array || !IsText(t.kind)) {
      return Error(location, fmt::format("operator does not exist: {} {} {}",
                                         DisplayName(left->type), op, DisplayName(right->type)));
    }
  }
  auto e = MakeNode(ExprKind::kLike, kBoolType, UserLocation(location));
  e->op = std::move(op);
  e->negated = negated;
  e->args.push_back(std::move(left));
  e->args.push_back(std::move(right));
  return e;
}

Result<std::unique_ptr<Expr>> Binder::BindAExpr(const PgQuery__Node* node) {
  const auto* a = node->a_expr;
  std::string op = OperatorName(a);
  int location = a->location;
  switch (a->kind) {
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP: {
      if (a->lexpr == nullptr) {  // prefix operator
        EDDY_ASSIGN_OR_RETURN(auto arg, Bind(a->rexpr));
        if (op == "+" && IsNumber(arg->type.kind) && !arg->type.is_array) return arg;
        if (op != "-" || arg->type.is_array ||
            !(IsNumber(arg->type.kind) || arg->type.kind == TypeKind::kInterval)) {
          return Error(location,
                       fmt::format("operator does not exist: {} {}", op, DisplayName(arg->type)));
        }
        auto e = MakeNode(ExprKind::kNegate, arg->type, UserLocation(location));
        e->args.push_back(std::move(arg));
        return e;
      }
      EDDY_ASSIGN_OR_RETURN(auto left, Bind(a->lexpr));
      EDDY_ASSIGN_OR_RETURN(auto right, Bind(a->rexpr));
      return BindOperator(op, std::move(left), std::move(right), location);
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ANY:
    case PG_QUERY__A__EXPR__KIND__AEXPR_OP_ALL: {
      bool all = a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_OP_ALL;
      if (!IsComparison(op)) {
        return Error(location, fmt::format("unsupported operator {} {}", op, all ? "ALL" : "ANY"));
      }
      if (op == "!=") op = "<>";
      EDDY_ASSIGN_OR_RETURN(auto left, Bind(a->lexpr));
      EDDY_ASSIGN_OR_RETURN(auto right, Bind(a->rexpr));
      if (IsUnknown(right->type)) {
        Type array_type = IsUnknown(left->type) ? kTextType.ArrayOf() : left->type.ArrayOf();
        EDDY_ASSIGN_OR_RETURN(right, Coerce(std::move(right), array_type, location, false));
      }
      if (!right->type.is_array || left->type.is_array) {
        return Error(location, fmt::format("op ANY/ALL (array) requires array on right side"));
      }
      auto common = CommonType(left->type, right->type.Element());
      if (!common || common->kind == TypeKind::kJson ||
          (IsOrdering(op) &&
           (common->kind == TypeKind::kEnum || common->kind == TypeKind::kJsonb))) {
        return Error(location, fmt::format("operator does not exist: {} {} {}",
                                           DisplayName(left->type), op, DisplayName(right->type)));
      }
      EDDY_ASSIGN_OR_RETURN(left, Coerce(std::move(left), *common, location, false));
      EDDY_ASSIGN_OR_RETURN(right, Coerce(std::move(right), common->ArrayOf(), location, false));
      auto e = MakeNode(ExprKind::kAnyAll, kBoolType, UserLocation(location));
      e->op = op;
      e->all = all;
      e->collate_c = IsOrdering(op) && IsText(common->kind);
      e->args.push_back(std::move(left));
      e->args.push_back(std::move(right));
      return e;
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_DISTINCT:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_DISTINCT: {
      EDDY_ASSIGN_OR_RETURN(auto left, Bind(a->lexpr));
      EDDY_ASSIGN_OR_RETURN(auto right, Bind(a->rexpr));
      EDDY_ASSIGN_OR_RETURN(auto cmp,
                            MakeComparison("=", std::move(left), std::move(right), location));
      cmp->kind = ExprKind::kDistinct;
      cmp->op.clear();
      cmp->negated = a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_DISTINCT;
      return cmp;
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_IN: {
      EDDY_ASSIGN_OR_RETURN(auto left, Bind(a->lexpr));
      if (a->rexpr == nullptr || a->rexpr->node_case != PG_QUERY__NODE__NODE_LIST) {
        return Error(location, "IN (subquery) is not supported");
      }
      std::vector<ExprPtr> items;
      Type common = left->type;
      for (size_t i = 0; i < a->rexpr->list->n_items; ++i) {
        EDDY_ASSIGN_OR_RETURN(auto item, Bind(a->rexpr->list->items[i]));
        auto c = CommonType(common, item->type);
        if (!c) {
          return Error(location, fmt::format("operator does not exist: {} = {}",
                                             DisplayName(left->type), DisplayName(item->type)));
        }
        common = *c;
        items.push_back(std::move(item));
      }
      if (IsUnknown(common)) common = kTextType;
      if (common.kind == TypeKind::kJson && !common.is_array) {
        return Error(location, "operator does not exist: json = json");
      }
      auto e = MakeNode(ExprKind::kIn, kBoolType, UserLocation(location));
      e->negated = op == "<>";
      EDDY_ASSIGN_OR_RETURN(left, Coerce(std::move(left), common, location, false));
      e->args.push_back(std::move(left));
      for (auto& item : items) {
        EDDY_ASSIGN_OR_RETURN(item, Coerce(std::move(item), common, location, false));
        e->args.push_back(std::move(item));
      }
      return e;
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_LIKE:
    case PG_QUERY__A__EXPR__KIND__AEXPR_ILIKE: {
      if (a->rexpr != nullptr && a->rexpr->node_case == PG_QUERY__NODE__NODE_FUNC_CALL) {
        return Error(location, "LIKE ... ESCAPE is not supported");
      }
      EDDY_ASSIGN_OR_RETURN(auto left, Bind(a->lexpr));
      EDDY_ASSIGN_OR_RETURN(auto right, Bind(a->rexpr));
      return BindOperator(op, std::move(left), std::move(right), location);
    }
    case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN:
    case PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN_SYM:
    case PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN_SYM: {
      if (a->rexpr == nullptr || a->rexpr->node_case != PG_QUERY__NODE__NODE_LIST ||
          a->rexpr->list->n_items != 2) {
        return Error(location, "malformed BETWEEN");
      }
      EDDY_ASSIGN_OR_RETURN(auto x, Bind(a->lexpr));
      EDDY_ASSIGN_OR_RETURN(auto low, Bind(a->rexpr->list->items[0]));
      EDDY_ASSIGN_OR_RETURN(auto high, Bind(a->rexpr->list->items[1]));
      auto common = CommonType(x->type, low->type);
      if (common) common = CommonType(*common, high->type);
      if (!common || common->kind == TypeKind::kJson || common->kind == TypeKind::kJsonb ||
          common->kind == TypeKind::kEnum) {
        return Error(location, fmt::format("operator does not exist: {} >= {}",
                                           DisplayName(x->type), DisplayName(low->type)));
      }
      EDDY_ASSIGN_OR_RETURN(x, Coerce(std::move(x), *common, location, false));
      EDDY_ASSIGN_OR_RETURN(low, Coerce(std::move(low), *common, location, false));
      EDDY_ASSIGN_OR_RETURN(high, Coerce(std::move(high), *common, location, false));
      auto e = MakeNode(ExprKind::kBetween, kBoolType, UserLocation(location));
      e->negated = a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN ||
                   a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN_SYM;
      e->symmetric = a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_BETWEEN_SYM ||
                     a->kind == PG_QUERY__A__EXPR__KIND__AEXPR_NOT_BETWEEN_SYM;
      e->collate_c = IsText(common->kind);
      e->args.push_back(std::move(x));
      e->args.push_back(std::move(low));
      e->args.push_back(std::move(high));
      return e;
    }
    default:
      return Error(location, fmt::format("unsupported operator {}", op.empty() ? "?" : op));
  }
}

Result<std::unique_ptr<Expr>> Binder::BindOperator(std::string_view op, ExprPtr left, ExprPtr right,
                                                   int location) {
  auto no_such = [&]() {
    return Error(location, fmt::format("operator does not exist: {} {} {}", DisplayName(left->type),
                                       op, DisplayName(right->type)));
  };
  if (IsComparison(op)) return MakeComparison(op, std::move(left), std::move(right), location);
  if (op == "~~" || op == "!~~" || op == "~~*" || op == "!~~*") {
    bool negated = op[0] == '!';
    bool ilike = op.back() == '*';
    return MakeLike(ilike ? "ILIKE" : "LIKE", negated, std::move(left), std::move(right), location);
  }
  if (op == "+" || op == "-" || op == "*" || op == "/" || op == "%") {
    if (left->type.is_array || right->type.is_array) return no_such();
    // An untyped side takes the other side's type (an interval next to a date/time).
    for (auto [side, other] : {std::pair{&left, &right}, std::pair{&right, &left}}) {
      if (IsUnknown((*side)->type) && !IsUnknown((*other)->type)) {
        Type target = IsDateTime((*other)->type.kind) ? Type{TypeKind::kInterval} : (*other)->type;
        EDDY_ASSIGN_OR_RETURN(*side, Coerce(std::move(*side), target, location, false));
      }
    }
    TypeKind l = left->type.kind, r = right->type.kind;
    Type result;
    if (IsNumber(l) && IsNumber(r)) {
      auto common = CommonType(left->type, right->type);
      if (!common || (op == "%" && !IsInteger(common->kind))) return no_such();
      EDDY_ASSIGN_OR_RETURN(left, Coerce(std::move(left), *common, location, false));
      EDDY_ASSIGN_OR_RETURN(right, Coerce(std::move(right), *common, location, false));
      result = *common;
    } else if (l == TypeKind::kDate && IsInteger(r) && (op == "+" || op == "-")) {
      EDDY_ASSIGN_OR_RETURN(right,
                            Coerce(std::move(right), Type{TypeKind::kInt4}, location, false));
      result = Type{TypeKind::kDate};
    } else if (IsInteger(l) && r == TypeKind::kDate && op == "+") {
      EDDY_ASSIGN_OR_RETURN(left, Coerce(std::move(left), Type{TypeKind::kInt4}, location, false));
      result = Type{TypeKind::kDate};
    } else if (l == TypeKind::kDate && r == TypeKind::kDate && op == "-") {
      result = Type{TypeKind::kInt4};
    } else if (IsDateTime(l) && r == TypeKind::kInterval && (op == "+" || op == "-")) {
      result = Type{l == TypeKind::kDate ? TypeKind::kTimestamp : l};
    } else if (l == TypeKind::kInterval && r == TypeKind::kInterval && (op == "+" || op == "-")) {
      result = Type{TypeKind::kInterval};
    } else {
      return no_such();
    }
    auto e = MakeNode(ExprKind::kArith, result, UserLocation(location));
    e->op = std::string(op);
    e->args.push_back(std::move(left));
    e->args.push_back(std::move(right));
    return e;
  }
  if (op == "||") {
    if (left->type.is_array || right->type.is_array) {
      return Error(location, "array concatenation is not supported");
    }
    bool left_text = IsUnknown(left->type) || IsText(left->type.kind);
    bool right_text = IsUnknown(right->type) || IsText(right->type.kind);
    if (!left_text && !right_text) return no_such();
    if (IsUnknown(left->type)) {
      EDDY_ASSIGN_OR_RETURN(left, Coerce(std::move(left), kTextType, location, false));
    }
    if (IsUnknown(right->type)) {
      EDDY_ASSIGN_OR_RETURN(right, Coerce(std::move(right), kTextType, location, false));
    }
    auto e = MakeNode(ExprKind::kTextConcat, kTextType, UserLocation(location));
    e->args.push_back(std::move(left));
    e->args.push_back(std::move(right));
    return e;
  }
  if (op == "->" || op == "->>") {
    const Type& j = left->type;
    if (j.is_array || (j.kind != TypeKind::kJson && j.kind != TypeKind::kJsonb)) return no_such();
    if (IsUnknown(right->type) || (!right->type.is_array && IsText(right->type.kind))) {
      EDDY_ASSIGN_OR_RETURN(right, Coerce(std::move(right), kTextType, location, false));
    } else if (!right->type.is_array && IsInteger(right->type.kind)) {
      EDDY_ASSIGN_OR_RETURN(right,
                            Coerce(std::move(right), Type{TypeKind::kInt4}, location, false));
    } else {
      return no_such();
    }
    auto e = MakeNode(ExprKind::kJsonGet, op == "->" ? j : kTextType, UserLocation(location));
    e->op = std::string(op);
    e->args.push_back(std::move(left));
    e->args.push_back(std::move(right));
    return e;
  }
  if (op == "@>" || op == "<@" || op == "&&") {
    const Type kJsonb{TypeKind::kJsonb};
    bool left_jsonb = left->type == kJsonb, right_jsonb = right->type == kJsonb;
    if (op != "&&" && (left_jsonb || right_jsonb)) {
      if (!left_jsonb) {
        if (!IsUnknown(left->type)) return no_such();
        EDDY_ASSIGN_OR_RETURN(left, Coerce(std::move(left), kJsonb, location, false));
      }
      if (!right_jsonb) {
        if (!IsUnknown(right->type)) return no_such();
        EDDY_ASSIGN_OR_RETURN(right, Coerce(std::move(right), kJsonb, location, false));
      }
      auto e = MakeNode(ExprKind::kJsonContains, kBoolType, UserLocation(location));
      e->op = std::string(op);
      e->args.push_back(std::move(left));
      e->args.push_back(std::move(right));
      return e;
    }
    if (IsUnknown(left->type) && right->type.is_array) {
      EDDY_ASSIGN_OR_RETURN(left, Coerce(std::move(left), right->type, location, false));
    }
    if (IsUnknown(right->type) && left->type.is_array) {
      EDDY_ASSIGN_OR_RETURN(right, Coerce(std::move(right), left->type, location, false));
    }
    if (!left->type.is_array || !right->type.is_array) return no_such();
    auto common = CommonType(left->type, right->type);
    if (!common || common->kind == TypeKind::kJson) return no_such();
    EDDY_ASSIGN_OR_RETURN(left, Coerce(std::move(left), *common, location, false));
    EDDY_ASSIGN_OR_RETURN(right, Coerce(std::move(right), *common, location, false));
    auto e = MakeNode(ExprKind::kArrayOp, kBoolType, UserLocation(location));
    e->op = std::string(op);
    e->args.push_back(std::move(left));
    e->args.push_back(std::move(right));
    return e;
  }
  if (op == "?") {
    if (!(left->type == Type{TypeKind::kJsonb})) return no_such();
    if (IsUnknown(right->type) || (!right->type.is_array && IsText(right->type.kind))) {
      EDDY_ASSIGN_OR_RETURN(right, Coerce(std::move(right), kTextType, location, false));
    } else {
      return no_such();
    }
    auto e = MakeNode(ExprKind::kJsonHasKey, kBoolType, UserLocation(location));
    e->op = "?";
    e->args.push_back(std::move(left));
    e->args.push_back(std::move(right));
    return e;
  }
  return Error(location, fmt::format("unsupported operator {}", op));
}

Result<std::unique_ptr<Expr>> Binder::BindFunction(const PgQuery__Node* node) {
  const auto* f = node->func_call;
  std::vector<std::string> names;
  for (size_t i = 0; i < f->n_funcname; ++i) {
    const char* s = StringOf(f->funcname[i]);
    names.emplace_back(s ? s : "?");
  }
  if (names.size() == 2 && names[0] == "pg_catalog") names.erase(names.begin());
  std::string name;
  for (size_t i = 0; i < names.size(); ++i) name += (i ? "." : "") + names[i];
  if (f->agg_star || f->agg_distinct || f->over != nullptr || f->agg_filter != nullptr ||
      f->n_agg_order > 0 || f->func_variadic || f->agg_within_group) {
    return Error(f->location, fmt::format("unsupported function call {}", name));
  }
  std::vector<ExprPtr> args;
  for (size_t i = 0; i < f->n_args; ++i) {
    EDDY_ASSIGN_OR_RETURN(auto arg, Bind(f->args[i]));
    args.push_back(std::move(arg));
  }
  if (name == "lower" || name == "upper") {
    if (args.size() != 1) return Error(f->location, name + "() takes one argument");
    const Type& t = args[0]->type;
    if (!IsUnknown(t) && (t.is_array || !IsText(t.kind))) {
      return Error(f->location,
                   fmt::format("function {}({}) does not exist", name, DisplayName(t)));
    }
    EDDY_ASSIGN_OR_RETURN(auto arg, Coerce(std::move(args[0]), kTextType, f->location, false));
    auto e = MakeNode(ExprKind::kFunction, kTextType, UserLocation(f->location));
    e->op = name;
    e->args.push_back(std::move(arg));
    return e;
  }
  if (name == "concat") {
    if (args.empty()) return Error(f->location, "concat() needs at least one argument");
    auto e = MakeNode(ExprKind::kFunction, kTextType, UserLocation(f->location));
    e->op = name;
    for (auto& arg : args) {
      if (IsUnknown(arg->type)) {
        EDDY_ASSIGN_OR_RETURN(arg, Coerce(std::move(arg), kTextType, f->location, false));
      }
      e->args.push_back(std::move(arg));
    }
    return e;
  }
  if (name == "coalesce" || name == "greatest" || name == "least") {
    return BindVariadic(name, std::move(args), f->location);
  }
  return Error(f->location, fmt::format("unknown or unsupported function {}", name));
}

Result<std::unique_ptr<Expr>> Binder::BindVariadic(std::string name, std::vector<ExprPtr> args,
                                                   int location) {
  if (args.empty()) return Error(location, name + " needs at least one argument");
  Type common;
  for (const auto& arg : args) {
    auto c = CommonType(common, arg->type);
    if (!c) {
      return Error(location, fmt::format("{} types {} and {} cannot be matched", name,
                                         DisplayName(common), DisplayName(arg->type)));
    }
    common = *c;
  }
  if (IsUnknown(common)) common = kTextType;
  bool ordering = name != "coalesce";
  if (ordering && (common.kind == TypeKind::kJson || common.kind == TypeKind::kJsonb ||
                   common.kind == TypeKind::kEnum)) {
    return Error(location,
                 fmt::format("{} is not supported for type {}", name, DisplayName(common)));
  }
  auto e = MakeNode(ExprKind::kFunction, common, UserLocation(location));
  e->op = name;
  e->collate_c = ordering && IsText(common.kind);
  for (auto& arg : args) {
    EDDY_ASSIGN_OR_RETURN(arg, Coerce(std::move(arg), common, location, false));
    e->args.push_back(std::move(arg));
  }
  return e;
}

}  // namespace eddy::where
