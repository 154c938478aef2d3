#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "eddy/change.h"

namespace eddy::change {

// What eddy knows about a PostgreSQL type: enough to render its values.
struct TypeInfo {
  std::string name;  // "int4", "_text", "mood"
  TypeKind kind = TypeKind::kText;
  TypeKind element_kind = TypeKind::kText;  // when kind == kArray
};

// The built-in types (OIDs below 10000 that PostgreSQL fixes). nullopt for user types, which the
// capture resolves from pg_type (enums, domains, arrays of those).
std::optional<TypeInfo> BuiltinType(uint32_t oid);

// Maps pg_type.typcategory of a user type to a kind: 'E' enum, 'A' array (then see element),
// 'N' numeric, 'B' boolean, 'S' string, ... Domains resolve through their base type instead.
TypeKind KindFromCategory(char typcategory);

}  // namespace eddy::change
