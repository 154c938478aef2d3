#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "change/pg_types.h"

namespace eddy::pg {
class Connection;
}

namespace eddy::capture {

// Resolves a column's type OID to how eddy renders it. Built-in types come from a fixed table;
// user types (enums, domains, arrays of them) from pg_type, looked up once and cached.
class TypeResolver {
 public:
  virtual ~TypeResolver() = default;
  virtual change::TypeInfo Resolve(uint32_t oid) = 0;
  // A Type message named a user type: remember its name (the kind still needs the catalog).
  virtual void NoteTypeName(uint32_t oid, std::string name) = 0;
  // The primary-key columns of a table, when known. Under REPLICA IDENTITY FULL pgoutput flags
  // every column as part of the identity, so the key is looked up here instead.
  virtual std::optional<std::vector<std::string>> PrimaryKey(uint32_t relation_oid) {
    (void)relation_oid;
    return std::nullopt;
  }
};

// Resolves built-ins only; unknown types render as text. For tests and as a fallback.
class BuiltinTypeResolver : public TypeResolver {
 public:
  change::TypeInfo Resolve(uint32_t oid) override;
  void NoteTypeName(uint32_t oid, std::string name) override;

 private:
  std::unordered_map<uint32_t, std::string> names_;
};

// Looks user types up in pg_type through a regular (non-replication) connection.
// Thread: used only by the capture thread.
class CatalogTypeResolver : public TypeResolver {
 public:
  // `connection` must outlive this resolver; nullptr degrades to built-ins.
  explicit CatalogTypeResolver(pg::Connection* connection) : connection_(connection) {}
  change::TypeInfo Resolve(uint32_t oid) override;
  void NoteTypeName(uint32_t oid, std::string name) override;
  std::optional<std::vector<std::string>> PrimaryKey(uint32_t relation_oid) override;
  void SetConnection(pg::Connection* connection) { connection_ = connection; }

 private:
  change::TypeInfo Lookup(uint32_t oid, int depth);

  pg::Connection* connection_;
  std::unordered_map<uint32_t, change::TypeInfo> cache_;
};

}  // namespace eddy::capture
