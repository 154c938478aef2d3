#include "adapters/watermelon/meta_follower.h"

#include <limits>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "adapters/watermelon/value_mapping.h"

namespace eddy::watermelon {
namespace {

constexpr auto kGcInterval = std::chrono::minutes(10);

std::string Q(const std::string& ident) { return pg::Connection::QuoteIdent(ident); }

int ColumnIndex(const Table& table, const std::string& name) {
  for (size_t i = 0; i < table.columns.size(); ++i) {
    if (table.columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::optional<std::string> ValueText(const std::vector<Value>& row, int index) {
  if (index < 0 || static_cast<size_t>(index) >= row.size()) return std::nullopt;
  const Value& v = row[static_cast<size_t>(index)];
  if (v.kind != Value::Kind::kText) return std::nullopt;
  return v.text;
}

}  // namespace

std::string MetaSchemaSql(const std::string& schema) {
  const std::string s = Q(schema);
  return fmt::format(
      "CREATE SCHEMA IF NOT EXISTS {0};"
      "CREATE TABLE IF NOT EXISTS {0}.meta (tbl text NOT NULL, id text NOT NULL, "
      "version bigint NOT NULL, created_version bigint NOT NULL, deleted boolean NOT NULL, "
      "origin_client text, changed_by text, scope text, scope_since bigint NOT NULL DEFAULT 0, "
      "deleted_at timestamptz, PRIMARY KEY (tbl, id));"
      "CREATE INDEX IF NOT EXISTS meta_tbl_version ON {0}.meta (tbl, version);"
      "CREATE TABLE IF NOT EXISTS {0}.scope_tombstones (scope text NOT NULL, tbl text NOT NULL, "
      "id text NOT NULL, version bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), "
      "PRIMARY KEY (scope, tbl, id));"
      "CREATE TABLE IF NOT EXISTS {0}.state (singleton int PRIMARY KEY CHECK (singleton = 1), "
      "processed_lsn bigint NOT NULL CHECK (processed_lsn >= 1), "
      "horizon bigint NOT NULL DEFAULT 0);"
      "CREATE TABLE IF NOT EXISTS {0}.tables (tbl text PRIMARY KEY, backfilled_at bigint NOT "
      "NULL);"
      "CREATE TABLE IF NOT EXISTS {0}.push_origin (xid bigint PRIMARY KEY, client_id text NOT "
      "NULL, created_at timestamptz NOT NULL DEFAULT now());"
      "CREATE TABLE IF NOT EXISTS {0}.fence (singleton int PRIMARY KEY, n bigint NOT NULL);"
      "INSERT INTO {0}.fence VALUES (1, 0) ON CONFLICT DO NOTHING;",
      s);
}

MetaFollower::MetaFollower(MetaFollowerOptions options, log::ChangeLog& log,
                           std::vector<std::shared_ptr<const SyncTable>> tables)
    : options_(std::move(options)), log_(log), tables_(std::move(tables)) {
  for (const auto& t : tables_) by_qualified_[t->qualified] = t.get();
}

MetaFollower::~MetaFollower() { Stop(); }

Status MetaFollower::Start() {
  EDDY_ASSIGN_OR_RETURN(conn_, pg::Connection::Connect(options_.conninfo));
  EDDY_RETURN_IF_ERROR(Setup(*conn_).WithContext("watermelon: preparing " + options_.schema));
  last_gc_ = std::chrono::steady_clock::now() - kGcInterval;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void MetaFollower::Stop() {
  stopping_.store(true);
  {
    std::lock_guard lock(mu_);
    applied_cv_.notify_all();
  }
  if (reader_) reader_->Cancel();
  if (thread_.joinable()) thread_.join();
}

bool MetaFollower::WaitApplied(uint64_t lsn, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return applied_cv_.wait_for(lock, timeout, [&] {
    return stopping_.load() || applied_lsn_.load() >= lsn;
  }) && applied_lsn_.load() >= lsn;
}

std::string MetaFollower::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

void MetaFollower::SetError(const std::string& error) {
  std::lock_guard lock(mu_);
  last_error_ = error;
}

Status MetaFollower::Setup(pg::Connection& c) {
  EDDY_RETURN_IF_ERROR(c.Exec(MetaSchemaSql(options_.schema)).status());
  const std::string s = Q(options_.schema);
  if (!options_.publication.empty()) {
    // A publication that lists tables must carry eddy's push_origin and fence too, or pushes
    // could neither be attributed nor fenced. FOR ALL TABLES publications already do.
    EDDY_ASSIGN_OR_RETURN(pg::QueryResult pub,
                          c.ExecParams("SELECT puballtables FROM pg_publication WHERE pubname = $1",
                                       {options_.publication}));
    if (pub.rows() == 1 && pub.Get(0, 0) == "f") {
      for (const char* t : {"push_origin", "fence"}) {
        EDDY_ASSIGN_OR_RETURN(
            pg::QueryResult has,
            c.ExecParams("SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND "
                         "schemaname = $2 AND tablename = $3",
                         {options_.publication, options_.schema, std::string(t)}));
        if (has.rows() == 0) {
          EDDY_RETURN_IF_ERROR(c.Exec(fmt::format("ALTER PUBLICATION {} ADD TABLE {}.{}",
                                                  Q(options_.publication), s, t))
                                   .status());
        }
      }
    }
  }
  // The point to resume from, or (first start) the log's durable end: everything before it is
  // committed, so a snapshot taken after reading it holds all of it.
  uint64_t log_end = 1;
  if (auto last = log_.LastDurableCommit())
    log_end = std::max<uint64_t>(last->commit_lsn.value(), 1);
  EDDY_RETURN_IF_ERROR(c.Exec("BEGIN ISOLATION LEVEL REPEATABLE READ").status());
  auto body = [&]() -> Status {
    EDDY_ASSIGN_OR_RETURN(pg::QueryResult st,
                          c.Exec(fmt::format("SELECT processed_lsn FROM {}.state", s)));
    uint64_t processed = 0;
    bool fresh = st.rows() == 0;
    if (fresh) {
      processed = log_end;
      EDDY_RETURN_IF_ERROR(c.ExecParams(fmt::format("INSERT INTO {}.state (singleton, "
                                                    "processed_lsn) VALUES (1, $1)",
                                                    s),
                                        {std::to_string(processed)})
                               .status());
    } else {
      processed = std::stoull(std::string(st.Get(0, 0)));
    }
    EDDY_ASSIGN_OR_RETURN(pg::QueryResult known,
                          c.Exec(fmt::format("SELECT tbl FROM {}.tables", s)));
    std::set<std::string> seen;
    for (int i = 0; i < known.rows(); ++i) seen.insert(std::string(known.Get(i, 0)));
    bool bumped = false;
    for (const auto& t : tables_) {
      if (seen.count(t->qualified)) continue;
      // A table seen for the first time: its rows get a version above every watermark already
      // handed out, so every client receives them.
      if (!fresh && !bumped) {
        processed += 1;
        bumped = true;
        EDDY_RETURN_IF_ERROR(c.ExecParams(fmt::format("UPDATE {}.state SET processed_lsn = $1", s),
                                          {std::to_string(processed)})
                                 .status());
      }
      EDDY_RETURN_IF_ERROR(Backfill(c, *t, processed, false));
      EDDY_RETURN_IF_ERROR(c.ExecParams(fmt::format("INSERT INTO {}.tables VALUES ($1, $2)", s),
                                        {t->qualified, std::to_string(processed)})
                               .status());
      spdlog::info("watermelon: {} backfilled at version {}", t->qualified, processed);
    }
    EDDY_RETURN_IF_ERROR(c.Exec("COMMIT").status());
    last_commit_ = flushed_commit_ = processed;
    applied_lsn_.store(processed);
    return Status::Ok();
  };
  Status s2 = body();
  if (!s2.ok()) {
    (void)c.Exec("ROLLBACK");
    return s2;
  }
  auto reader = log_.NewReader(Position{Lsn(last_commit_), std::numeric_limits<uint32_t>::max()});
  if (!reader.ok() && reader.status().code() == StatusCode::kDataLoss) {
    // The log no longer holds what the metadata needs next: start over from the log's end. Rows
    // are re-versioned there, and clients older than that get a replacement sync (horizon).
    spdlog::warn(
        "watermelon: {}; every row is re-versioned and older clients get a replacement "
        "sync",
        reader.status().message());
    uint64_t restart = std::max(log_end, last_commit_ + 1);
    EDDY_RETURN_IF_ERROR(c.Exec("BEGIN").status());
    for (const auto& t : tables_) {
      Status b = Backfill(c, *t, restart, true);
      if (!b.ok()) {
        (void)c.Exec("ROLLBACK");
        return b;
      }
    }
    EDDY_RETURN_IF_ERROR(
        c.ExecParams(fmt::format("UPDATE {}.state SET processed_lsn = $1, horizon = $1", s),
                     {std::to_string(restart)})
            .status());
    EDDY_RETURN_IF_ERROR(c.Exec("COMMIT").status());
    last_commit_ = flushed_commit_ = restart;
    applied_lsn_.store(restart);
    reader = log_.NewReader(Position{Lsn(log_end), std::numeric_limits<uint32_t>::max()});
  }
  if (!reader.ok()) return reader.status();
  reader_ = std::move(reader).value();
  return Status::Ok();
}

Status MetaFollower::Backfill(pg::Connection& c, const SyncTable& t, uint64_t version,
                              bool overwrite) {
  const std::string scope = t.scope_column.empty() ? "NULL::text" : Q(t.scope_column) + "::text";
  const std::string v = std::to_string(version);
  std::string sql = fmt::format(
      "INSERT INTO {0}.meta (tbl, id, version, created_version, deleted, scope, scope_since) "
      "SELECT $1, {1}::text, {2}, {2}, false, {3}, {2} FROM {4} ",
      Q(options_.schema), Q(t.id_column), v, scope, t.quoted);
  sql += overwrite ? "ON CONFLICT (tbl, id) DO UPDATE SET version = EXCLUDED.version, "
                     "deleted = false, scope = EXCLUDED.scope, deleted_at = NULL"
                   : "ON CONFLICT DO NOTHING";
  return c.ExecParams(sql, {t.qualified}).status();
}

void MetaFollower::Run() {
  while (!stopping_.load()) {
    auto next = reader_->Next(pending_.empty() && last_commit_ == flushed_commit_
                                  ? std::chrono::milliseconds(200)
                                  : std::chrono::milliseconds(0));
    if (!next.ok()) {
      if (stopping_.load() || next.status().code() == StatusCode::kAborted) break;
      SetError(next.status().ToString());
      spdlog::error("watermelon: reading the change log failed: {}", next.status().ToString());
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    Status status;
    if (!*next) {
      // Nothing more right now: write what the batch holds.
      if (!pending_.empty() || last_commit_ != flushed_commit_) status = Flush(true);
      if (status.ok() && std::chrono::steady_clock::now() - last_gc_ >= kGcInterval) {
        last_gc_ = std::chrono::steady_clock::now();
        status = CollectGarbage();
      }
    } else if ((*next)->kind == log::LogEntry::Kind::kChange) {
      OnChange((*next)->change);
      if (pending_.size() >= kMaxBatchRows) status = Flush(false);
    } else {
      last_commit_ = (*next)->commit.commit_lsn.value();
      batch_xids_.push_back((*next)->commit.xid.value());
      txn_origin_.clear();
      if (pending_.size() >= kMaxBatchRows) status = Flush(true);
    }
    while (!status.ok() && !stopping_.load()) {
      // PostgreSQL went away or refused: keep the batch and try again; nothing moves meanwhile.
      SetError(status.ToString());
      spdlog::warn("watermelon: writing metadata failed: {}; retrying", status.ToString());
      std::this_thread::sleep_for(std::chrono::seconds(1));
      if (!conn_ || !conn_->IsOk()) {
        auto c = pg::Connection::Connect(options_.conninfo);
        if (!c.ok()) continue;
        conn_ = std::move(c).value();
      }
      status = Flush(true);
    }
  }
}

void MetaFollower::OnChange(const Change& change) {
  if (!change.table) return;
  const Table& table = *change.table;
  if (table.schema == options_.schema) {
    if (table.name == "push_origin" && change.op == Op::kInsert) {
      txn_origin_ = ValueText(change.new_row, ColumnIndex(table, "client_id")).value_or("");
    }
    return;  // eddy's own bookkeeping
  }
  auto it = by_qualified_.find(table.QualifiedName());
  if (it == by_qualified_.end()) return;
  const SyncTable& t = *it->second;
  const uint64_t version = change.position.commit_lsn.value();
  if (change.op == Op::kTruncate) {
    Status s = Flush(false);
    if (s.ok()) s = ApplyTruncate(t, version);
    if (!s.ok()) SetError(s.ToString());
    return;
  }
  const int id_index = ColumnIndex(table, t.id_column);
  const int scope_index = t.scope_column.empty() ? -1 : ColumnIndex(table, t.scope_column);
  auto add = [&](std::string id, bool deleted, bool is_create, std::optional<std::string> scope) {
    std::string key = t.qualified;
    key.push_back('\0');
    key += id;
    Pending p;
    p.tbl = t.qualified;
    p.id = std::move(id);
    p.version = version;
    p.created_version = is_create ? version : 0;
    p.is_create = is_create;
    p.deleted = deleted;
    p.origin = txn_origin_;
    p.scope = std::move(scope);
    auto found = pending_index_.find(key);
    if (found == pending_index_.end()) {
      pending_index_.emplace(std::move(key), pending_.size());
      pending_.push_back(std::move(p));
      return;
    }
    Pending& prev = pending_[found->second];
    if (!p.is_create && prev.is_create && !prev.deleted) {
      // Created earlier in this batch: it stays a creation.
      p.is_create = true;
      p.created_version = prev.created_version;
      p.origin = prev.origin;
    }
    if (p.deleted) p.scope = prev.scope;
    prev = std::move(p);
  };
  switch (change.op) {
    case Op::kInsert:
      if (auto id = ValueText(change.new_row, id_index)) {
        add(*id, false, true,
            scope_index < 0 ? std::nullopt : ValueText(change.new_row, scope_index));
      }
      break;
    case Op::kUpdate: {
      auto id = ValueText(change.new_row, id_index);
      if (!id) break;
      if (change.old_kind != OldRow::kNone) {
        auto old_id = ValueText(change.old_row, id_index);
        if (old_id && *old_id != *id) add(*old_id, true, false, std::nullopt);  // key changed
      }
      add(*id, false, false,
          scope_index < 0 ? std::nullopt : ValueText(change.new_row, scope_index));
      break;
    }
    case Op::kDelete:
      if (auto id = ValueText(change.old_row, id_index)) add(*id, true, false, std::nullopt);
      break;
    default:
      break;
  }
}

// PostgreSQL writes a commit record (which eddy decodes) a moment before the transaction becomes
// visible to new snapshots. A pull that saw this batch's metadata but not yet its rows would
// move the client's watermark past them for good, so the batch waits until every transaction
// in it is visible (normally already so; bounded, then written anyway with a warning).
Status MetaFollower::WaitUntilVisible(pg::Connection& c) {
  if (batch_xids_.empty()) return Status::Ok();
  std::vector<std::string> xids;
  xids.reserve(batch_xids_.size());
  for (uint32_t x : batch_xids_) xids.push_back(std::to_string(x));
  // The 32-bit ids are widened against the snapshot's xmax (the nearest epoch).
  const std::string sql =
      "WITH s AS (SELECT pg_catalog.pg_current_snapshot() AS snap), "
      "m AS (SELECT snap, pg_catalog.pg_snapshot_xmax(snap)::text::int8 AS xm FROM s), "
      "w AS (SELECT snap, xm, ((xm >> 32) << 32) | x AS full_xid FROM m, "
      "unnest($1::int8[]) AS x) "
      "SELECT coalesce(bool_and(pg_catalog.pg_visible_in_snapshot((CASE WHEN full_xid > xm + "
      "2147483648 THEN full_xid - 4294967296 ELSE full_xid END)::text::xid8, snap)), true) "
      "FROM w";
  const std::optional<std::string> param = TextArrayLiteral(xids);
  for (int attempt = 0; attempt < 2000; ++attempt) {
    EDDY_ASSIGN_OR_RETURN(pg::QueryResult r, c.ExecParams(sql, {param}));
    if (r.Get(0, 0) == "t") {
      batch_xids_.clear();
      return Status::Ok();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  spdlog::warn("watermelon: {} transactions were still not visible after 2 s; writing on",
               batch_xids_.size());
  batch_xids_.clear();
  return Status::Ok();
}

Status MetaFollower::Flush(bool at_commit) {
  if (!conn_ || !conn_->IsOk()) return Unavailable("no connection to PostgreSQL");
  pg::Connection& c = *conn_;
  const std::string s = Q(options_.schema);
  const uint64_t through = last_commit_;
  EDDY_RETURN_IF_ERROR(WaitUntilVisible(c));
  EDDY_RETURN_IF_ERROR(c.Exec("BEGIN").status());
  std::vector<TouchedTable> left_scopes;  // scopes rows left (moved out, deleted)
  auto body = [&]() -> Status {
    left_scopes.clear();
    if (!pending_.empty()) {
      std::vector<std::string> tbl, id, version, created, is_create, deleted;
      std::vector<std::optional<std::string>> origin, scope;
      for (const Pending& p : pending_) {
        tbl.push_back(p.tbl);
        id.push_back(p.id);
        version.push_back(std::to_string(p.version));
        created.push_back(std::to_string(p.created_version));
        is_create.push_back(p.is_create ? "t" : "f");
        deleted.push_back(p.deleted ? "t" : "f");
        origin.push_back(p.origin.empty() ? std::nullopt : std::optional<std::string>(p.origin));
        scope.push_back(p.scope);
      }
      const std::string sql = fmt::format(
          "WITH u AS (SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], "
          "$5::bool[], $6::bool[], $7::text[], $8::text[]) AS u(tbl, id, version, "
          "created_version, is_create, deleted, origin, scope)), "
          // A row leaving a scope leaves a tombstone there (spec 5: scopes).
          "st AS (INSERT INTO {0}.scope_tombstones (scope, tbl, id, version) "
          "SELECT m.scope, m.tbl, m.id, u.version FROM u JOIN {0}.meta m ON m.tbl = u.tbl AND "
          "m.id = u.id WHERE NOT m.deleted AND m.scope IS NOT NULL AND NOT u.deleted AND "
          "m.scope IS DISTINCT FROM u.scope "
          "ON CONFLICT (scope, tbl, id) DO UPDATE SET version = EXCLUDED.version, created_at = "
          "now() RETURNING tbl, scope), "
          // The scopes deleted rows were in (for live nudges), read before this statement.
          "gone AS (SELECT m.tbl, m.scope FROM u JOIN {0}.meta m ON m.tbl = u.tbl AND m.id = "
          "u.id WHERE u.deleted AND NOT m.deleted AND m.scope IS NOT NULL), "
          "ins AS (INSERT INTO {0}.meta AS m (tbl, id, version, created_version, deleted, "
          "origin_client, "
          "changed_by, scope, scope_since, deleted_at) "
          "SELECT tbl, id, version, CASE WHEN is_create THEN created_version WHEN deleted THEN 0 "
          "ELSE version END, deleted, CASE WHEN is_create THEN origin END, origin, scope, "
          "version, CASE WHEN deleted THEN now() END FROM u "
          "ON CONFLICT (tbl, id) DO UPDATE SET version = EXCLUDED.version, "
          "created_version = CASE WHEN m.deleted AND NOT EXCLUDED.deleted THEN "
          "EXCLUDED.created_version ELSE m.created_version END, "
          "origin_client = CASE WHEN m.deleted AND NOT EXCLUDED.deleted THEN "
          "EXCLUDED.origin_client ELSE m.origin_client END, "
          "changed_by = EXCLUDED.changed_by, deleted = EXCLUDED.deleted, "
          "deleted_at = EXCLUDED.deleted_at, "
          "scope = CASE WHEN EXCLUDED.deleted THEN m.scope ELSE EXCLUDED.scope END, "
          "scope_since = CASE WHEN NOT EXCLUDED.deleted AND m.scope IS DISTINCT FROM "
          "EXCLUDED.scope THEN EXCLUDED.version ELSE m.scope_since END) "
          // The scopes rows left: their subscribers are nudged too.
          "SELECT tbl, scope FROM st UNION SELECT tbl, scope FROM gone",
          s);
      EDDY_ASSIGN_OR_RETURN(
          pg::QueryResult left,
          c.ExecParams(
              sql, {TextArrayLiteral(tbl), TextArrayLiteral(id), TextArrayLiteral(version),
                    TextArrayLiteral(created), TextArrayLiteral(is_create),
                    TextArrayLiteral(deleted), TextArrayLiteral(origin), TextArrayLiteral(scope)}));
      for (int i = 0; i < left.rows(); ++i) {
        left_scopes.push_back({std::string(left.Get(i, 0)), std::string(left.Get(i, 1))});
      }
    }
    if (at_commit && through > flushed_commit_) {
      EDDY_RETURN_IF_ERROR(c.ExecParams(fmt::format("UPDATE {}.state SET processed_lsn = "
                                                    "GREATEST(processed_lsn, $1)",
                                                    s),
                                        {std::to_string(through)})
                               .status());
    }
    return c.Exec("COMMIT").status();
  };
  Status status = body();
  if (!status.ok()) {
    (void)c.Exec("ROLLBACK");
    return status;
  }
  rows_applied_.fetch_add(pending_.size());
  for (const Pending& p : pending_) {
    if (!p.deleted) {
      touched_.insert({p.tbl, p.scope});  // the scope it is in now (nullopt: unscoped table)
    } else if (auto t = by_qualified_.find(p.tbl);
               t != by_qualified_.end() && t->second->scope_column.empty()) {
      touched_.insert({p.tbl, std::nullopt});  // deleted from an unscoped table
    }
  }
  for (TouchedTable& left : left_scopes) touched_.insert(std::move(left));
  pending_.clear();
  pending_index_.clear();
  if (at_commit) {
    flushed_commit_ = through;
    {
      std::lock_guard lock(mu_);
      if (through > applied_lsn_.load()) applied_lsn_.store(through);
      last_error_.clear();
    }
    applied_cv_.notify_all();
    if (!touched_.empty()) {
      last_change_lsn_.store(through);
      if (options_.on_applied) options_.on_applied(through, touched_);
      touched_.clear();
    }
  }
  return Status::Ok();
}

Status MetaFollower::ApplyTruncate(const SyncTable& t, uint64_t version) {
  touched_.insert({t.qualified, std::nullopt});
  return conn_
      ->ExecParams(fmt::format("UPDATE {}.meta SET deleted = true, version = $2, deleted_at = "
                               "now() WHERE tbl = $1 AND NOT deleted",
                               Q(options_.schema)),
                   {t.qualified, std::to_string(version)})
      .status();
}

Status MetaFollower::CollectGarbage() {
  // Tombstones older than the retention go; a client that pulled before the newest of them gets
  // a replacement sync (the horizon).
  const std::string s = Q(options_.schema);
  const std::string hours = std::to_string(options_.tombstone_retention_hours);
  return conn_
      ->Exec(fmt::format(
          "WITH gone AS (DELETE FROM {0}.meta WHERE deleted AND deleted_at < now() - interval "
          "'{1} hours' RETURNING version), "
          "gone_scopes AS (DELETE FROM {0}.scope_tombstones WHERE created_at < now() - interval "
          "'{1} hours' RETURNING version), "
          "origins AS (DELETE FROM {0}.push_origin WHERE created_at < now() - interval '1 hour') "
          "UPDATE {0}.state SET horizon = GREATEST(horizon, (SELECT max(version) FROM (SELECT "
          "version FROM gone UNION ALL SELECT version FROM gone_scopes) v)) "
          "WHERE EXISTS (SELECT 1 FROM gone) OR EXISTS (SELECT 1 FROM gone_scopes)",
          s, hours))
      .status();
}

}  // namespace eddy::watermelon
