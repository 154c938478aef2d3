#pragma once

// What a shape needs to know about its table from the catalog: its columns with their types,
// modifiers and primary-key positions, and the `electric-schema` header built from them.

#include <cstdint>
#include <string>
#include <vector>

#include "eddy/result.h"

#include "adapters/shape/shape_request.h"
#include "pg/connection.h"
#include "where/where.h"

namespace eddy::shapes {

struct ColumnInfo {
  std::string name;
  std::string type_name;          // pg_type.typname ("int4", "_text", "mood")
  std::string element_type_name;  // arrays: the element's typname
  bool is_enum = false;           // the type or (arrays) its element is an enum
  int dims = 0;                   // attndims
  int32_t type_modifier = -1;
  bool not_null = false;
  bool generated = false;
  int pk_index = -1;  // position in the primary key, -1 when not part of it
};

struct TableInfo {
  uint32_t oid = 0;
  RelationName name;
  char replica_identity = 'd';
  std::vector<ColumnInfo> columns;  // attnum order, generated columns left out
  std::vector<int> primary_key;     // column indexes in key order; empty without a primary key

  std::vector<where::ColumnType> WhereColumns() const;
  int ColumnIndex(std::string_view name) const;  // -1 when absent
};

// Looks `name` up. kNotFound carries Electric's text:
//   Table "public"."nonexistent" does not exist. If the table name contains capitals or special
//   characters you must quote it.
Result<TableInfo> LoadTableInfo(pg::Connection& connection, const RelationName& name);

// The `electric-schema` header for the `selected` columns (see the protocol notes, 3.6).
std::string SchemaHeaderJson(const TableInfo& table, const std::vector<int>& selected);

// "\"schema\".\"name\"" for SQL.
std::string QuotedTableName(const RelationName& name);

}  // namespace eddy::shapes
