#include "server/demo.h"

#include <fmt/format.h>

#include "pg/throwaway_cluster.h"
#include "server/migrate_command.h"

namespace eddy::server {

DevDatabase::DevDatabase() = default;
DevDatabase::~DevDatabase() = default;
DevDatabase::DevDatabase(DevDatabase&&) noexcept = default;

Status ApplySchemaFiles(const std::string& conninfo, const std::string& schema_dir) {
  // The same Migrator as `eddy migrate`: timestamp order, one transaction per file, a history
  // table, so `eddy migrate` against the dev database later applies only newer files.
  return ApplyMigrations(conninfo, schema_dir)
      .WithContext(fmt::format("loading {} (pass --schema-dir)", schema_dir));
}

Result<DevDatabase> StartDevDatabase(const std::string& schema_dir) {
  DevDatabase db;
  pg::ThrowawayCluster::Options options;
  EDDY_ASSIGN_OR_RETURN(db.cluster, pg::ThrowawayCluster::Start(options));
  EDDY_RETURN_IF_ERROR(db.cluster->CreateDatabase("eddy_dev"));
  db.url = db.cluster->Url("eddy_dev");
  db.psql = fmt::format("psql '{}'", db.url);
  EDDY_RETURN_IF_ERROR(ApplySchemaFiles(db.cluster->ConnInfo("eddy_dev"), schema_dir));
  return db;
}

}  // namespace eddy::server
