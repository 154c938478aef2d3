#include "capture/relation_cache.h"

#include <algorithm>

namespace eddy::capture {

std::shared_ptr<const Table> RelationCache::Apply(const pgoutput::Relation& relation) {
  auto table = std::make_shared<Table>();
  table->relation_id = relation.id;
  table->schema = relation.schema;
  table->name = relation.name;
  table->replica_identity = relation.replica_identity;
  table->columns.reserve(relation.columns.size());
  // Under FULL every column is flagged; the key is the primary key (none: the whole row).
  std::optional<std::vector<std::string>> primary_key;
  if (relation.replica_identity == 'f') {
    primary_key = types_.PrimaryKey(relation.id.value());
    if (!primary_key) primary_key.emplace();
  }
  for (const pgoutput::RelationColumn& rc : relation.columns) {
    Column c;
    c.name = rc.name;
    c.type_oid = rc.type_oid;
    c.type_modifier = rc.type_modifier;
    change::TypeInfo info = types_.Resolve(rc.type_oid);
    c.type_name = std::move(info.name);
    c.kind = info.kind;
    c.element_kind = info.element_kind;
    c.is_key = primary_key ? std::find(primary_key->begin(), primary_key->end(), rc.name) !=
                                 primary_key->end()
                           : (rc.flags & 1) != 0;
    table->columns.push_back(std::move(c));
  }
  Entry& entry = entries_[relation.id.value()];
  const bool same = entry.table && entry.table->schema == table->schema &&
                    entry.table->name == table->name &&
                    entry.table->replica_identity == table->replica_identity &&
                    entry.table->columns == table->columns;
  if (same) return entry.table;
  table->schema_version = entry.max_version + 1;
  entry.max_version = table->schema_version;
  entry.table = std::move(table);
  if (listener_) listener_(entry.table);
  return entry.table;
}

std::shared_ptr<const Table> RelationCache::Find(RelationId id) const {
  auto it = entries_.find(id.value());
  return it == entries_.end() ? nullptr : it->second.table;
}

void RelationCache::Seed(std::shared_ptr<const Table> table) {
  Entry& entry = entries_[table->relation_id.value()];
  if (table->schema_version >= entry.max_version) {
    entry.max_version = table->schema_version;
    entry.table = std::move(table);
  }
}

}  // namespace eddy::capture
