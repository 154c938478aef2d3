#pragma once

// The parameters of an Electric Shape API request (GET/HEAD/POST/DELETE /v1/shape), parsed and
// validated with Electric's error texts. Pure: the table is checked against the catalog later.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "eddy/result.h"

#include "http/server.h"
#include "shape/offset.h"

namespace eddy::shapes {

// A relation named by `table`: "name", "schema.name", quoted parts allowed.
struct RelationName {
  std::string schema = "public";
  std::string name;
  bool operator==(const RelationName&) const = default;
};

// Validation errors by field, rendered as {"message":"Invalid request","errors":{...}}.
struct FieldErrors {
  std::map<std::string, std::vector<std::string>> fields;
  std::map<std::string, std::vector<std::string>> subset;  // errors.subset.<key>
  bool empty() const { return fields.empty() && subset.empty(); }
  void Add(const std::string& field, std::string message) {
    fields[field].push_back(std::move(message));
  }
  std::string ToJson() const;
};

struct SubsetRequest {
  std::optional<std::string> where;
  std::map<std::string, std::string> params;
  std::optional<int64_t> limit;
  std::optional<int64_t> offset;
  std::optional<std::string> order_by;
};

struct ShapeRequest {
  std::optional<RelationName> table;
  std::optional<std::string> where;
  std::map<std::string, std::string> params;        // "1" -> value
  std::optional<std::vector<std::string>> columns;  // as named (unquoted)
  bool replica_full = false;
  bool changes_only = false;
  shape::Offset offset = shape::Offset::BeforeAll();
  std::optional<std::string> handle;
  bool live = false;
  bool live_sse = false;
  std::optional<std::string> cursor;
  std::optional<SubsetRequest> subset;
  std::optional<std::string> secret;  // secret= or api_secret=
};

// Parses an identifier list element or table part. Errors are Electric's texts.
Result<RelationName> ParseRelationName(std::string_view text);
Result<std::vector<std::string>> ParseColumnList(std::string_view text);

// What a parse produced: the request, or errors (400), or a body error (400/413 with its own
// JSON shape: {"error": ...}).
struct ParsedShapeRequest {
  ShapeRequest request;
  FieldErrors errors;
  std::optional<http::Response> body_error;
};

// `for_delete`: DELETE takes `handle` or `table` and skips the offset rules.
ParsedShapeRequest ParseShapeRequest(const http::Request& request, bool for_delete);

// A `live`-style flag: true when present with any value but "false".
bool FlagValue(const std::optional<std::string>& value);

}  // namespace eddy::shapes
