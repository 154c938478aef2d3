#include "server/migrate_command.h"

#include <cstdio>

#include <fmt/format.h>

#include "pg/connection.h"
#include "schema/migration_file.h"
#include "schema/migrator.h"
#include "schema/schema_hash.h"

namespace eddy::server {
namespace {

std::string Label(const schema::MigrationEntry& e) {
  return e.file_name.empty() ? fmt::format("{}_{}", e.version, e.name) : e.file_name;
}

void PrintMissingWarnings(const schema::MigrationStatus& status, const std::string& dir) {
  for (const schema::MigrationEntry& e : status.entries) {
    if (e.state != schema::MigrationState::kMissingFile) continue;
    fmt::print(stderr,
               "eddy migrate: warning: version {} ({}) was applied {} but has no file in {} "
               "(restore the file, or delete its row from {} if it was removed on purpose)\n",
               e.version, e.name, e.applied_at, dir, status.history_table);
  }
}

std::string SchemaHashLine(pg::Connection& conn, const Config& config) {
  auto digest = schema::ComputeSchemaDigest(
      conn, schema::SchemaHashOptions::ForWatcher(config.watcher, config.schema.history_schema));
  if (!digest.ok()) return fmt::format("schema hash: unknown ({})", digest.status().message());
  return fmt::format("schema hash: {} ({} synced table{})", digest->hash, digest->tables.size(),
                     digest->tables.size() == 1 ? "" : "s");
}

std::string Plural(size_t n, const char* word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

}  // namespace

Result<int> RunMigrate(const Config& config, const MigrateFlags& flags) {
  if (config.watcher.database_url.empty()) {
    return InvalidArgument("eddy migrate: no database: pass --database or set DATABASE_URL");
  }
  const std::string dir = flags.dir.empty() ? config.schema.dir : flags.dir;
  EDDY_ASSIGN_OR_RETURN(std::vector<schema::MigrationFile> files, schema::LoadMigrationDir(dir));
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> conn,
                        pg::Connection::Connect(config.watcher.database_url));
  schema::MigratorOptions options;
  options.history_schema = config.schema.history_schema;
  schema::Migrator migrator(*conn, options);

  if (flags.status) {
    EDDY_ASSIGN_OR_RETURN(schema::MigrationStatus status, migrator.Inspect(files));
    fmt::print(
        "migrations   {}: {}; history {} ({})\n", dir, Plural(files.size(), "file"),
        status.history_table,
        status.history_exists
            ? fmt::format("{} applied", status.Count(schema::MigrationState::kApplied) +
                                            status.Count(schema::MigrationState::kChanged) +
                                            status.Count(schema::MigrationState::kMissingFile))
            : std::string("not created yet"));
    for (const schema::MigrationEntry& e : status.entries) {
      std::string note;
      switch (e.state) {
        case schema::MigrationState::kApplied:
          note = e.applied_at;
          break;
        case schema::MigrationState::kPending:
          note =
              e.out_of_order ? "(older than the newest applied migration; it will still run)" : "";
          break;
        case schema::MigrationState::kChanged:
          note = "ERROR: edited after it was applied (restore it; put changes in a new file)";
          break;
        case schema::MigrationState::kMissingFile:
          note = fmt::format("WARNING: applied {} but no file", e.applied_at);
          break;
      }
      fmt::print("{:<12} {:<40} {}\n", schema::MigrationStateName(e.state), Label(e), note);
    }
    fmt::print("{}\n", SchemaHashLine(*conn, config));
    return status.Count(schema::MigrationState::kChanged) > 0 ? 1 : 0;
  }

  auto progress = [](const schema::MigrationEntry& e, bool done, std::chrono::milliseconds took) {
    if (!done) {
      fmt::print("applying {} ... ", Label(e));
    } else {
      fmt::print("ok ({} ms)\n", took.count());
    }
    std::fflush(stdout);
  };
  auto result = migrator.Apply(files, flags.dry_run, progress);
  if (!result.ok()) {
    fmt::print("failed\n");
    std::fflush(stdout);
    return result.status();
  }
  PrintMissingWarnings(result->before, dir);
  if (flags.dry_run) {
    for (const schema::MigrationEntry& e : result->applied) {
      fmt::print("would apply {}{}\n", Label(e),
                 e.out_of_order ? " (older than the newest applied migration)" : "");
    }
    fmt::print("dry run: {} would be applied; nothing was changed\n",
               Plural(result->applied.size(), "migration"));
    return 0;
  }
  if (result->applied.empty()) {
    const int applied = result->before.Count(schema::MigrationState::kApplied);
    fmt::print("nothing to apply: {} already applied ({})\n", Plural(applied, "migration"), dir);
  } else {
    fmt::print("applied {}\n", Plural(result->applied.size(), "migration"));
  }
  fmt::print("{}\n", SchemaHashLine(*conn, config));
  return 0;
}

Status ApplyMigrations(const std::string& conninfo, const std::string& dir,
                       const std::string& history_schema) {
  EDDY_ASSIGN_OR_RETURN(std::vector<schema::MigrationFile> files, schema::LoadMigrationDir(dir));
  EDDY_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> conn, pg::Connection::Connect(conninfo));
  schema::MigratorOptions options;
  options.history_schema = history_schema;
  schema::Migrator migrator(*conn, options);
  return migrator.Apply(files, /*dry_run=*/false).status();
}

}  // namespace eddy::server
