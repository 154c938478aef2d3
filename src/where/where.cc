#include "where/where.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include "where/binder.h"
#include "where/expression.h"
#include "where/value.h"

namespace eddy::where {
namespace {

constexpr std::string_view kWherePrefix = "SELECT 1 WHERE ";
constexpr std::string_view kOrderByPrefix = "SELECT 1 ORDER BY ";

struct ParseTreeDeleter {
  void operator()(PgQuery__ParseResult* tree) const {
    pg_query__parse_result__free_unpacked(tree, nullptr);
  }
};
using ParseTree = std::unique_ptr<PgQuery__ParseResult, ParseTreeDeleter>;

// Parses `text` with PostgreSQL's grammar. Syntax errors report the parser's position in the
// wrapped text, 0-based (what Electric reports: `1 x 1` -> "At location 17").
Result<ParseTree> Parse(const std::string& text) {
  if (text.find('\0') != std::string::npos) {
    return InvalidArgument("At location 0: the clause contains a NUL byte");
  }
  PgQueryProtobufParseResult result = pg_query_parse_protobuf(text.c_str());
  if (result.error != nullptr) {
    Status status = InvalidArgument(fmt::format(
        "At location {}: {}", std::max(0, result.error->cursorpos - 1), result.error->message));
    pg_query_free_protobuf_parse_result(result);
    return status;
  }
  ParseTree tree(pg_query__parse_result__unpack(
      nullptr, result.parse_tree.len, reinterpret_cast<const uint8_t*>(result.parse_tree.data)));
  pg_query_free_protobuf_parse_result(result);
  if (!tree) return Internal("could not read libpg_query's parse tree");
  return tree;
}

// The single SELECT of a wrapped clause, or the error Electric gives for anything else.
Result<const PgQuery__SelectStmt*> SingleSelect(const ParseTree& tree) {
  if (tree->n_stmts > 1) return InvalidArgument("unescaped \";\" causing statement split");
  if (tree->n_stmts != 1 || tree->stmts[0]->stmt == nullptr ||
      tree->stmts[0]->stmt->node_case != PG_QUERY__NODE__NODE_SELECT_STMT) {
    return InvalidArgument("malformed query ending with SQL clauses");
  }
  return tree->stmts[0]->stmt->select_stmt;
}

bool HasOtherClauses(const PgQuery__SelectStmt* s) {
  return s->n_distinct_clause > 0 || s->into_clause != nullptr || s->n_target_list != 1 ||
         s->n_from_clause > 0 || s->n_group_clause > 0 || s->having_clause != nullptr ||
         s->n_window_clause > 0 || s->n_values_lists > 0 || s->limit_offset != nullptr ||
         s->limit_count != nullptr || s->n_locking_clause > 0 || s->with_clause != nullptr ||
         s->op != PG_QUERY__SET_OPERATION__SETOP_NONE;
}

// Where a node starts in the wrapped text (-1 when the parser does not say).
int NodeLocation(const PgQuery__Node* node) {
  if (node == nullptr) return -1;
  switch (node->node_case) {
    case PG_QUERY__NODE__NODE_FUNC_CALL:
      return node->func_call->location;
    case PG_QUERY__NODE__NODE_A_CONST:
      return node->a_const->location;
    case PG_QUERY__NODE__NODE_PARAM_REF:
      return node->param_ref->location;
    case PG_QUERY__NODE__NODE_SUB_LINK:
      return node->sub_link->location;
    case PG_QUERY__NODE__NODE_A_EXPR:
      return node->a_expr->location;
    case PG_QUERY__NODE__NODE_TYPE_CAST:
      return node->type_cast->location;
    case PG_QUERY__NODE__NODE_COLUMN_REF:
      return node->column_ref->location;
    case PG_QUERY__NODE__NODE_BOOL_EXPR:
      return node->bool_expr->location;
    default:
      return -1;
  }
}

// Column types an index term can name: ones whose printed text is a canonical form of the value.
bool IndexableType(const Type& type) {
  if (type.is_array) return false;
  switch (type.kind) {
    case TypeKind::kBool:
    case TypeKind::kInt2:
    case TypeKind::kInt4:
    case TypeKind::kInt8:
    case TypeKind::kText:
    case TypeKind::kVarchar:
    case TypeKind::kName:
    case TypeKind::kUuid:
    case TypeKind::kDate:
    case TypeKind::kEnum:
      return true;
    default:
      return false;
  }
}

// Looks through implicit casts that keep the printed text (int widening, varchar -> text).
const Expr* StripTextPreservingCasts(const Expr* e) {
  while (e->kind == ExprKind::kCast && e->implicit) {
    const Type& from = e->args[0]->type;
    const Type& to = e->type;
    bool ints = IsInteger(from.kind) && IsInteger(to.kind);
    bool texts = (from.kind == TypeKind::kVarchar || from.kind == TypeKind::kName) &&
                 to.kind == TypeKind::kText;
    if (from.is_array || to.is_array || !(ints || texts)) break;
    e = e->args[0].get();
  }
  return e;
}

// The IndexPath `e` reads, if it is one an index can hold.
std::optional<IndexPath> PathOf(const Expr* e) {
  e = StripTextPreservingCasts(e);
  if (e->kind == ExprKind::kColumn && IndexableType(e->type)) return IndexPath{e->column, {}};
  if (e->kind == ExprKind::kJsonGet && e->op == "->>" && e->args[0]->kind == ExprKind::kColumn &&
      e->args[0]->type == Type{TypeKind::kJsonb} && e->args[1]->kind == ExprKind::kConst &&
      e->args[1]->type == Type{TypeKind::kText} && !e->args[1]->constant.null) {
    return IndexPath{e->args[0]->column, e->args[1]->constant.text};
  }
  return std::nullopt;
}

// The value an equality with constant `c` needs the path's text to be; nullopt if the constant
// is of a type whose text may differ from the column's (e.g. int8 constant on an int4 column is
// fine, a float constant is not).
std::optional<std::optional<std::string>> TermValue(const Expr* c, const IndexPath& path,
                                                    const Expr* path_expr) {
  if (c->kind != ExprKind::kConst) return std::nullopt;
  if (c->constant.null) return std::optional<std::string>{};  // never equal
  const Type& type = c->type;
  if (path.json_key) {
    if (!(type == Type{TypeKind::kText})) return std::nullopt;
    return std::optional<std::string>{c->constant.text};
  }
  const Type& column_type = StripTextPreservingCasts(path_expr)->type;
  bool compatible = IndexableType(type) &&
                    (type == column_type || (IsInteger(type.kind) && IsInteger(column_type.kind)) ||
                     (type.kind == TypeKind::kText && IsText(column_type.kind)));
  if (!compatible) return std::nullopt;
  return std::optional<std::string>{FormatValue(type, c->constant)};
}

using Terms = std::vector<IndexTerm>;

std::optional<Terms> Analyze(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kAnd: {
      std::optional<Terms> best;
      for (const auto& arg : e.args) {
        auto terms = Analyze(*arg);
        if (terms && (!best || terms->size() < best->size())) best = std::move(terms);
      }
      return best;
    }
    case ExprKind::kOr: {
      std::set<std::pair<IndexPath, std::string>> seen;
      Terms all;
      for (const auto& arg : e.args) {
        auto terms = Analyze(*arg);
        if (!terms) return std::nullopt;
        for (auto& term : *terms) {
          if (seen.insert({term.path, term.value}).second) all.push_back(std::move(term));
        }
      }
      return all;
    }
    case ExprKind::kCompare: {
      if (e.op != "=") return std::nullopt;
      for (int side = 0; side < 2; ++side) {
        const Expr* path_expr = e.args[static_cast<size_t>(side)].get();
        auto path = PathOf(path_expr);
        if (!path) continue;
        auto value = TermValue(e.args[static_cast<size_t>(1 - side)].get(), *path, path_expr);
        if (!value) continue;
        if (!*value) return Terms{};
        return Terms{IndexTerm{*path, std::move(**value)}};
      }
      return std::nullopt;
    }
    case ExprKind::kIn: {
      if (e.negated) return std::nullopt;
      auto path = PathOf(e.args[0].get());
      if (!path) return std::nullopt;
      Terms terms;
      std::set<std::string> seen;
      for (size_t i = 1; i < e.args.size(); ++i) {
        auto value = TermValue(e.args[i].get(), *path, e.args[0].get());
        if (!value) return std::nullopt;
        if (*value && seen.insert(**value).second) terms.push_back({*path, std::move(**value)});
      }
      return terms;
    }
    case ExprKind::kColumn:
      if (e.type == Type{TypeKind::kBool}) return Terms{IndexTerm{IndexPath{e.column, {}}, "t"}};
      return std::nullopt;
    case ExprKind::kNot:
      if (e.args[0]->kind == ExprKind::kColumn && e.args[0]->type == Type{TypeKind::kBool}) {
        return Terms{IndexTerm{IndexPath{e.args[0]->column, {}}, "f"}};
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

void CollectColumns(const Expr& e, std::set<int>& out) {
  if (e.kind == ExprKind::kColumn) out.insert(e.column);
  for (const auto& arg : e.args) CollectColumns(*arg, out);
}

class CompiledFilter final : public Filter {
 public:
  CompiledFilter(std::unique_ptr<Expr> root, std::span<const ColumnType> columns)
      : root_(std::move(root)) {
    for (const auto& column : columns) {
      column_types_.push_back(Binder::ColumnTypeOf(column).value_or(Type{}));
    }
    AppendSql(*root_, columns, sql_);
    index_terms_ = Analyze(*root_);
    std::set<int> referenced;
    CollectColumns(*root_, referenced);
    referenced_columns_.assign(referenced.begin(), referenced.end());
  }

  bool Matches(RowValues row) const override {
    Value v = Evaluate(*root_, row, column_types_);
    return !v.null && v.boolean;
  }
  const std::string& sql() const override { return sql_; }
  const std::optional<std::vector<IndexTerm>>& index_terms() const override { return index_terms_; }
  const std::vector<int>& referenced_columns() const override { return referenced_columns_; }

 private:
  std::unique_ptr<Expr> root_;
  std::vector<Type> column_types_;
  std::string sql_;
  std::optional<std::vector<IndexTerm>> index_terms_;
  std::vector<int> referenced_columns_;
};

}  // namespace

Result<std::shared_ptr<const Filter>> Compile(std::string_view where,
                                              const std::map<std::string, std::string>& params,
                                              std::span<const ColumnType> columns) {
  std::string wrapped = std::string(kWherePrefix) + std::string(where);
  EDDY_ASSIGN_OR_RETURN(ParseTree tree, Parse(wrapped));
  EDDY_ASSIGN_OR_RETURN(const PgQuery__SelectStmt* select, SingleSelect(tree));
  if (HasOtherClauses(select) || select->n_sort_clause > 0 || select->where_clause == nullptr) {
    return InvalidArgument("malformed query ending with SQL clauses");
  }
  Binder binder(params, columns, static_cast<int>(kWherePrefix.size()));
  EDDY_ASSIGN_OR_RETURN(auto root, binder.BindWhere(select->where_clause));
  return std::shared_ptr<const Filter>(std::make_shared<CompiledFilter>(std::move(root), columns));
}

std::optional<std::string> IndexValue(const IndexPath& path, RowValues row) {
  auto index = static_cast<size_t>(path.column);
  if (path.column < 0 || index >= row.size() || !row[index]) return std::nullopt;
  if (!path.json_key) return std::string(*row[index]);
  auto json = JsonValue::Parse(*row[index]);
  if (!json) return std::nullopt;
  const JsonValue* member = json->Member(*path.json_key);
  if (member == nullptr) return std::nullopt;
  return member->AsText();
}

Result<std::string> CompileOrderBy(std::string_view order_by, std::span<const ColumnType> columns) {
  std::string wrapped = std::string(kOrderByPrefix) + std::string(order_by);
  EDDY_ASSIGN_OR_RETURN(ParseTree tree, Parse(wrapped));
  EDDY_ASSIGN_OR_RETURN(const PgQuery__SelectStmt* select, SingleSelect(tree));
  if (HasOtherClauses(select) || select->where_clause != nullptr || select->n_sort_clause == 0) {
    return InvalidArgument("malformed query ending with SQL clauses");
  }
  auto location = [&](int wrapped_location) {
    return std::max(0, wrapped_location - static_cast<int>(kOrderByPrefix.size()));
  };
  std::string sql;
  for (size_t i = 0; i < select->n_sort_clause; ++i) {
    const PgQuery__Node* item = select->sort_clause[i];
    if (item->node_case != PG_QUERY__NODE__NODE_SORT_BY) {
      return InvalidArgument("malformed query ending with SQL clauses");
    }
    const PgQuery__SortBy* sort = item->sort_by;
    if (sort->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_USING || sort->n_use_op > 0) {
      return InvalidArgument(fmt::format("At location {}: ORDER BY ... USING is not supported",
                                         location(sort->location)));
    }
    const PgQuery__Node* node = sort->node;
    if (node == nullptr || node->node_case != PG_QUERY__NODE__NODE_COLUMN_REF) {
      return InvalidArgument(
          fmt::format("At location {}: ORDER BY may only name columns of the table",
                      location(std::max(NodeLocation(node), sort->location))));
    }
    const PgQuery__ColumnRef* ref = node->column_ref;
    const char* name = nullptr;
    if (ref->n_fields == 1 && ref->fields[0]->node_case == PG_QUERY__NODE__NODE_STRING) {
      name = ref->fields[0]->string->sval;
    }
    auto column = name == nullptr
                      ? columns.end()
                      : std::find_if(columns.begin(), columns.end(),
                                     [&](const ColumnType& c) { return c.name == name; });
    if (column == columns.end()) {
      std::string shown;
      for (size_t f = 0; f < ref->n_fields; ++f) {
        const PgQuery__Node* field = ref->fields[f];
        if (f > 0) shown += '.';
        shown += field->node_case == PG_QUERY__NODE__NODE_STRING ? field->string->sval : "*";
      }
      return InvalidArgument(
          fmt::format("At location {}: unknown reference {}", location(ref->location), shown));
    }
    if (i > 0) sql += ", ";
    sql += QuoteIdentifier(column->name);
    if (sort->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_ASC) sql += " ASC";
    if (sort->sortby_dir == PG_QUERY__SORT_BY_DIR__SORTBY_DESC) sql += " DESC";
    if (sort->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_FIRST) sql += " NULLS FIRST";
    if (sort->sortby_nulls == PG_QUERY__SORT_BY_NULLS__SORTBY_NULLS_LAST) sql += " NULLS LAST";
  }
  return sql;
}

}  // namespace eddy::where
