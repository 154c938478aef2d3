#include "capture/type_resolver.h"

#include <fmt/format.h>

#include "pg/connection.h"

namespace eddy::capture {

change::TypeInfo BuiltinTypeResolver::Resolve(uint32_t oid) {
  if (auto t = change::BuiltinType(oid)) return *t;
  auto it = names_.find(oid);
  return change::TypeInfo{it != names_.end() ? it->second : fmt::format("oid{}", oid),
                          TypeKind::kText, TypeKind::kText};
}

void BuiltinTypeResolver::NoteTypeName(uint32_t oid, std::string name) {
  names_[oid] = std::move(name);
}

change::TypeInfo CatalogTypeResolver::Resolve(uint32_t oid) {
  if (auto t = change::BuiltinType(oid)) return *t;
  auto it = cache_.find(oid);
  if (it != cache_.end()) return it->second;
  change::TypeInfo info = Lookup(oid, 0);
  cache_[oid] = info;
  return info;
}

void CatalogTypeResolver::NoteTypeName(uint32_t oid, std::string name) {
  // A Type message means the type may have changed (e.g. an enum got a value): look it up again.
  cache_.erase(oid);
  (void)name;
}

std::optional<std::vector<std::string>> CatalogTypeResolver::PrimaryKey(uint32_t relation_oid) {
  if (connection_ == nullptr) return std::nullopt;
  auto result = connection_->ExecParams(
      "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND "
      "a.attnum = ANY (i.indkey) WHERE i.indrelid = $1::oid AND i.indisprimary",
      {std::to_string(relation_oid)});
  if (!result.ok()) return std::nullopt;
  std::vector<std::string> columns;
  for (int r = 0; r < result->rows(); ++r) columns.emplace_back(result->Get(r, 0));
  return columns;
}

change::TypeInfo CatalogTypeResolver::Lookup(uint32_t oid, int depth) {
  if (auto t = change::BuiltinType(oid)) return *t;
  change::TypeInfo fallback{fmt::format("oid{}", oid), TypeKind::kText, TypeKind::kText};
  if (connection_ == nullptr || depth > 4) return fallback;
  auto result = connection_->ExecParams(
      "SELECT typname, typcategory, typelem::int8, typbasetype::int8, typtype FROM pg_type "
      "WHERE oid = $1::oid",
      {std::to_string(oid)});
  if (!result.ok() || result->rows() != 1) return fallback;
  change::TypeInfo info;
  info.name = std::string(result->Get(0, 0));
  const char category = result->Get(0, 1).empty() ? 'X' : result->Get(0, 1)[0];
  const auto elem = static_cast<uint32_t>(std::stoull(std::string(result->Get(0, 2))));
  const auto base = static_cast<uint32_t>(std::stoull(std::string(result->Get(0, 3))));
  const char typtype = result->Get(0, 4).empty() ? 'b' : result->Get(0, 4)[0];
  if (typtype == 'd' && base != 0) {
    change::TypeInfo base_info = Lookup(base, depth + 1);
    base_info.name = info.name;
    return base_info;
  }
  if (category == 'A' && elem != 0) {
    change::TypeInfo elem_info = Lookup(elem, depth + 1);
    info.kind = TypeKind::kArray;
    info.element_kind = elem_info.kind == TypeKind::kArray ? TypeKind::kText : elem_info.kind;
    return info;
  }
  info.kind = change::KindFromCategory(category);
  return info;
}

}  // namespace eddy::capture
