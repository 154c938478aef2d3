#include "schema/migrator.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace eddy::schema {
namespace {

constexpr std::string_view kHistoryTableName = "schema_migrations";

std::string LockKey(const std::string& history_schema) {
  // A slot name cannot contain ':', so this never collides with the capture leader lock
  // ("eddy:<slot>"), which uses the same hashtext key space.
  return "eddy:migrate:" + history_schema;
}

}  // namespace

const char* MigrationStateName(MigrationState state) {
  switch (state) {
    case MigrationState::kApplied:
      return "applied";
    case MigrationState::kPending:
      return "pending";
    case MigrationState::kChanged:
      return "changed";
    case MigrationState::kMissingFile:
      return "missing";
  }
  return "?";
}

int MigrationStatus::Count(MigrationState state) const {
  return static_cast<int>(std::count_if(entries.begin(), entries.end(),
                                        [&](const MigrationEntry& e) { return e.state == state; }));
}

Status MigrationStatus::ChangedError() const {
  for (const MigrationEntry& e : entries) {
    if (e.state != MigrationState::kChanged) continue;
    return FailedPrecondition(fmt::format(
        "migration {} was edited after it was applied (checksum {} in {}, {} on disk): an "
        "applied migration must not change; restore the file and put the change in a new "
        "migration file with a later timestamp",
        e.file_name, e.applied_checksum.substr(0, 12), history_table,
        e.file_checksum.substr(0, 12)));
  }
  return Status::Ok();
}

Migrator::Migrator(pg::Connection& connection, MigratorOptions options)
    : connection_(connection), options_(std::move(options)) {}

std::string Migrator::QuotedHistoryTable() const {
  return pg::Connection::QuoteIdent(options_.history_schema) + "." +
         pg::Connection::QuoteIdent(kHistoryTableName);
}

Result<MigrationStatus> Migrator::Inspect(const std::vector<MigrationFile>& files) {
  MigrationStatus status;
  status.history_table = fmt::format("{}.{}", options_.history_schema, kHistoryTableName);
  EDDY_ASSIGN_OR_RETURN(
      pg::QueryResult exists,
      connection_.ExecParams("SELECT to_regclass($1) IS NOT NULL", {QuotedHistoryTable()}));
  status.history_exists = exists.Get(0, 0) == "t";
  std::map<int64_t, MigrationEntry> applied;
  int64_t newest_applied = 0;
  if (status.history_exists) {
    auto rows = connection_.Exec(
        fmt::format("SELECT version, name, checksum, applied_at FROM {} ORDER BY version",
                    QuotedHistoryTable()));
    if (!rows.ok()) {
      return rows.status().WithContext(fmt::format(
          "reading {} (is it eddy's history table? set schema.history_schema to use another "
          "schema)",
          status.history_table));
    }
    for (int i = 0; i < rows->rows(); ++i) {
      MigrationEntry e;
      e.version = std::stoll(std::string(rows->Get(i, 0)));
      e.name = std::string(rows->Get(i, 1));
      e.applied_checksum = std::string(rows->Get(i, 2));
      e.applied_at = std::string(rows->Get(i, 3));
      e.state = MigrationState::kMissingFile;
      newest_applied = std::max(newest_applied, e.version);
      applied.emplace(e.version, std::move(e));
    }
  }
  for (const MigrationFile& file : files) {
    auto it = applied.find(file.version);
    if (it == applied.end()) {
      MigrationEntry e;
      e.version = file.version;
      e.name = file.name;
      e.file_name = file.file_name;
      e.file_checksum = file.checksum;
      e.state = MigrationState::kPending;
      e.out_of_order = file.version < newest_applied;
      applied.emplace(e.version, std::move(e));
      continue;
    }
    MigrationEntry& e = it->second;
    e.file_name = file.file_name;
    e.file_checksum = file.checksum;
    e.state =
        e.applied_checksum == file.checksum ? MigrationState::kApplied : MigrationState::kChanged;
  }
  for (auto& [version, entry] : applied) status.entries.push_back(std::move(entry));
  return status;
}

Status Migrator::Lock() {
  // lock_timeout bounds the wait for the advisory lock; RESET returns to the role's default so
  // the migrations themselves run under the user's settings.
  EDDY_RETURN_IF_ERROR(connection_
                           .Exec(fmt::format("SET lock_timeout = '{}s'",
                                             std::max<int64_t>(1, options_.lock_wait.count())))
                           .status());
  auto locked = connection_.ExecParams("SELECT pg_advisory_lock(hashtext($1)::int8)",
                                       {LockKey(options_.history_schema)});
  Status reset = connection_.Exec("RESET lock_timeout").status();
  if (!locked.ok()) {
    if (pg::SqlState(locked.status()) == "55P03") {
      return FailedPrecondition(fmt::format(
          "another eddy migrate has held the migration lock for more than {} s; wait for it to "
          "finish (or find it: SELECT pid FROM pg_locks WHERE locktype = 'advisory')",
          options_.lock_wait.count()));
    }
    return locked.status().WithContext("taking the migration lock");
  }
  return reset;
}

void Migrator::Unlock() {
  (void)connection_.ExecParams("SELECT pg_advisory_unlock(hashtext($1)::int8)",
                               {LockKey(options_.history_schema)});
}

Status Migrator::CreateHistoryTable() {
  // Checked first (we hold the lock, so nobody creates them in between) rather than IF NOT
  // EXISTS, whose NOTICEs would reach the terminal on every run.
  EDDY_ASSIGN_OR_RETURN(
      pg::QueryResult exists,
      connection_.ExecParams(
          "SELECT to_regnamespace($1) IS NOT NULL, to_regclass($2) IS NOT NULL",
          {pg::Connection::QuoteIdent(options_.history_schema), QuotedHistoryTable()}));
  std::string sql;
  if (exists.Get(0, 0) != "t") {
    sql += fmt::format("CREATE SCHEMA {};\n", pg::Connection::QuoteIdent(options_.history_schema));
  }
  if (exists.Get(0, 1) != "t") {
    sql += fmt::format(
        "CREATE TABLE {} (\n"
        "  version    bigint PRIMARY KEY,\n"
        "  name       text NOT NULL,\n"
        "  checksum   text NOT NULL,\n"
        "  applied_at timestamptz NOT NULL DEFAULT now()\n"
        ")",
        QuotedHistoryTable());
  }
  if (sql.empty()) return Status::Ok();
  return connection_.Exec(sql).status().WithContext(
      fmt::format("creating the history table {}.{} (may the role create schemas and tables? "
                  "schema.history_schema picks another schema)",
                  options_.history_schema, kHistoryTableName));
}

Status Migrator::ApplyOne(const MigrationFile& file) {
  EDDY_RETURN_IF_ERROR(connection_.Exec("BEGIN").status());
  auto ran = connection_.Exec(file.sql);
  if (!ran.ok()) {
    const int line = LineOfPosition(file.sql, connection_.last_error_position());
    (void)connection_.Exec("ROLLBACK");
    return line > 0 ? ran.status().WithContext(fmt::format("line {}", line)) : ran.status();
  }
  if (!connection_.InTransaction()) {
    return FailedPrecondition(
        "the file ends the transaction eddy opened for it (a COMMIT or ROLLBACK in the file): "
        "remove the transaction control statements, eddy runs each file in its own transaction; "
        "what ran before the COMMIT stays committed, check the database before running again");
  }
  auto recorded = connection_.ExecParams(
      fmt::format("INSERT INTO {} (version, name, checksum) VALUES ($1, $2, $3)",
                  QuotedHistoryTable()),
      {std::to_string(file.version), file.name, file.checksum});
  if (!recorded.ok()) {
    (void)connection_.Exec("ROLLBACK");
    return recorded.status().WithContext("recording it in the history table");
  }
  return connection_.Exec("COMMIT").status();
}

Result<MigrateResult> Migrator::Apply(const std::vector<MigrationFile>& files, bool dry_run,
                                      const Progress& progress) {
  MigrateResult result;
  result.dry_run = dry_run;
  if (dry_run) {
    EDDY_ASSIGN_OR_RETURN(result.before, Inspect(files));
    EDDY_RETURN_IF_ERROR(result.before.ChangedError());
    for (const MigrationEntry& e : result.before.entries) {
      if (e.state == MigrationState::kPending) result.applied.push_back(e);
    }
    return result;
  }
  EDDY_RETURN_IF_ERROR(Lock());
  // The lock is a session lock: released here on every path, and by PostgreSQL if we die.
  struct Unlocker {
    Migrator* migrator;
    ~Unlocker() { migrator->Unlock(); }
  } unlocker{this};
  EDDY_RETURN_IF_ERROR(CreateHistoryTable());
  EDDY_ASSIGN_OR_RETURN(result.before, Inspect(files));
  EDDY_RETURN_IF_ERROR(result.before.ChangedError());
  std::map<int64_t, const MigrationFile*> by_version;
  for (const MigrationFile& file : files) by_version[file.version] = &file;
  for (const MigrationEntry& entry : result.before.entries) {
    if (entry.state != MigrationState::kPending) continue;
    const MigrationFile& file = *by_version.at(entry.version);
    if (progress) progress(entry, false, std::chrono::milliseconds(0));
    const auto started = std::chrono::steady_clock::now();
    Status applied = ApplyOne(file);
    if (!applied.ok()) {
      const size_t before = result.applied.size();
      return applied.WithContext(fmt::format(
          "migration {} failed and was rolled back ({}later files did not run; fix it and run "
          "eddy migrate again)",
          file.path,
          before == 0 ? std::string()
                      : fmt::format("the {} file{} applied before it stay{} applied, ", before,
                                    before == 1 ? "" : "s", before == 1 ? "s" : "")));
    }
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    result.applied.push_back(entry);
    if (progress) progress(entry, true, took);
  }
  return result;
}

}  // namespace eddy::schema
