#include "adapters/watermelon/push.h"

#include <algorithm>
#include <regex>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/json_string.h"

namespace eddy::watermelon {
namespace {

std::string Q(const std::string& ident) { return pg::Connection::QuoteIdent(ident); }

struct Prepared {
  std::string id;
  std::vector<std::pair<const SyncColumn*, std::optional<std::string>>> values;
};

struct TableWork {
  const SyncTable* table = nullptr;
  std::string client_table;
  std::vector<Prepared> upserts;  // created then updated
  std::set<std::string> updated_ids;
  std::vector<std::string> deletes;
  std::map<std::string, std::string> rejected;  // id -> reason
};

// Bind parameters per batched INSERT (PostgreSQL allows 65535 per statement).
constexpr size_t kMaxBatchParameters = 30000;

bool IsTextType(std::string_view t) {
  return t == "text" || t.starts_with("character varying") || t.starts_with("character(") ||
         t == "character" || t == "citext" || t == "name";
}

// PostgreSQL error classes that belong to one record: data exceptions (22) and integrity
// violations (23). Anything else fails the whole push.
bool IsRecordError(const Status& s) {
  const std::string state = pg::SqlState(s);
  return state.starts_with("22") || state.starts_with("23") || state == "42804" || state == "42846";
}

class PushRun {
 public:
  PushRun(pg::Connection& c, const std::string& schema, const PushRequest& req,
          const Barrier& barrier, PushStats* stats)
      : c_(c), s_(Q(schema)), req_(req), barrier_(barrier), stats_(stats) {}

  SyncAnswer Run(const std::vector<std::shared_ptr<const SyncTable>>& tables) {
    if (!req_.last_pulled_at) {
      return SyncAnswer::Error(400, "bad_request",
                               "last_pulled_at: required (the timestamp of the pull in the same "
                               "synchronize() call)",
                               "last_pulled_at");
    }
    Prepare(tables);
    Status begin = c_.Exec("BEGIN ISOLATION LEVEL READ COMMITTED").status();
    if (!begin.ok()) return Unavailable(begin);
    SyncAnswer answer = Body();
    if (answer.status == 200) {
      Status commit = c_.Exec("COMMIT").status();
      if (!commit.ok()) return Unavailable(commit);
    } else {
      (void)c_.Exec("ROLLBACK");
    }
    return answer;
  }

 private:
  static SyncAnswer Unavailable(const Status& s) {
    spdlog::warn("watermelon push: {}", s.ToString());
    if (s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kAborted) {
      return SyncAnswer::Error(503, "unavailable", "retry: " + s.message());
    }
    return SyncAnswer::Error(500, "internal", s.message());
  }

  std::optional<std::string> ScopeOf(const SyncTable& t) const {
    if (t.scope_column.empty()) return std::nullopt;
    auto it = req_.scopes.find(t.client_table);
    if (it == req_.scopes.end()) return std::nullopt;
    return it->second;
  }

  void Prepare(const std::vector<std::shared_ptr<const SyncTable>>& tables) {
    for (const auto& [client_table, changes] : req_.body.changes) {
      TableWork work;
      work.client_table = client_table;
      for (const auto& t : tables) {
        if (t->client_table == client_table) work.table = t.get();
      }
      auto reject = [&](const std::string& id, std::string reason) {
        work.rejected.emplace(id, std::move(reason));
      };
      if (work.table == nullptr) {
        // A table the server does not sync: its records stay pending on the client.
        for (const PushRecord& r : changes.created) reject(r.id, "table is not synced");
        for (const PushRecord& r : changes.updated) reject(r.id, "table is not synced");
        for (const std::string& id : changes.deleted) reject(id, "table is not synced");
        if (!work.rejected.empty()) works_.push_back(std::move(work));
        continue;
      }
      const SyncTable& t = *work.table;
      auto prepare = [&](const PushRecord& r, bool updated) {
        if (!IsSafeId(r.id) || !IdFitsType(r.id, t.id_sql_type)) {
          reject(r.id,
                 fmt::format("id: not a valid id for column {} ({})", t.id_column, t.id_sql_type));
          return;
        }
        Prepared p;
        p.id = r.id;
        for (const auto& [key, value] : r.fields) {
          int index = t.ClientColumnIndex(key);
          if (index < 0) continue;  // unknown keys are dropped (sanitize, not reject)
          const SyncColumn& column = t.columns[static_cast<size_t>(index)];
          if (column.server_owned) continue;
          if (column.name == t.scope_column && ScopeOf(t)) continue;  // set from the token
          auto param = PushParameter(column.kind, value);
          if (!param.ok()) {
            reject(r.id, fmt::format("{}: {}", key, param.status().message()));
            return;
          }
          p.values.emplace_back(&column, std::move(param).value());
        }
        if (updated) work.updated_ids.insert(p.id);
        work.upserts.push_back(std::move(p));
      };
      for (const PushRecord& r : changes.created) prepare(r, false);
      for (const PushRecord& r : changes.updated) prepare(r, true);
      for (const std::string& id : changes.deleted) {
        if (IsSafeId(id) && IdFitsType(id, t.id_sql_type)) work.deletes.push_back(id);
        // An id that cannot exist here is a delete of nothing: ignored (spec 2.2.6).
      }
      works_.push_back(std::move(work));
    }
  }

  SyncAnswer Body() {
    if (!req_.client_id.empty()) {
      // First change of the transaction: tells the follower who pushed it.
      auto origin = c_.ExecParams(fmt::format("INSERT INTO {}.push_origin (xid, client_id) VALUES "
                                              "(pg_current_xact_id()::text::bigint, $1)",
                                              s_),
                                  {req_.client_id});
      if (!origin.ok()) return Unavailable(origin.status());
    }
    // Lock every pushed id that exists, and learn its scope.
    std::map<const TableWork*, std::map<std::string, std::optional<std::string>>> existing;
    for (TableWork& w : works_) {
      if (w.table == nullptr) continue;
      const SyncTable& t = *w.table;
      std::vector<std::string> ids;
      for (const Prepared& p : w.upserts) ids.push_back(p.id);
      for (const std::string& id : w.deletes) ids.push_back(id);
      if (ids.empty()) continue;
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      auto locked = c_.ExecParams(
          fmt::format("SELECT t.{0}::text, {1} FROM {2} t WHERE t.{0} = ANY($1::{3}[]) ORDER BY "
                      "t.{0} FOR UPDATE",
                      Q(t.id_column),
                      t.scope_column.empty() ? "NULL::text" : "t." + Q(t.scope_column) + "::text",
                      t.quoted, t.id_sql_type),
          {TextArrayLiteral(ids)});
      if (!locked.ok()) return Unavailable(locked.status());
      auto& rows = existing[&w];
      for (int i = 0; i < locked->rows(); ++i) {
        rows[std::string(locked->Get(i, 0))] =
            locked->IsNull(i, 1) ? std::nullopt
                                 : std::optional<std::string>(std::string(locked->Get(i, 1)));
      }
    }
    // Everything committed before the locks were taken must be in the metadata before it is
    // compared (a concurrent write is never missed).
    Status waited = barrier_();
    if (!waited.ok()) {
      return SyncAnswer::Error(503, "unavailable",
                               "the change stream is behind (" + waited.message() + "); retry");
    }
    const int64_t last = *req_.last_pulled_at;
    for (TableWork& w : works_) {
      if (w.table == nullptr) continue;
      const SyncTable& t = *w.table;
      const std::optional<std::string> scope = ScopeOf(t);
      auto& rows = existing[&w];
      // Rows of another scope are not this caller's to write.
      if (scope) {
        auto outside = [&](const std::string& id) {
          auto it = rows.find(id);
          return it != rows.end() && it->second != scope;
        };
        for (const Prepared& p : w.upserts) {
          if (outside(p.id)) w.rejected.emplace(p.id, "not in your scope");
        }
        for (const std::string& id : w.deletes) {
          if (outside(id)) w.rejected.emplace(id, "not in your scope");
        }
      }
      std::vector<std::string> ids;
      for (const Prepared& p : w.upserts) ids.push_back(p.id);
      for (const std::string& id : w.deletes) ids.push_back(id);
      if (ids.empty()) continue;
      auto meta = c_.ExecParams(
          fmt::format("SELECT id, version, deleted, changed_by FROM {}.meta WHERE tbl = $1 AND "
                      "id = ANY($2::text[])",
                      s_),
          {t.qualified, TextArrayLiteral(ids)});
      if (!meta.ok()) return Unavailable(meta.status());
      std::set<std::string> deleted_set(w.deletes.begin(), w.deletes.end());
      for (int i = 0; i < meta->rows(); ++i) {
        const std::string id(meta->Get(i, 0));
        if (w.rejected.count(id)) continue;
        const int64_t version = std::stoll(std::string(meta->Get(i, 1)));
        const bool tombstoned = meta->Get(i, 2) == "t";
        const bool mine =
            !req_.client_id.empty() && !meta->IsNull(i, 3) && meta->Get(i, 3) == req_.client_id;
        if (version <= last || mine) continue;  // nothing this client has not seen, or its own
        if (tombstoned) {
          if (w.updated_ids.count(id)) {
            stats_->conflict = true;
            return SyncAnswer::Conflict(w.client_table, id,
                                        "the record was deleted since your last pull: pull, then "
                                        "push again");
          }
          continue;  // created again (un-delete) or deleted again
        }
        stats_->conflict = true;
        return SyncAnswer::Conflict(w.client_table, id,
                                    deleted_set.count(id)
                                        ? "the record changed since your last pull: pull, then "
                                          "push again"
                                        : "the record changed since your last pull: pull (your "
                                          "changed columns are kept), then push again");
      }
    }
    for (TableWork& w : works_) {
      if (w.table == nullptr) continue;
      Status s = Apply(w);
      if (!s.ok()) return Unavailable(s);
    }
    SyncAnswer answer;
    bool any = false;
    std::string ids = "{";
    std::string reasons = "{";
    for (const TableWork& w : works_) {
      if (w.rejected.empty()) continue;
      if (any) {
        ids += ",";
        reasons += ",";
      }
      any = true;
      AppendJsonString(w.client_table, &ids);
      AppendJsonString(w.client_table, &reasons);
      ids += ":[";
      reasons += ":{";
      bool first = true;
      for (const auto& [id, reason] : w.rejected) {
        if (!first) {
          ids += ",";
          reasons += ",";
        }
        first = false;
        AppendJsonString(id, &ids);
        AppendJsonString(id, &reasons);
        reasons += ":";
        AppendJsonString(reason, &reasons);
      }
      ids += "]";
      reasons += "}";
      stats_->rejected += w.rejected.size();
    }
    answer.body =
        any ? "{\"experimentalRejectedIds\":" + ids + "},\"rejectedReasons\":" + reasons + "}}"
            : "{}";
    return answer;
  }

  // Runs `sql` inside a savepoint; a record-level error rolls back to it and is returned as
  // kInvalidArgument (the caller rejects the record), anything else fails the push.
  Status InSavepoint(const std::string& sql,
                     const std::vector<std::optional<std::string>>& params) {
    EDDY_RETURN_IF_ERROR(c_.Exec("SAVEPOINT record").status());
    auto r = c_.ExecParams(sql, params);
    if (r.ok()) return c_.Exec("RELEASE SAVEPOINT record").status();
    EDDY_RETURN_IF_ERROR(c_.Exec("ROLLBACK TO SAVEPOINT record").status());
    if (IsRecordError(r.status())) return InvalidArgument(r.status().message());
    return r.status();
  }

  // INSERT ... ON CONFLICT for `batch`, whose records set the same columns in the same order.
  std::string UpsertSql(const SyncTable& t, const std::vector<const Prepared*>& batch,
                        const std::optional<std::string>& scope,
                        std::vector<std::optional<std::string>>* params) const {
    std::string columns = Q(t.id_column);
    std::string updates;
    for (const auto& entry : batch.front()->values) {
      const SyncColumn* column = entry.first;
      columns += ", " + Q(column->name);
      if (!updates.empty()) updates += ", ";
      updates += fmt::format("{0} = EXCLUDED.{0}", Q(column->name));
    }
    if (scope) columns += ", " + Q(t.scope_column);  // a new row belongs to the caller's scope
    std::string rows;
    for (const Prepared* p : batch) {
      if (!rows.empty()) rows += ", ";
      params->push_back(p->id);
      rows += fmt::format("(${}::{}", params->size(), t.id_sql_type);
      for (const auto& [column, value] : p->values) {
        params->push_back(value);
        rows += ", " + ParameterExpression(column->kind, column->sql_type,
                                           static_cast<int>(params->size()));
      }
      if (scope) {
        params->push_back(*scope);
        rows += fmt::format(", ${}::text::{}", params->size(), t.scope_sql_type);
      }
      rows += ")";
    }
    std::string sql = fmt::format("INSERT INTO {} ({}) VALUES {} ON CONFLICT ({}) DO ", t.quoted,
                                  columns, rows, Q(t.id_column));
    sql += updates.empty() ? "NOTHING" : "UPDATE SET " + updates;
    return sql;
  }

  // Writes `batch` in one statement (one savepoint, not three round trips per record); when
  // PostgreSQL refuses it, each record is written alone so that only the bad ones are rejected.
  Status WriteBatch(TableWork& w, const std::vector<const Prepared*>& batch) {
    if (batch.empty()) return Status::Ok();
    const std::optional<std::string> scope = ScopeOf(*w.table);
    if (batch.size() > 1) {
      std::vector<std::optional<std::string>> params;
      const std::string sql = UpsertSql(*w.table, batch, scope, &params);
      Status s = InSavepoint(sql, params);
      if (s.ok()) {
        stats_->applied += batch.size();
        return Status::Ok();
      }
      if (s.code() != StatusCode::kInvalidArgument) return s;
    }
    for (const Prepared* p : batch) {
      std::vector<std::optional<std::string>> params;
      const std::string sql = UpsertSql(*w.table, {p}, scope, &params);
      Status s = InSavepoint(sql, params);
      if (s.code() == StatusCode::kInvalidArgument) {
        w.rejected.emplace(p->id, s.message());
      } else if (!s.ok()) {
        return s;
      } else {
        stats_->applied++;
      }
    }
    return Status::Ok();
  }

  Status Apply(TableWork& w) {
    const SyncTable& t = *w.table;
    // Consecutive records that set the same columns share a statement; an id already in the
    // batch starts a new one (ON CONFLICT cannot touch a row twice), so later records still win.
    auto same_columns = [](const Prepared& a, const Prepared& b) {
      if (a.values.size() != b.values.size()) return false;
      for (size_t i = 0; i < a.values.size(); ++i) {
        if (a.values[i].first != b.values[i].first) return false;
      }
      return true;
    };
    std::vector<const Prepared*> batch;
    std::set<std::string> batch_ids;
    for (const Prepared& p : w.upserts) {
      if (w.rejected.count(p.id)) continue;
      const size_t max_records = kMaxBatchParameters / (p.values.size() + 2);
      if (!batch.empty() && (!same_columns(*batch.front(), p) || batch.size() >= max_records ||
                             batch_ids.count(p.id))) {
        EDDY_RETURN_IF_ERROR(WriteBatch(w, batch));
        batch.clear();
        batch_ids.clear();
      }
      batch.push_back(&p);
      batch_ids.insert(p.id);
    }
    EDDY_RETURN_IF_ERROR(WriteBatch(w, batch));
    std::vector<std::string> deletes;
    for (const std::string& id : w.deletes) {
      if (!w.rejected.count(id)) deletes.push_back(id);
    }
    if (deletes.empty()) return Status::Ok();
    const std::string sql = fmt::format("DELETE FROM {} WHERE {} = ANY($1::{}[])", t.quoted,
                                        Q(t.id_column), t.id_sql_type);
    Status all = InSavepoint(sql, {TextArrayLiteral(deletes)});
    if (all.ok()) {
      stats_->applied += deletes.size();
      return Status::Ok();
    }
    if (all.code() != StatusCode::kInvalidArgument) return all;
    // Some delete is refused (a foreign key, a trigger): find which, one by one.
    for (const std::string& id : deletes) {
      Status one = InSavepoint(sql, {TextArrayLiteral(std::vector<std::string>{id})});
      if (one.code() == StatusCode::kInvalidArgument) {
        w.rejected.emplace(id, one.message());
      } else if (!one.ok()) {
        return one;
      } else {
        stats_->applied++;
      }
    }
    return Status::Ok();
  }

  pg::Connection& c_;
  const std::string s_;
  const PushRequest& req_;
  const Barrier& barrier_;
  PushStats* stats_;
  std::vector<TableWork> works_;
};

}  // namespace

bool IdFitsType(std::string_view id, std::string_view sql_type) {
  if (IsTextType(sql_type)) return true;
  if (sql_type == "integer" || sql_type == "bigint" || sql_type == "smallint") {
    std::string_view digits = id;
    if (!digits.empty() && digits[0] == '-') digits.remove_prefix(1);
    if (digits.empty() || digits.size() > 18) return false;
    return std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  }
  if (sql_type == "uuid") {
    static const std::regex re(
        "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$");
    return std::regex_match(std::string(id), re);
  }
  return true;  // other types: PostgreSQL decides, per record
}

SyncAnswer RunPush(pg::Connection& connection, const std::string& meta_schema,
                   const std::vector<std::shared_ptr<const SyncTable>>& tables,
                   const PushRequest& request, const Barrier& barrier, PushStats* stats) {
  PushRun run(connection, meta_schema, request, barrier, stats);
  return run.Run(tables);
}

}  // namespace eddy::watermelon
