#include "server/demo.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "pg/connection.h"
#include "pg/throwaway_cluster.h"

namespace eddy::server {

DevDatabase::DevDatabase() = default;
DevDatabase::~DevDatabase() = default;
DevDatabase::DevDatabase(DevDatabase&&) noexcept = default;

Status ApplySchemaFiles(const std::string& conninfo, const std::string& schema_dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(schema_dir, ec)) {
    return NotFound(
        fmt::format("schema directory {} does not exist (pass --schema-dir)", schema_dir));
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(schema_dir)) {
    if (entry.path().extension() == ".sql") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> conn, pg::Connection::Connect(conninfo));
  for (const auto& file : files) {
    std::ifstream in(file);
    std::stringstream sql;
    sql << in.rdbuf();
    auto res = conn->Exec("BEGIN;\n" + sql.str() + "\n;COMMIT;");
    if (!res.ok()) {
      (void)conn->Exec("ROLLBACK");
      return res.status().WithContext(fmt::format("schema file {}", file.string()));
    }
  }
  return Status::Ok();
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
