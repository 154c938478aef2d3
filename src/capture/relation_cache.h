#pragma once

#include <functional>
#include <memory>
#include <unordered_map>

#include "eddy/change.h"

#include "capture/type_resolver.h"
#include "pgoutput/messages.h"

namespace eddy::capture {

// The tables the replication stream has described, by relation id. PostgreSQL sends a Relation
// message before the first change of a table in each session and again after its schema
// changed; each message replaces the entry, and a change of columns bumps schema_version.
// Thread: owned by the capture thread.
class RelationCache {
 public:
  explicit RelationCache(TypeResolver& types) : types_(types) {}

  // Called with each new table version (a first description or a schema change).
  void SetVersionListener(std::function<void(const std::shared_ptr<const Table>&)> listener) {
    listener_ = std::move(listener);
  }

  // Replaces the entry for `relation.id`. Returns the table now in force.
  std::shared_ptr<const Table> Apply(const pgoutput::Relation& relation);
  // nullptr when the stream never described `id` (a protocol violation).
  std::shared_ptr<const Table> Find(RelationId id) const;
  // Seeds an entry after a restart (from the log's last description of the table), so an
  // unchanged table keeps its schema_version and a changed one gets the next.
  void Seed(std::shared_ptr<const Table> table);

 private:
  struct Entry {
    std::shared_ptr<const Table> table;
    uint32_t max_version = 0;
  };
  TypeResolver& types_;
  std::function<void(const std::shared_ptr<const Table>&)> listener_;
  std::unordered_map<uint32_t, Entry> entries_;
};

}  // namespace eddy::capture
