#pragma once

#include <memory>
#include <string>

#include "eddy/result.h"

namespace eddy::pg {
class ThrowawayCluster;
}

namespace eddy::server {

// A throwaway PostgreSQL 15 with the demo schema, for `eddy dev` when no database is given.
struct DevDatabase {
  std::unique_ptr<pg::ThrowawayCluster> cluster;
  std::string url;   // postgresql://postgres@127.0.0.1:<port>/eddy_dev
  std::string psql;  // a psql command line that connects to it
  ~DevDatabase();
  DevDatabase();
  DevDatabase(DevDatabase&&) noexcept;
};

// Starts the cluster and applies the migrations in `schema_dir` (ApplySchemaFiles).
Result<DevDatabase> StartDevDatabase(const std::string& schema_dir);

// Applies the migrations in `schema_dir` with the Migrator (src/schema): timestamp order, each
// file in its own transaction, recorded in eddy.schema_migrations.
Status ApplySchemaFiles(const std::string& conninfo, const std::string& schema_dir);

}  // namespace eddy::server
