#pragma once

// WHERE clauses of shapes: parsed with libpg_query the way PostgreSQL parses them, type-checked
// against a table's columns, compiled to an evaluator for live rows, deparsed to normalised SQL
// for the snapshot query, and analysed into index terms for routing changes to shapes.
// Pure: no I/O. Errors carry the text Electric's `errors.where` gives (see
// ../shared/protocols/electric-shape-api.md section 5).

#include <compare>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "eddy/result.h"

namespace eddy::where {

// One column of the table a WHERE may reference.
struct ColumnType {
  std::string name;               // as in the catalog (case kept)
  std::string type_name;          // pg_type.typname: "int4", "text", "jsonb", "_int4", "mood"
  std::string element_type_name;  // for arrays: "int4"; empty otherwise
  bool is_enum = false;           // the type (or, for arrays, the element type) is an enum
};

// One row's values as PostgreSQL prints them under eddy's session settings (DateStyle=ISO,
// TimeZone=UTC, IntervalStyle=iso_8601, extra_float_digits=3, bytea_output=hex), indexed like
// the columns given to Compile. nullopt is SQL NULL.
using RowValues = std::span<const std::optional<std::string_view>>;

// What an index term compares: a column's text, or `column ->> json_key` of a json/jsonb column.
struct IndexPath {
  int column = 0;
  std::optional<std::string> json_key;
  auto operator<=>(const IndexPath&) const = default;
};

// The row can match only if the text of `path` on the row equals `value` (the text PostgreSQL
// would print for that value, e.g. "7" for `id = '007'` on an int column).
struct IndexTerm {
  IndexPath path;
  std::string value;
  bool operator==(const IndexTerm&) const = default;
};

// A compiled WHERE clause. Immutable and thread-safe.
class Filter {
 public:
  virtual ~Filter() = default;
  // True only when the clause evaluates to TRUE (NULL and FALSE are both "not in the shape").
  virtual bool Matches(RowValues row) const = 0;
  // Normalised SQL, safe to paste after WHERE: identifiers double-quoted, every constant and
  // parameter inlined as a quoted literal with its type ('7'::int4). Equal clauses that differ
  // only in whitespace, keyword case or how a constant was written give the same text, so it is
  // also the clause's identity.
  virtual const std::string& sql() const = 0;
  // Terms such that a row that matches has at least one term true (an OR of equalities the
  // clause implies), or nullopt when no such set exists (e.g. `a > 1`, or `a = 1 OR b > 2`).
  virtual const std::optional<std::vector<IndexTerm>>& index_terms() const = 0;
  // The columns the clause reads (indexes into the columns given to Compile), ascending.
  virtual const std::vector<int>& referenced_columns() const = 0;
};

// Compiles `where` against `columns`. `params` maps "1", "2", ... to the text of $1, $2, ...
// (typed by their context, bound as constants: never pasted into SQL). Errors
// (kInvalidArgument) have exactly the message for `errors.where`, e.g.
//   At location 17: syntax error at or near "x"
//   At location 0: unknown reference foo
//   WHERE clause must return a boolean
//   At location 5: parameter $1 was not provided
Result<std::shared_ptr<const Filter>> Compile(std::string_view where,
                                              const std::map<std::string, std::string>& params,
                                              std::span<const ColumnType> columns);

// The text of `path` on `row`, comparable with IndexTerm::value; nullopt when the value is NULL,
// the JSON is not an object, or the key is absent.
std::optional<std::string> IndexValue(const IndexPath& path, RowValues row);

// Compiles a subset's ORDER BY ("title DESC NULLS LAST, id"): column references only (no
// functions, casts, parameters or subqueries), each optionally ASC/DESC and NULLS FIRST/LAST.
// Returns normalised SQL ("\"title\" DESC NULLS LAST, \"id\""). Errors as for Compile.
Result<std::string> CompileOrderBy(std::string_view order_by, std::span<const ColumnType> columns);

}  // namespace eddy::where
